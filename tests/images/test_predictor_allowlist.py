"""The predictor image copies an allowlist of slipway's modules (images/predictor/Dockerfile).
Every slipway module that ``python -m slipway.serving`` imports at module level, followed
through the imports of those modules, must be on it: a module added to the serving path and
not to the allowlist fails the image at start, which only the podman tests would see. This
test reads the source and the Dockerfile, so it runs without podman."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
DOCKERFILE = REPO / "images" / "predictor" / "Dockerfile"


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """slipway modules imported at module level (not inside functions, which run only on
    the paths that need them, nor under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if isinstance(node, ast.Try | ast.If) else [node]:
            if isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names if a.name.startswith("slipway")}
            elif isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("slipway"):
                module = sub.module or ""
                found.add(module)
                found |= {
                    f"{module}.{a.name}" for a in sub.names if _module_file(f"{module}.{a.name}")
                }
    return found


def imported_closure(start: str) -> set[Path]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run too
        path = _module_file(name)
        if path is not None:
            todo += sorted(_imports(path))
    return {p for n in seen if (p := _module_file(n)) is not None}


def copied(dockerfile: Path) -> list[Path]:
    sources: list[Path] = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        match = re.match(r"COPY\s+(?!--from)(.+)\s+/opt/app/", line)
        if match:
            sources += [REPO / s for s in match.group(1).split() if s.startswith("src/slipway")]
    return sources


def uncovered(files: set[Path], sources: list[Path]) -> list[str]:
    return sorted(
        str(f.relative_to(REPO))
        for f in files
        if not any(f == s or s in f.parents for s in sources)
    )


def test_every_module_the_predictor_imports_is_copied_into_the_image() -> None:
    closure = imported_closure("slipway.serving.__main__")
    assert SRC / "slipway" / "serving" / "server.py" in closure  # the walk follows imports
    assert uncovered(closure, copied(DOCKERFILE)) == []


def test_a_module_left_off_the_allowlist_is_reported(tmp_path: Path) -> None:
    trimmed = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text(encoding="utf-8").replace(" src/slipway/state_files.py", "")
    trimmed.write_text(text, encoding="utf-8")
    closure = imported_closure("slipway.serving.__main__")
    assert uncovered(closure, copied(trimmed)) == ["src/slipway/state_files.py"]
