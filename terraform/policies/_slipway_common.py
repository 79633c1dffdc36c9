"""Helpers shared by slipway's checkov checks: checkov wraps most values in one-item lists."""

from __future__ import annotations

import json
from typing import Any


def first(value: Any) -> Any:
    """The value checkov parsed, unwrapped from its one-item list."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def as_list(value: Any) -> list[Any]:
    """A list of plain values, whatever nesting checkov gave."""
    value = first(value)
    if value is None:
        return []
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(as_list(item))
        return out
    return [value]


def as_bool(value: Any) -> bool | None:
    """True/False for a literal boolean (or its string form); None for anything else."""
    value = first(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def as_mapping(value: Any) -> dict[str, Any]:
    """A dict from a parsed block or map, or a JSON string; empty when it is neither."""
    value = first(value)
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}
