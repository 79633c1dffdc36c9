"""Request checking: every instance against the dataset contract, before the model sees it.

The rules are the contract's (slipway.data.contract): each feature present exactly once and
nothing else, numbers finite and within min/max, integers whole, categories known, nulls
only where the column is nullable. A request that breaks one gets a RequestError naming
the field, which the HTTP layer answers with a 4xx; nothing here can raise anything else
for any decoded JSON value, which the fuzz test checks.

It is written as plain Python over the decoded JSON (no pandas, no pydantic per request)
because it runs on every request: for batch 1 it costs a few microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from slipway.data.contract import DatasetContract
from slipway.errors import RequestError
from slipway.training.features import Preprocessor

Row = list[float | str | None]

_FLOAT, _INT, _CATEGORY = 0, 1, 2
_NUMERIC_V2 = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
     "UINT64"}
)  # fmt: skip


@dataclass(frozen=True)
class _Rule:
    name: str
    kind: int
    nullable: bool
    low: float
    high: float
    categories: frozenset[str]
    category_order: tuple[str, ...]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class RequestValidator:
    """Turns the instances of a v1 request, or the input tensors of a v2 request, into rows
    of checked values in the preprocessor's ``input_names`` order."""

    def __init__(
        self, contract: DatasetContract, preprocessor: Preprocessor, max_batch_size: int
    ) -> None:
        by_name = {c.name: c for c in contract.features}
        if set(by_name) != set(preprocessor.input_names):
            raise ValueError("the preprocessor's inputs are not the contract's features")
        self.max_batch_size = max_batch_size
        self.rules = tuple(
            _Rule(
                name,
                _CATEGORY if col.dtype == "category" else _INT if col.dtype == "int" else _FLOAT,
                col.nullable,
                -math.inf if col.min is None else float(col.min),
                math.inf if col.max is None else float(col.max),
                frozenset(col.categories or ()),
                tuple(col.categories or ()),
            )
            for name in preprocessor.input_names
            for col in (by_name[name],)
        )
        self.names = frozenset(by_name)
        # Positional (list) instances follow the contract's column order, which the model
        # metadata publishes; rows are built in the preprocessor's order.
        self.positional = tuple(c.name for c in contract.features)
        order = {name: i for i, name in enumerate(self.positional)}
        self._from_positional = tuple(order[rule.name] for rule in self.rules)

    # ------------------------------------------------------------------ values

    def _check(self, rule: _Rule, value: Any, where: str) -> float | str | None:
        kind = type(value)
        if rule.kind == _CATEGORY:
            if kind is str:
                if value in rule.categories:
                    return value  # type: ignore[no-any-return]
                raise RequestError(
                    400,
                    f"{where}: unknown category {_describe(value)}; expected one of "
                    f"{', '.join(rule.category_order)}",
                    rule.name,
                )
        elif kind is float or kind is int:
            number = float(value)
            if not math.isfinite(number):
                raise RequestError(400, f"{where}: {_describe(value)} is not finite", rule.name)
            if rule.kind == _INT and not number.is_integer():
                raise RequestError(
                    400, f"{where}: expected an integer, got {_describe(value)}", rule.name
                )
            if number < rule.low:
                raise RequestError(
                    400, f"{where}: {_describe(value)} is below the minimum {rule.low:g}", rule.name
                )
            if number > rule.high:
                raise RequestError(
                    400,
                    f"{where}: {_describe(value)} is above the maximum {rule.high:g}",
                    rule.name,
                )
            return number
        if value is None:
            if rule.nullable:
                return None
            raise RequestError(400, f"{where}: null is not allowed", rule.name)
        expected = "a string" if rule.kind == _CATEGORY else "a number"
        raise RequestError(
            400, f"{where}: expected {expected}, got {type(value).__name__}", rule.name
        )

    def _batch_size(self, n: int, what: str) -> None:
        if n == 0:
            raise RequestError(400, f"empty batch: {what} has no instances", what)
        if n > self.max_batch_size:
            raise RequestError(
                413, f"{what}: batch of {n} is over the limit of {self.max_batch_size}", what
            )

    # ------------------------------------------------------------------ v1

    def rows_v1(self, body: Any) -> list[Row]:
        """Rows from a v1 body ``{"instances": [...]}``; an instance is an object keyed by
        feature name, or a list in the contract's column order."""
        if type(body) is not dict:
            raise RequestError(400, 'the body must be a JSON object with "instances"', "body")
        instances = body.get("instances")
        if instances is None:
            raise RequestError(400, 'missing "instances"', "instances")
        if type(instances) is not list:
            raise RequestError(400, '"instances" must be a list', "instances")
        self._batch_size(len(instances), "instances")
        rows: list[Row] = []
        check, rules = self._check, self.rules
        for i, instance in enumerate(instances):
            if type(instance) is dict:
                if instance.keys() != self.names:
                    self._name_mismatch(instance.keys(), f"instances[{i}]")
                rows.append([check(r, instance[r.name], f"instances[{i}].{r.name}") for r in rules])
            elif type(instance) is list:
                if len(instance) != len(rules):
                    raise RequestError(
                        400,
                        f"instances[{i}]: expected {len(rules)} values in the order "
                        f"{', '.join(self.positional)}; got {len(instance)}",
                        f"instances[{i}]",
                    )
                rows.append(
                    [
                        check(r, instance[j], f"instances[{i}].{r.name}")
                        for r, j in zip(rules, self._from_positional, strict=True)
                    ]
                )
            else:
                raise RequestError(
                    400,
                    f"instances[{i}]: expected an object or a list, got {type(instance).__name__}",
                    f"instances[{i}]",
                )
        return rows

    def _name_mismatch(self, keys: Any, where: str) -> None:
        unknown = sorted(str(k) for k in set(keys) - self.names)
        if unknown:
            raise RequestError(400, f"{where}: unknown feature {unknown[0]!r}", unknown[0])
        missing = sorted(self.names - set(keys))
        raise RequestError(400, f"{where}: missing feature {missing[0]!r}", missing[0])

    # ------------------------------------------------------------------ v2

    def rows_v2(self, body: Any) -> list[Row]:
        """Rows from a v2 body: one input tensor per feature, named after it, shape [n] (or
        [n, 1]), numeric datatypes for numbers and BYTES for categories."""
        if type(body) is not dict:
            raise RequestError(400, 'the body must be a JSON object with "inputs"', "body")
        inputs = body.get("inputs")
        if type(inputs) is not list or not inputs:
            raise RequestError(400, '"inputs" must be a non-empty list of tensors', "inputs")
        rule_of = {r.name: r for r in self.rules}
        columns: dict[str, list[Any]] = {}
        size: int | None = None
        for k, tensor in enumerate(inputs):
            if type(tensor) is not dict:
                raise RequestError(400, f"inputs[{k}] must be an object", f"inputs[{k}]")
            name = tensor.get("name")
            if type(name) is not str:
                raise RequestError(400, f"inputs[{k}].name must be a string", f"inputs[{k}]")
            if name not in rule_of:
                raise RequestError(400, f"inputs[{k}]: unknown feature {name!r}", name)
            if name in columns:
                raise RequestError(400, f"inputs[{k}]: feature {name!r} given twice", name)
            rule = rule_of[name]
            datatype = tensor.get("datatype")
            allowed = ("BYTES",) if rule.kind == _CATEGORY else _NUMERIC_V2
            if datatype not in allowed:
                raise RequestError(
                    400,
                    f"inputs[{k}] ({name}): datatype {_describe(datatype)} does not fit a "
                    f"{'category' if rule.kind == _CATEGORY else 'numeric'} feature",
                    name,
                )
            data, shape = tensor.get("data"), tensor.get("shape")
            if type(data) is not list:
                raise RequestError(400, f"inputs[{k}] ({name}): data must be a list", name)
            n = len(data)
            if shape not in ([n], [n, 1]):
                raise RequestError(
                    400,
                    f"inputs[{k}] ({name}): shape {_describe(shape)} does not match "
                    f"{n} values (expected [{n}] or [{n}, 1])",
                    name,
                )
            if size is not None and n != size:
                raise RequestError(
                    400, f"inputs[{k}] ({name}): {n} values where other inputs have {size}", name
                )
            size = n
            columns[name] = data
        missing = sorted(self.names - set(columns))
        if missing:
            raise RequestError(400, f"missing input for feature {missing[0]!r}", missing[0])
        assert size is not None
        self._batch_size(size, "inputs")
        check = self._check
        return [
            [check(r, columns[r.name][i], f"{r.name}[{i}]") for r in self.rules]
            for i in range(size)
        ]

    # ------------------------------------------------------------------ metadata

    def input_types(self) -> list[dict[str, Any]]:
        """The v2 metadata ``inputs``: one tensor per feature, in the contract's order."""
        rules = {r.name: r for r in self.rules}
        return [
            {
                "name": name,
                "datatype": ("FP64", "INT64", "BYTES")[rules[name].kind],
                "shape": [-1],
                "parameters": self._parameters(rules[name]),
            }
            for name in self.positional
        ]

    @staticmethod
    def _parameters(rule: _Rule) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dtype": ("float", "int", "category")[rule.kind],
            "nullable": rule.nullable,
        }
        if rule.kind == _CATEGORY:
            params["categories"] = list(rule.category_order)
        else:
            if math.isfinite(rule.low):
                params["min"] = rule.low
            if math.isfinite(rule.high):
                params["max"] = rule.high
        return params
