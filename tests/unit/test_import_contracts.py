"""The design's boundaries hold, and the linter that checks them can fail.

``make lint`` runs ``lint-imports`` with the contracts in pyproject.toml. Here each
contract runs on a copy of the package twice: as it is (kept), and with one deliberate
violation added to one module (broken, and named as such).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# contract id -> (module file under src/slipway, the import that breaks the contract)
VIOLATIONS = {
    "predictor": ("serving/request_checks.py", "import pandas"),
    "local-stack": ("rollout/controller.py", "from slipway.local import stack"),
    "no-cli": ("pipeline/steps.py", "from slipway import cli"),
    "core-without-hera": ("data/validation.py", "import hera.workflows"),
}


def _copy(tmp: Path) -> Path:
    shutil.copytree(
        REPO / "src" / "slipway", tmp / "src" / "slipway",
        ignore=shutil.ignore_patterns("__pycache__"),
    )  # fmt: skip
    shutil.copy(REPO / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def _lint(root: Path, contract: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "pyproject.toml", "--contract", contract, "--no-cache", "--no-logo"],
        cwd=root, env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_contract_has_a_violation() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    ids = {line.split('"')[1] for line in text.splitlines() if line.startswith("id = ")}
    assert ids == set(VIOLATIONS)


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_contract_is_kept_and_fails_on_a_violation(contract: str, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    kept = _lint(root, contract)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "KEPT" in kept.stdout

    module, line = VIOLATIONS[contract]
    path = root / "src" / "slipway" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # deliberate\n")
    broken = _lint(root, contract)
    assert broken.returncode != 0, broken.stdout
    assert "BROKEN" in broken.stdout
    assert module.replace("/", ".").removesuffix(".py") in broken.stdout
