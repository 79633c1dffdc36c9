"""Request checking: every instance against the dataset contract, before the model sees it.

The value rules are the contract's compiled rule set (slipway.data.rules), the same that
data validation applies to frames: numbers finite and within min/max, integers whole,
categories known, nulls only where the column is nullable. On top, the request's shape:
each feature present exactly once and nothing else. A request that breaks one gets a
RequestError naming the field (a ContractRefusal, naming the rule too, for a value), which
the HTTP layer answers with a 4xx; nothing here can raise anything else for any decoded
JSON value, which the fuzz test checks.

It is written as plain Python over the decoded JSON (no pandas, no pydantic per request)
because it runs on every request: for batch 1 it costs a few microseconds.
"""

from __future__ import annotations

import math
from typing import Any

from slipway.bundle.preprocessing import FittedPreprocessing
from slipway.data.contract import DatasetContract
from slipway.data.rules import ColumnRules, ContractRules, Violation, describe
from slipway.errors import RequestError

Row = list[float | str | None]

_NUMERIC_V2 = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
     "UINT64"}
)  # fmt: skip
_V2_DATATYPE = {"float": "FP64", "int": "INT64", "category": "BYTES"}


class ContractRefusal(RequestError):
    """A request refused because a value breaks the contract: a RequestError (400) that
    also says which rule (``slipway.data.rules``), as data validation would name it."""

    def __init__(self, where: str, violation: Violation) -> None:
        super().__init__(400, f"{where}: {violation.message}", violation.column)
        self.rule = violation.rule
        self.check = violation.check


class RequestValidator:
    """Turns the instances of a v1 request, or the input tensors of a v2 request, into rows
    of checked values in the preprocessing's ``input_names`` order."""

    def __init__(
        self, contract: DatasetContract, preprocessing: FittedPreprocessing, max_batch_size: int
    ) -> None:
        compiled = ContractRules(contract)
        by_name = {c.name: c for c in compiled.features}
        if set(by_name) != set(preprocessing.input_names):
            raise ValueError("the preprocessing's inputs are not the contract's features")
        self.max_batch_size = max_batch_size
        self.rules: tuple[ColumnRules, ...] = tuple(
            by_name[name] for name in preprocessing.input_names
        )
        # (name, check) per column, in row order: the per-value loop's only lookups.
        self._checks = tuple((r.name, r.check) for r in self.rules)
        self.names = frozenset(by_name)
        # Positional (list) instances follow the contract's column order, which the model
        # metadata publishes; rows are built in the preprocessing's order.
        self.positional = tuple(c.name for c in contract.features)
        order = {name: i for i, name in enumerate(self.positional)}
        self._positional_checks = tuple((order[name], check) for name, check in self._checks)

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
        checks, positional = self._checks, self._positional_checks
        for i, instance in enumerate(instances):
            try:
                if type(instance) is dict:
                    if instance.keys() != self.names:
                        self._name_mismatch(instance.keys(), f"instances[{i}]")
                    rows.append([check(instance[name]) for name, check in checks])
                elif type(instance) is list:
                    if len(instance) != len(checks):
                        raise RequestError(
                            400,
                            f"instances[{i}]: expected {len(checks)} values in the order "
                            f"{', '.join(self.positional)}; got {len(instance)}",
                            f"instances[{i}]",
                        )
                    rows.append([check(instance[j]) for j, check in positional])
                else:
                    raise RequestError(
                        400,
                        f"instances[{i}]: expected an object or a list, got "
                        f"{type(instance).__name__}",
                        f"instances[{i}]",
                    )
            except Violation as violation:
                raise ContractRefusal(f"instances[{i}].{violation.column}", violation) from None
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
        [n, 1], its data flat or nested), numeric datatypes for numbers and BYTES for
        categories."""
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
            parameters = tensor.get("parameters")
            if parameters is not None and type(parameters) is not dict:
                # The protocol types it: an object, or left out.
                raise RequestError(
                    400, f"inputs[{k}] ({name}): parameters must be an object", "parameters"
                )
            datatype = tensor.get("datatype")
            allowed = _NUMERIC_V2 if rule.numeric else ("BYTES",)
            if type(datatype) is not str or datatype not in allowed:
                raise RequestError(
                    400,
                    f"inputs[{k}] ({name}): datatype {describe(datatype)} does not fit a "
                    f"{'numeric' if rule.numeric else 'category'} feature",
                    name,
                )
            data, shape = tensor.get("data"), tensor.get("shape")
            if type(shape) is not list or not all(type(d) is int for d in shape):
                # Typed strictly: true == 1 in Python, so [true, 1] would pass for [1, 1].
                raise RequestError(
                    400,
                    f"inputs[{k}] ({name}): shape must be a list of integers, got "
                    f"{describe(shape)}",
                    name,
                )
            if type(data) is not list:
                raise RequestError(400, f"inputs[{k}] ({name}): data must be a list", name)
            if data and type(data[0]) is list:
                # The protocol allows the natural nesting as well as the flat list: an
                # [n, 1] tensor may come as n one-element lists.
                if not all(type(row) is list and len(row) == 1 for row in data):
                    raise RequestError(
                        400, f"inputs[{k}] ({name}): nested data must be [[v], [v], ...]", name
                    )
                data = [row[0] for row in data]
                if shape != [len(data), 1]:
                    raise RequestError(
                        400,
                        f"inputs[{k}] ({name}): nested data of {len(data)} rows needs shape "
                        f"[{len(data)}, 1], got {describe(shape)}",
                        name,
                    )
            n = len(data)
            if shape not in ([n], [n, 1]):
                raise RequestError(
                    400,
                    f"inputs[{k}] ({name}): shape {describe(shape)} does not match "
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
        tensors = [(columns[name], check) for name, check in self._checks]
        rows: list[Row] = []
        for i in range(size):
            try:
                rows.append([check(data[i]) for data, check in tensors])
            except Violation as violation:
                raise ContractRefusal(f"{violation.column}[{i}]", violation) from None
        return rows

    # ------------------------------------------------------------------ metadata

    def input_types(self) -> list[dict[str, Any]]:
        """The v2 metadata ``inputs``: one tensor per feature, in the contract's order."""
        rules = {r.name: r for r in self.rules}
        return [
            {
                "name": name,
                "datatype": _V2_DATATYPE[rules[name].dtype],
                "shape": [-1],
                "parameters": self._parameters(rules[name]),
            }
            for name in self.positional
        ]

    @staticmethod
    def _parameters(rule: ColumnRules) -> dict[str, Any]:
        params: dict[str, Any] = {"dtype": rule.dtype, "nullable": rule.nullable}
        if not rule.numeric:
            params["categories"] = list(rule.category_order)
        else:
            if math.isfinite(rule.low):
                params["min"] = rule.low
            if math.isfinite(rule.high):
                params["max"] = rule.high
        return params
