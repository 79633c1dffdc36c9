"""The values table of a chart's README, generated from the `# --` comments of values.yaml.

    .venv/bin/python -m tests.charts.values_docs            # rewrite every chart's README table
    .venv/bin/python -m tests.charts.values_docs --check    # exit 1 when a table is stale

A comment `# -- text` (continued on the next `#` lines) documents the key below it; a key
whose ancestor is documented is covered by it. The table sits in the README between
`<!-- values-table:start -->` and `<!-- values-table:end -->`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHARTS = Path(__file__).resolve().parents[2] / "charts"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
_KEY = re.compile(r"^([A-Za-z0-9_.\-/]+|\"[^\"]+\"):(\s|$)")

Path_ = tuple[str, ...]


def parse_docs(text: str) -> dict[Path_, str]:
    """Map each documented key path to its description, in file order."""
    docs: dict[Path_, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        match = _KEY.match(stripped)
        if not match:
            pending = None
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match.group(1).strip('"')
        path = (*(k for _, k in stack), key)
        if pending is not None:
            docs[path] = " ".join(pending)
        pending = None
        stack.append((indent, key))
    return docs


def _lookup(values: Any, path: Path_) -> Any:
    for key in path:
        values = values[key]
    return values


def _type(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}[
        type(value)
    ]


def leaf_paths(values: Any, prefix: Path_ = ()) -> list[Path_]:
    """Paths of every leaf (scalars, lists, empty mappings) of a values tree."""
    if isinstance(values, dict) and values:
        return [p for key, value in values.items() for p in leaf_paths(value, (*prefix, key))]
    return [prefix]


def undocumented(chart: Path) -> list[str]:
    """Leaves of values.yaml that neither they nor an ancestor document."""
    text = (chart / "values.yaml").read_text()
    docs = parse_docs(text)
    return [
        ".".join(path)
        for path in leaf_paths(yaml.safe_load(text))
        if not any(path[:n] in docs for n in range(1, len(path) + 1))
    ]


def values_table(chart: Path) -> str:
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    rows = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for path, description in parse_docs(text).items():
        value = _lookup(values, path)
        default = json.dumps(value, separators=(",", ":")).replace("|", "\\|")
        rows.append(f"| `{'.'.join(path)}` | {_type(value)} | `{default}` | {description} |")
    return "\n".join(rows)


def readme_with_table(chart: Path) -> str:
    readme = (chart / "README.md").read_text()
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{values_table(chart)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    stale = []
    # every chart with values (slipway-common, a library chart, has none)
    for chart in sorted(p.parent for p in CHARTS.glob("*/values.yaml")):
        wanted = readme_with_table(chart)
        if (chart / "README.md").read_text() != wanted:
            stale.append(chart.name)
            if "--check" not in argv:
                (chart / "README.md").write_text(wanted)
    if stale:
        print(("stale: " if "--check" in argv else "rewrote: ") + ", ".join(stale))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
