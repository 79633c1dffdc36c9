"""Rendering the Hera definitions to the YAML that Argo (and the ml-workflows chart) takes.

The rendered files live in one place, ``charts/ml-workflows/files/workflows/``: the chart
installs them from there (Helm reads only files inside the chart) and reviewers read them
there in a pull request. A test and ``slipway workflow render --check`` keep them equal to
what the definitions render now.
"""

from __future__ import annotations

from pathlib import Path

from slipway.errors import SlipwayError
from slipway.workflow import definitions

CHART = Path("charts/ml-workflows")
RENDERED_DIR = CHART / "files" / "workflows"
HEADER = (
    "# Rendered by `slipway workflow render` from src/slipway/workflow/definitions.py.\n"
    "# Do not edit: change the definitions and render again (CI checks that they match).\n"
)


def rendered() -> dict[str, str]:
    """File name -> YAML text, one file per workflow object."""
    return {f"{wf.name}.yaml": HEADER + wf.to_yaml() for wf in definitions.all_workflows()}


def _folder(root: Path) -> Path:
    if not (root / CHART).is_dir():
        raise SlipwayError(f"{root} is not the repository root (no {CHART}); use --root")
    return root / RENDERED_DIR


def differences(root: Path) -> list[Path]:
    """Files that are missing, stale, or rendered by no definition any more."""
    folder = _folder(root)
    expected = rendered()
    stale = []
    for name, text in expected.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    stale += [p for p in sorted(folder.glob("*.yaml")) if p.name not in expected]
    return stale


def write(root: Path) -> list[Path]:
    """Write every rendered file (and remove ones no definition renders); the changed paths."""
    changed = differences(root)
    folder = _folder(root)
    expected = rendered()
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in expected.items():
        (folder / name).write_text(text, encoding="utf-8")
    for path in folder.glob("*.yaml"):
        if path.name not in expected:
            path.unlink()
    return changed
