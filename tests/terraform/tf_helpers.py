"""Offline checks of slipway's Terraform, built on python-hcl2 (no terraform binary, no providers).

Each ``*_problems`` function returns a list of human-readable problems (empty means clean), so
that tests can assert both that the real code is clean and that a bad fixture is caught.

What is left here is only what neither tflint (terraform/.tflint.hcl, run by the GitHub
workflow) nor checkov checks. tflint already holds the code to typed and described
variables, described outputs, the standard module layout, naming, required_version and
required_providers being set, pinned module sources and unused declarations, and `terraform
validate` (same workflow) resolves references and module inputs; so none of that is
re-implemented here. What remains, and why it is no tflint rule:

- version bounds: tflint asks that required_version and provider constraints exist, not that
  they carry an upper bound (roots: every provider's major version bounded);
- per-environment files: tflint lints .tf files, not the envs/<env>.tfvars and
  envs/<env>.tfbackend files the one root is planned with (declared and required variables
  set, one state key per environment, no bucket or weakened backend settings in git);
- secrets: no password in a root output (state stores outputs in plain text) and module
  outputs carrying one sensitive; no credentials or account IDs in code, values or the
  workflow (checkov's terraform checks do not look for account IDs);
- checkov suppressions: each inside its resource, with a real reason (checkov takes any
  text), and the helpers that read checkov's JSON report;
- README tables in step with the code (tests/terraform/tfdocs.py, which uses the parser here);
- the GitHub workflow: actions pinned by SHA, the validate matrix on the minimum Terraform,
  plans on pull requests only with OIDC, and one init/plan per environment file.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
ROOT_DIR = TERRAFORM_DIR / "platform"
ENVS_DIR = TERRAFORM_DIR / "envs"
POLICIES_DIR = TERRAFORM_DIR / "policies"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "terraform.yml"

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
# Attributes whose values are prose, not expressions.
PROSE_KEYS = {"description", "error_message"}

_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, preserve_heredocs=False)


class HclError(ValueError):
    """A Terraform file that python-hcl2 cannot parse."""


def parse_file(path: Path) -> dict[str, Any]:
    """Parse one .tf or .tfvars file; raise HclError naming the file when it does not parse."""
    text = path.read_text(encoding="utf-8")
    try:
        return copy.deepcopy(_parse_text(text))
    except Exception as error:  # python-hcl2 raises lark errors of many kinds
        raise HclError(f"{path}: {error}") from error


@functools.lru_cache(maxsize=512)
def _parse_text(text: str) -> dict[str, Any]:
    """Parsing is the slow part of every check: each distinct file content is parsed once."""
    return hcl2.loads(text, serialization_options=_OPTIONS)


def tf_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.tf"))


def all_tf_files(root: Path = TERRAFORM_DIR) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def module_dirs() -> list[Path]:
    """The platform's modules, terraform/modules/<name>."""
    return sorted(p for p in MODULES_DIR.iterdir() if p.is_dir())


def submodule_dirs() -> list[Path]:
    """Modules inside a module, terraform/modules/<name>/modules/<name>."""
    return sorted(p for p in MODULES_DIR.glob("*/modules/*") if p.is_dir())


def config_dirs() -> list[Path]:
    """Every Terraform configuration: modules, submodules and the root."""
    return [*module_dirs(), *submodule_dirs(), ROOT_DIR]


def env_names() -> list[str]:
    """The environments: one envs/<env>.tfvars each."""
    return sorted(p.stem for p in ENVS_DIR.glob("*.tfvars"))


################################################################################
# Values as python-hcl2 gives them
################################################################################


def unquote(value: Any) -> str:
    """The text of an HCL string literal ('"abc"' -> 'abc'); other values as str()."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return "" if value is None else str(value)


def expression(value: Any) -> str:
    """An expression without its ${...} wrapper ('${var.x}' -> 'var.x')."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text


def render(value: Any) -> str:
    """A compact HCL rendering of a parsed value, for documentation."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return expression(value)
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {render(v)}" for k, v in value.items()) + " }"
    return str(value)


def strings(value: Any, skip_keys: frozenset[str] = frozenset(PROSE_KEYS)) -> Iterator[str]:
    """Every string inside a parsed value (keys included), prose attributes left out."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, skip_keys)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in skip_keys:
                continue
            yield key
            yield from strings(item, skip_keys)


################################################################################
# A configuration: every .tf file of one directory
################################################################################


@dataclass
class Config:
    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    # (from, to) of every moved block, as written.
    moves: list[tuple[str, str]] = field(default_factory=list)

    @property
    def required_version(self) -> str | None:
        for block in self.terraform:
            if "required_version" in block:
                return unquote(block["required_version"])
        return None

    @property
    def required_providers(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for block in self.terraform:
            for providers in block.get("required_providers", []):
                for name, spec in providers.items():
                    if isinstance(spec, dict):
                        out[name] = {k: unquote(v) for k, v in spec.items()}
                    else:
                        out[name] = {"version": unquote(spec)}
        return out

    @property
    def backends(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for block in self.terraform:
            for backend in block.get("backend", []):
                for kind, body in backend.items():
                    out[unquote(kind)] = body
        return out


def _labelled(blocks: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for block in blocks:
        for label, body in block.items():
            yield unquote(label), body


def load_config(directory: Path) -> Config:
    """Parse every .tf file of a directory into one Config."""
    config = Config(path=directory)
    for path in tf_files(directory):
        parsed = parse_file(path)
        for kind, blocks in parsed.items():
            if kind == "variable":
                config.variables.update(_labelled(blocks))
            elif kind == "output":
                config.outputs.update(_labelled(blocks))
            elif kind == "locals":
                for block in blocks:
                    config.locals.update(block)
            elif kind == "module":
                config.modules.update(_labelled(blocks))
            elif kind in {"resource", "data"}:
                target = config.resources if kind == "resource" else config.data
                for rtype, named in _labelled(blocks):
                    for name, body in named.items():
                        target[(rtype, unquote(name))] = body
            elif kind == "provider":
                for name, body in _labelled(blocks):
                    config.providers.setdefault(name, []).append(body)
            elif kind == "terraform":
                config.terraform.extend(blocks)
            elif kind == "moved":
                config.moves.extend((expression(b["from"]), expression(b["to"])) for b in blocks)
    return config


################################################################################
# Checks
################################################################################


BOUNDED = re.compile(r"(~>|<|^=?\s*\d+\.\d+\.\d+$)")


def version_bound_problems(config: Config, *, root: bool) -> list[str]:
    """required_version has an upper bound; a root bounds every provider's major version
    (~> or <). That the constraints exist at all is tflint's terraform_required_version and
    terraform_required_providers."""
    where = config.path.name
    problems = []
    required_version = config.required_version or ""
    if "<" not in required_version and "~>" not in required_version:
        problems.append(f"{where}: required_version {required_version!r} has no upper bound")
    if root:
        for name, spec in config.required_providers.items():
            version = spec.get("version", "")
            if not BOUNDED.search(version):
                problems.append(
                    f"{where}: provider {name} version {version!r} is not pinned (~> or <)"
                )
    return problems


def sensitive_output_problems(config: Config, *, root: bool) -> list[str]:
    """Outputs that carry a password are sensitive; root modules output no password at all
    (root outputs are stored in state in plain text and shown by `terraform output`)."""
    problems = []
    for name, body in config.outputs.items():
        text = " ".join(strings(body.get("value")))
        secret = "random_password" in text or "password" in text.lower() or "password" in name
        if not secret:
            continue
        if root:
            problems.append(f"{config.path.name}: root output {name} exposes a password")
        elif body.get("sensitive") is not True:
            problems.append(
                f"{config.path.name}: output {name} carries a password but is not sensitive"
            )
    return problems


def tfvars_problems(root: Config, tfvars: Path) -> list[str]:
    """An environment's tfvars sets only variables the root declares, and every variable
    without a default."""
    if not tfvars.is_file():
        return [f"{tfvars.name}: missing"]
    values = parse_file(tfvars)
    problems = [
        f"{tfvars.name}: sets undeclared variable {k}" for k in values if k not in root.variables
    ]
    problems += [
        f"{tfvars.name}: variable {name} has no default and is not set"
        for name, body in root.variables.items()
        if "default" not in body and name not in values
    ]
    return problems


# Backend settings an environment's file must not carry: the bucket is account-specific (it
# comes from the command line); encryption and locking are set once, in the root's backend.tf;
# credentials never live in git; a workspace prefix would bring workspaces back.
TFBACKEND_FORBIDDEN = {
    "bucket": "the state bucket is account-specific: pass it with -backend-config",
    "encrypt": "encryption is set in the root's backend.tf, for every environment",
    "use_lockfile": "locking is set in the root's backend.tf, for every environment",
    "access_key": "credentials never live in git",
    "secret_key": "credentials never live in git",
    "token": "credentials never live in git",
    "profile": "credentials never live in git",
    "workspace_key_prefix": "one state per environment by key, no workspaces",
}


def tfbackend_problems(path: Path) -> list[str]:
    """An environment's backend file names its own state key and nothing that is shared,
    account-specific or secret."""
    if not path.is_file():
        return [f"{path.name}: missing"]
    values = parse_file(path)
    problems = []
    key = unquote(values.get("key"))
    if not key:
        problems.append(f"{path.name}: no state key")
    elif f"/{path.stem}/" not in f"/{key}":
        problems.append(f"{path.name}: state key {key!r} does not name the environment")
    problems += [
        f"{path.name}: sets {name} ({why})"
        for name, why in TFBACKEND_FORBIDDEN.items()
        if name in values
    ]
    return problems


################################################################################
# Checkov suppressions and credentials in source
################################################################################

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<id>[^:\s]+)(?::(?P<reason>.*))?$")
SKIP_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
PLACEHOLDER_REASONS = {
    "todo",
    "tbd",
    "fixme",
    "n/a",
    "na",
    "none",
    "skip",
    "ignore",
    "no comment provided",
}


@dataclass(frozen=True)
class Suppression:
    path: Path
    line: int
    check_id: str
    reason: str
    block: str  # the resource/data block the comment sits in ("" when outside a block)


def suppressions(paths: Iterable[Path]) -> list[Suppression]:
    """Every `#checkov:skip=` comment, with the block it sits in."""
    found = []
    block_start = re.compile(r'^(resource|data)\s+"([^"]+)"\s+"([^"]+)"\s*\{')
    for path in paths:
        block = ""
        depth = 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            stripped = line.strip()
            if depth == 0:
                match = block_start.match(stripped)
                block = f"{match.group(1)}.{match.group(2)}.{match.group(3)}" if match else ""
            skip = SKIP_COMMENT.search(stripped)
            if skip:
                found.append(
                    Suppression(
                        path,
                        number,
                        skip.group("id"),
                        (skip.group("reason") or "").strip(),
                        block if depth else "",
                    )
                )
            if not stripped.startswith("#"):
                depth += stripped.count("{") - stripped.count("}")
                if depth <= 0:
                    depth = 0
    return found


def reason_problem(check_id: str, reason: str) -> str | None:
    """Why a suppression's id or reason is not acceptable, or None."""
    if not SKIP_ID.match(check_id):
        return f"{check_id}: not a checkov check id"
    words = re.findall(r"[A-Za-z]{2,}", reason)
    if reason.strip().lower().rstrip(".") in PLACEHOLDER_REASONS or len(words) < 6:
        return f"{check_id}: reason {reason!r} does not explain the skip (six words or more)"
    return None


def suppression_problems(found: Iterable[Suppression]) -> list[str]:
    """Each suppression names a check id, sits inside the resource it suppresses, and carries
    a real reason."""
    problems = []
    for s in found:
        where = f"{s.path.name}:{s.line}"
        if not s.block:
            problems.append(f"{where}: {s.check_id} is not inside a resource or data block")
        problem = reason_problem(s.check_id, s.reason)
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "AWS secret access key": re.compile(r"(?i)(aws_secret_access_key|secret_access_key)\s*[=:]"),
    "provider access_key/secret_key": re.compile(r"(?m)^\s*(access_key|secret_key|token)\s*=\s*\""),
    "literal password": re.compile(r"(?im)^\s*[a-z_]*password[a-z_]*\s*=\s*\"(?!\$\{)[^\"]+\""),
    "private key": re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----"),
    "AWS account id": re.compile(
        r"(?<![\d.])(?!111122223333|123456789012|444455556666)\d{12}(?![\d.])"
    ),
    "stored AWS key in a workflow": re.compile(r"aws-(access-key-id|secret-access-key)\s*:"),
}


def credential_problems(paths: Iterable[Path]) -> list[str]:
    """No credentials and no account IDs in code, values or tfvars (AWS's documentation
    placeholders 111122223333, 123456789012 and 444455556666 excepted: mock tests need them).
    `terraform test` files may set a literal password: they feed mock providers at plan time."""
    problems = []
    for path in paths:
        mock_inputs = path.name.endswith(".tftest.hcl")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for what, pattern in CREDENTIAL_PATTERNS.items():
                if mock_inputs and what == "literal password":
                    continue
                if pattern.search(line):
                    problems.append(f"{path.name}:{number}: {what}")
    return problems


################################################################################
# checkov reports (JSON output of one run)
################################################################################


def report_results(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """passed_checks, failed_checks or skipped_checks of a checkov terraform report."""
    return list(report.get("results", {}).get(kind, []))


def unsuppressed_failures(report: dict[str, Any]) -> list[str]:
    """Every failed check: the gate is zero."""
    return sorted(
        f"{r['check_id']} {r['resource']} ({r['file_path']}): {r['check_name']}"
        for r in report_results(report, "failed_checks")
    )


def skip_reason_problems(report: dict[str, Any]) -> list[str]:
    """Skipped checks whose suppression comment gives no real reason."""
    problems = []
    for r in report_results(report, "skipped_checks"):
        reason = str(r.get("check_result", {}).get("suppress_comment") or "")
        problem = reason_problem(r["check_id"], reason)
        if problem:
            problems.append(f"{r['resource']}: {problem}")
    return sorted(problems)


def outcomes(report: dict[str, Any], check_id: str) -> dict[str, str]:
    """resource address -> PASSED / FAILED / SKIPPED, for one check."""
    out = {}
    for kind, outcome in (
        ("passed_checks", "PASSED"),
        ("failed_checks", "FAILED"),
        ("skipped_checks", "SKIPPED"),
    ):
        for r in report_results(report, kind):
            if r["check_id"] == check_id:
                out[r["resource"]] = outcome
    return out


CUSTOM_ID_PY = re.compile(r'"(CKV2?_SLIPWAY_\d+)"')
CUSTOM_ID_YAML = re.compile(r"^\s*id:\s*(CKV2?_SLIPWAY_\d+)\s*$", re.MULTILINE)


def custom_policy_ids(directory: Path = POLICIES_DIR) -> set[str]:
    """The ids of the custom checkov policies in the repository."""
    ids: set[str] = set()
    for path in directory.glob("*.py"):
        ids.update(CUSTOM_ID_PY.findall(path.read_text(encoding="utf-8")))
    for path in directory.glob("*.yaml"):
        ids.update(CUSTOM_ID_YAML.findall(path.read_text(encoding="utf-8")))
    return ids


################################################################################
# The GitHub workflow
################################################################################

PINNED_USES = re.compile(
    r"^\s*(-\s*)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<rest>.*)$"
)
SHA = re.compile(r"^[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*")


def workflow_problems(path: Path, min_terraform: str) -> list[str]:
    """Actions pinned by commit SHA (with the version tag as a comment); fmt -check,
    init -backend=false and validate on the minimum and a newer Terraform, tflint, and a plan
    that runs on pull requests only, with OIDC (id-token: write) and no stored keys."""
    from ruamel.yaml import YAML

    text = path.read_text(encoding="utf-8")
    problems = []
    uses_lines = [line for line in text.splitlines() if re.match(r"^\s*(-\s*)?uses:", line)]
    if not uses_lines:
        problems.append("no actions used")
    for line in uses_lines:
        match = PINNED_USES.match(line)
        if not match or not SHA.match(match.group("ref")):
            problems.append(f"action not pinned by commit SHA: {line.strip()}")
        elif not VERSION_COMMENT.search(match.group("rest")):
            problems.append(f"pinned action without its version tag in a comment: {line.strip()}")
    workflow = YAML(typ="safe").load(text)
    jobs = workflow.get("jobs", {}) if isinstance(workflow, dict) else {}
    runs = {
        name: " ".join(str(s.get("run", "")) for s in job.get("steps", []))
        for name, job in jobs.items()
    }
    everything = " ".join(runs.values())
    for needle, what in (
        ("fmt -check", "terraform fmt -check"),
        ("-backend=false", "terraform init -backend=false"),
        (" validate", "terraform validate"),
        ("tflint", "tflint"),
        (" plan ", "terraform plan"),
    ):
        if needle not in everything:
            problems.append(f"no {what} step")
    versions = {
        str(v)
        for job in jobs.values()
        for v in (job.get("strategy", {}) or {}).get("matrix", {}).get("terraform", [])
    }
    if min_terraform not in versions:
        problems.append(
            f"validate does not run on the minimum Terraform {min_terraform} "
            f"(matrix: {sorted(versions)})"
        )
    if not any(_version_key(v) > _version_key(min_terraform) for v in versions):
        problems.append("validate does not run on a Terraform newer than the minimum")
    plan_jobs = [name for name, run in runs.items() if " plan " in run]
    for name in plan_jobs:
        job = jobs[name]
        if "pull_request" not in str(job.get("if", "")):
            problems.append(f"job {name} plans outside pull requests")
        if (job.get("permissions") or {}).get("id-token") != "write":
            problems.append(
                f"job {name} does not request an OIDC token (permissions: id-token: write)"
            )
    if re.search(r"aws-(access-key-id|secret-access-key)\s*:|secrets\.AWS_(ACCESS|SECRET)", text):
        problems.append("stored AWS keys are used")
    return problems


def workflow_env_problems(path: Path, envs: Iterable[str]) -> list[str]:
    """The one root is what CI validates and plans: the validate loop covers terraform/platform,
    tflint runs on it with every environment's tfvars, and the plan job's matrix has exactly
    the environments of terraform/envs/, each initialised with its own .tfbackend and planned
    with its own .tfvars (no workspaces)."""
    from ruamel.yaml import YAML

    text = path.read_text(encoding="utf-8")
    workflow = YAML(typ="safe").load(text)
    jobs = workflow.get("jobs", {}) if isinstance(workflow, dict) else {}
    problems = []
    if "terraform/platform/" not in text:
        problems.append("the root terraform/platform is not validated")
    steps = [str(s.get("run", "")) for job in jobs.values() for s in job.get("steps", [])]
    if not any(
        "tflint" in run and "--var-file" in run and "terraform/envs/" in run for run in steps
    ):
        problems.append("tflint does not run on the root with the environments' tfvars")
    if "terraform workspace" in text or "TF_WORKSPACE" in text:
        problems.append("workspaces are used: each environment has its own state key instead")
    plan_jobs = {
        name: job
        for name, job in jobs.items()
        if any(" plan " in str(s.get("run", "")) for s in job.get("steps", []))
    }
    if not plan_jobs:
        problems.append("no plan job")
    env_var = "${{ matrix.environment }}"
    for name, job in plan_jobs.items():
        matrix = (job.get("strategy", {}) or {}).get("matrix", {}) or {}
        planned = sorted(str(e) for e in matrix.get("environment", []))
        if planned != sorted(envs):
            problems.append(f"job {name} plans {planned}, terraform/envs/ has {sorted(envs)}")
        run = " ".join(str(s.get("run", "")) for s in job.get("steps", []))
        run = re.sub(r"\\\n\s*", " ", run)
        if f"-backend-config=../envs/{env_var}.tfbackend" not in run:
            problems.append(f"job {name} does not init with the environment's .tfbackend")
        if f"-var-file=../envs/{env_var}.tfvars" not in run:
            problems.append(f"job {name} does not plan with the environment's .tfvars")
        if "-chdir=terraform/platform" not in run:
            problems.append(f"job {name} does not plan the root terraform/platform")
    return problems


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def minimum_terraform_version() -> str:
    """The lower bound every required_version in terraform/ shares."""
    bounds = set()
    for directory in config_dirs():
        match = re.search(r">=\s*(\d+\.\d+\.\d+)", load_config(directory).required_version or "")
        if match:
            bounds.add(match.group(1))
    if len(bounds) != 1:
        raise ValueError(f"required_version lower bounds differ: {sorted(bounds)}")
    return bounds.pop()


LOCK_PLATFORMS = ("linux_amd64", "darwin_arm64")


def lockfile_problems(path: Path) -> list[str]:
    """A job generates the root's provider lock file (`providers lock` for linux_amd64 and
    darwin_arm64 at least) and proposes it as a pull request, outside pull requests, with
    exactly contents: write and pull-requests: write; and every `init` reads the lock file
    readonly when one is committed (a test for the file, then -lockfile=readonly)."""
    from ruamel.yaml import YAML

    text = path.read_text(encoding="utf-8")
    workflow = YAML(typ="safe").load(text)
    jobs = workflow.get("jobs", {}) if isinstance(workflow, dict) else {}
    problems = []
    runs = {
        name: re.sub(
            r"\\\n\s*", " ", "\n".join(str(s.get("run", "")) for s in job.get("steps", []))
        )
        for name, job in jobs.items()
    }
    lock_jobs = [n for n, run in runs.items() if "providers lock" in run]
    if not lock_jobs:
        problems.append("no job runs terraform providers lock")
    for name in lock_jobs:
        job, run = jobs[name], runs[name]
        if "-chdir=terraform/platform providers lock" not in run:
            problems.append(f"job {name} does not lock the root terraform/platform")
        for platform in LOCK_PLATFORMS:
            if f"-platform={platform}" not in run:
                problems.append(f"job {name} does not lock for {platform}")
        if "gh pr create" not in run and "create-pull-request" not in str(job):
            problems.append(f"job {name} does not propose the lock file as a pull request")
        if "pull_request" in str(job.get("if", "")) or not job.get("if"):
            problems.append(f"job {name} may run on pull requests")
        if (job.get("permissions") or {}) != {"contents": "write", "pull-requests": "write"}:
            problems.append(f"job {name} permissions are not contents/pull-requests: write only")
    for name, run in runs.items():
        for line in run.splitlines():
            if " init " not in f" {line} " or name in lock_jobs:
                continue
            if "$lockfile" not in line and "-lockfile=readonly" not in line:
                problems.append(f"job {name} runs init without -lockfile=readonly")
            elif "-lockfile=readonly" not in run or ".terraform.lock.hcl" not in run:
                problems.append(
                    f"job {name}: -lockfile=readonly is not conditional on the lock file"
                )
    return problems
