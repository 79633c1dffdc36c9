"""Hypothesis strategies for the generative bad-input fuzz: valid v1 and v2 bodies of the
churn contract, and one structural change to each that a hostile or careless client makes.

A case is ``(body bytes, sure)``: ``sure`` is True when the change makes the body invalid
by construction (a required field of another JSON type or nested, a required key dropped,
an unknown feature added, the body cut short or in another encoding, bytes that are not
JSON), so the only right answer is a 4xx; False when the change may leave it valid (an
optional field dropped, a key the protocol lets a client add), where 200 is right too.
``where`` says which field was changed, so a 4xx can be checked for naming it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

NUMERIC = {"tenure_months": (0.0, 120.0, False), "monthly_charges": (0.0, 500.0, False),
           "support_calls": (0, 50, True), "age": (18, 120, True)}  # fmt: skip
CATEGORIES = {"contract": ("monthly", "annual", "two_year"),
              "region": ("north", "south", "east", "west"),
              "payment_method": ("card", "bank", "invoice")}  # fmt: skip
#: The contract's column order: a v1 instance given as a list follows it.
ORDER = (*NUMERIC, *CATEGORIES)
_V2_TYPES = {"tenure_months": "FP64", "monthly_charges": "FP32", "support_calls": "INT64",
             "age": "INT32"}  # fmt: skip
#: Keys a valid body may leave out (or hold null) and keys the protocol lets a client add:
#: changing them may leave the body valid.
OPTIONAL = frozenset({"id", "parameters", "outputs"})

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def kind(value: Any) -> str:
    """The JSON type of a decoded value (int and float are both numbers)."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) in (int, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


@st.composite
def valid_row(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, (low, high, integer) in NUMERIC.items():
        row[name] = draw(
            st.integers(int(low), int(high))
            if integer
            else st.floats(low, high, allow_nan=False) | st.integers(int(low), int(high))
        )
    for name, categories in CATEGORIES.items():
        row[name] = draw(st.sampled_from(categories))
    return row


@st.composite
def valid_v1(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.lists(valid_row(), min_size=1, max_size=3))
    instances: list[Any] = [
        [row[name] for name in ORDER] if draw(st.booleans()) else row for row in rows
    ]
    return {"instances": instances}


@st.composite
def valid_v2(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.lists(valid_row(), min_size=1, max_size=3))
    n = len(rows)
    names = list(ORDER)
    names = draw(st.permutations(names))
    inputs = []
    for name in names:
        data: list[Any] = [row[name] for row in rows]
        tensor: dict[str, Any] = {"name": name, "datatype": _V2_TYPES.get(name, "BYTES")}
        if draw(st.booleans()):
            tensor["shape"], tensor["data"] = [n], data
        elif draw(st.booleans()):
            tensor["shape"], tensor["data"] = [n, 1], data
        else:
            tensor["shape"], tensor["data"] = [n, 1], [[v] for v in data]
        if draw(st.integers(0, 4)) == 0:
            tensor["parameters"] = {}
        inputs.append(tensor)
    body: dict[str, Any] = {"inputs": inputs}
    if draw(st.booleans()):
        body["id"] = draw(st.text(max_size=12))
    if draw(st.integers(0, 3)) == 0:
        body["parameters"] = {"binary_data_output": False}
    if draw(st.integers(0, 3)) == 0:
        body["outputs"] = [
            {"name": name}
            for name in draw(st.lists(st.sampled_from(["prediction", "probabilities"]),
                                      min_size=1, max_size=2, unique=True))
        ]  # fmt: skip
    return body


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes), itself first."""
    found = [prefix]
    if type(value) is dict:
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif type(value) is list:
        for i, inner in enumerate(value):
            found += paths(inner, (*prefix, i))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _optional(path: tuple[Any, ...]) -> bool:
    return any(step in OPTIONAL for step in path if type(step) is str)


@dataclass(frozen=True)
class Case:
    protocol: str
    body: bytes
    #: True: invalid by construction, only a 4xx is right.
    sure: bool
    #: What was changed, for the report of a failure; the names an error may give.
    change: str
    names: tuple[str, ...]


def _names(body: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
    """Names an error about ``path`` may give: its keys, its indexes as ``key[i]``, and the
    feature a v2 tensor or a v1 list position stands for."""
    names: list[str] = []
    for depth, step in enumerate(path):
        if type(step) is str:
            names.append(step)
            continue
        parent = path[depth - 1] if depth else "body"
        names.append(f"{parent}[{step}]")
        holder = _get(body, path[: depth + 1])
        if type(holder) is dict and type(holder.get("name")) is str:
            names.append(holder["name"])
    if len(path) >= 3 and path[0] == "instances" and type(path[2]) is int:
        names.append(ORDER[path[2]])
    return tuple(names) or ("body",)


@st.composite
def structural_case(draw: st.DrawFn, protocol: str) -> Case:
    """A valid body of ``protocol`` with one structural change."""
    valid = draw(valid_v1() if protocol == "v1" else valid_v2())
    body = copy.deepcopy(valid)
    path = draw(st.sampled_from(paths(body)))
    names = _names(valid, path)
    target = _get(body, path)
    op = draw(st.sampled_from(["retype", "nest", "drop", "add"]))
    parent = _get(body, path[:-1]) if path else None
    optional = _optional(path)
    sure = not optional
    if op == "drop" and path and type(parent) is dict:
        del parent[path[-1]]
        change = f"drop {path}"
    elif op == "drop" and path and type(parent) is list:
        del parent[path[-1]]
        # A row less is still a valid v1 batch, and [n, 1] less its 1 a valid shape; a
        # value less in a v1 list row, a tensor less, or a tensor value less is not.
        sure = sure and (
            (protocol == "v1" and len(path) == 3)
            or (protocol == "v2" and (len(path) == 2 or "data" in path))
        )
        change = f"drop {path}"
    elif op == "add" and type(target) is dict:
        key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in target))
        target[key] = draw(json_value)
        # Only an instance's keys are closed (the features); elsewhere the protocol allows
        # keys it does not name.
        sure = protocol == "v1" and len(path) == 2
        change = f"add {(*path, key)}"
    elif op == "nest" and path:
        wrapped = draw(st.sampled_from(["list", "object"]))
        parent[path[-1]] = [target] if wrapped == "list" else {"value": target}
        # A list in a list may be the protocol's own nesting ([[v]] rows of an [n, 1]
        # tensor); anything else nested where it was is wrong.
        # An optional object nested in an object may still be a valid object (open keys).
        sure = kind(target) != "array" and (
            not optional or wrapped == "list" or kind(target) != "object"
        )
        # The one value of flat v2 data, wrapped in a list, is the protocol's [[v]] nesting.
        one_value = protocol == "v2" and len(path) > 1 and path[-2] == "data" and len(parent) == 1
        sure = sure and not (one_value and wrapped == "list")
        change = f"nest {path} in a {wrapped}"
    else:
        was = kind(target)
        new = draw(json_value.filter(lambda v: kind(v) != was))
        if path:
            parent[path[-1]] = new
        else:
            body = new
        # The protocol types its optional fields too: only null (or leaving them out) is
        # allowed in their place. A [v] row of nested v2 data replaced by a value may leave
        # valid flat data.
        sure = (new is not None or not path or path[-1] not in OPTIONAL) and not (
            protocol == "v2" and "data" in path and was == "array"
        )
        change = f"retype {path} ({was}) to {kind(new)}"
    text = json.dumps(body, allow_nan=False).encode()
    return Case(protocol, text, sure, change, names)


@st.composite
def encoding_case(draw: st.DrawFn, protocol: str) -> Case:
    """A valid body cut short, in another encoding than UTF-8, or bytes that are not JSON."""
    valid = draw(valid_v1() if protocol == "v1" else valid_v2())
    raw = json.dumps(valid).encode()
    how = draw(st.sampled_from(["cut", "utf-16", "utf-32", "bytes"]))
    if how == "cut":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == "bytes":
        raw = draw(st.binary(max_size=80).filter(lambda b: not _is_json(b)))
    else:
        raw = json.dumps(valid).encode(how)
    return Case(protocol, raw, True, how, ("body",))


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def any_case(protocol: str) -> st.SearchStrategy[Case]:
    return st.one_of(
        structural_case(protocol), structural_case(protocol), structural_case(protocol),
        encoding_case(protocol),
    )  # fmt: skip
