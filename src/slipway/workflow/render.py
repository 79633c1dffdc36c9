"""Rendering the Hera definitions to the YAML that Argo (and the ml-workflows chart) takes.

The same text goes to two places: ``workflows/rendered/`` (what reviewers read in a pull
request) and ``charts/ml-workflows/files/workflows/`` (what the chart installs). A test
and ``slipway workflow render --check`` keep both equal to what the definitions render now.
"""

from __future__ import annotations

from pathlib import Path

from slipway.errors import SlipwayError
from slipway.workflow import definitions

RENDERED_DIR = Path("workflows/rendered")
CHART_DIR = Path("charts/ml-workflows/files/workflows")
HEADER = (
    "# Rendered by `slipway workflow render` from src/slipway/workflow/definitions.py.\n"
    "# Do not edit: change the definitions and render again (CI checks that they match).\n"
)


def rendered() -> dict[str, str]:
    """File name -> YAML text, one file per workflow object."""
    return {f"{wf.name}.yaml": HEADER + wf.to_yaml() for wf in definitions.all_workflows()}


def _folders(root: Path) -> list[Path]:
    if not (root / "charts" / "ml-workflows").is_dir():
        raise SlipwayError(
            f"{root} is not the repository root (no charts/ml-workflows); use --root"
        )
    return [root / RENDERED_DIR, root / CHART_DIR]


def differences(root: Path) -> list[Path]:
    """Files that are missing, stale, or rendered by no definition any more."""
    expected = rendered()
    stale = []
    for folder in _folders(root):
        for name, text in expected.items():
            path = folder / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        stale += [p for p in sorted(folder.glob("*.yaml")) if p.name not in expected]
    return stale


def write(root: Path) -> list[Path]:
    """Write every rendered file (and remove ones no definition renders); the changed paths."""
    changed = differences(root)
    expected = rendered()
    for folder in _folders(root):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in expected.items():
            (folder / name).write_text(text, encoding="utf-8")
        for path in folder.glob("*.yaml"):
            if path.name not in expected:
                path.unlink()
    return changed
