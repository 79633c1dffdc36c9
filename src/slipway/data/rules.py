"""The dataset contract compiled into per-column rules: one rule set for data and requests.

Data validation (``slipway.data.validation``) applies these rules vectorised to the
columns of a frame; the predictor (``slipway.serving.request_checks``) applies them to
each value of each request. Both name a broken rule the same way and word it from the same
place (this module), and a property-based test holds them to the same verdict on the same
rows.

Per value, the checks run in this order and the first that fails is the one reported:

    check      rule (the name users see)   fails when
    null       not-null (label-null)        the value is null and the column is not nullable
    type       dtype                        a number column gets no number (booleans are
                                            not numbers), a category column no string
    finite     finite                       the number is infinite (or NaN)
    integer    dtype                        an int column gets a fractional number
    below      range                        the number is below the column's min
    above      range                        the number is above the column's max
    category   category                     the string is not one of the categories

What counts as a null, a number or a string is the one thing each side decides for its
own format. In a request (decoded JSON) a number is a JSON number, a category a JSON
string, and null is ``null``. In a frame a null is what pandas calls one (None, NaN),
text in a number column is parsed as a number (a CSV cell "12" is the number 12), and a
category cell is compared as text (so a CSV column of category codes 1, 2, 3 matches the
categories "1", "2", "3"). This module has no pandas: it is imported by the predictor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from slipway.data.contract import Column, DatasetContract

# The checks, in the order they run on a value.
NULL, TYPE, FINITE, INTEGER, BELOW, ABOVE, CATEGORY = (
    "null", "type", "finite", "integer", "below", "above", "category",
)  # fmt: skip

#: The rule each check reports: what a validation finding and a refused request call it.
RULE = {
    NULL: "not-null",
    TYPE: "dtype",
    FINITE: "finite",
    INTEGER: "dtype",
    BELOW: "range",
    ABOVE: "range",
    CATEGORY: "category",
}
LABEL_NULL = "label-null"


def describe(value: Any) -> str:
    """A value as a message shows it: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Violation(Exception):
    """A value that breaks a column's rule: which column, which check and rule, and why."""

    def __init__(self, column: str, check: str, rule: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.check = check
        self.rule = rule
        self.message = message


class ColumnRules:
    """The rules of one column, compiled once: its bounds as floats (infinite when the
    contract sets none), its categories as a set, and ``check`` for one value."""

    __slots__ = (
        "categories", "category_order", "check", "dtype", "high", "low", "name", "null_rule",
        "nullable",
    )  # fmt: skip

    def __init__(self, column: Column, is_label: bool = False) -> None:
        self.name = column.name
        self.dtype = column.dtype
        self.nullable = column.nullable and not is_label
        self.null_rule = LABEL_NULL if is_label else RULE[NULL]
        self.low = -math.inf if column.min is None else float(column.min)
        self.high = math.inf if column.max is None else float(column.max)
        self.category_order: tuple[str, ...] = tuple(column.categories or ())
        self.categories = frozenset(self.category_order)
        self.check: Callable[[Any], float | str | None] = (
            self._check_category if self.dtype == "category" else self._check_number
        )

    @property
    def numeric(self) -> bool:
        return self.dtype != "category"

    def rule_of(self, check: str) -> str:
        return self.null_rule if check == NULL else RULE[check]

    # ------------------------------------------------------------------ one value

    def _check_number(self, value: Any) -> float | None:
        """The value as a float, or Violation. Written for speed: it runs per request."""
        kind = type(value)
        if kind is float or kind is int:
            try:
                number = float(value)
            except OverflowError:  # an int too large for a float
                number = math.inf if value > 0 else -math.inf
            if not math.isfinite(number):
                raise self.violation(FINITE, value)
            if self.dtype == "int" and not number.is_integer():
                raise self.violation(INTEGER, value)
            if number < self.low:
                raise self.violation(BELOW, value)
            if number > self.high:
                raise self.violation(ABOVE, value)
            return number
        if value is None:
            if self.nullable:
                return None
            raise self.violation(NULL, value)
        raise self.violation(TYPE, value)

    def _check_category(self, value: Any) -> str | None:
        if type(value) is str:
            if value in self.categories:
                return value
            raise self.violation(CATEGORY, value)
        if value is None:
            if self.nullable:
                return None
            raise self.violation(NULL, value)
        raise self.violation(TYPE, value)

    def violation(self, check: str, value: Any) -> Violation:
        return Violation(self.name, check, self.rule_of(check), self.value_message(check, value))

    def value_message(self, check: str, value: Any) -> str:
        """Why one value breaks ``check`` (the predictor prefixes where the value was)."""
        if check == NULL:
            return "null is not allowed"
        if check == TYPE:
            expected = "a number" if self.numeric else "a string"
            return f"expected {expected}, got {type(value).__name__}"
        if check == FINITE:
            return f"{describe(value)} is not finite"
        if check == INTEGER:
            return f"expected an integer, got {describe(value)}"
        if check == BELOW:
            return f"{describe(value)} is below the minimum {self.low:g}"
        if check == ABOVE:
            return f"{describe(value)} is above the maximum {self.high:g}"
        return (
            f"unknown category {describe(value)}; expected one of {', '.join(self.category_order)}"
        )

    # ------------------------------------------------------------------ many values

    def column_message(self, check: str, values: Sequence[Any]) -> str:
        """Why these values of a column (all of them breaking ``check``) break it: the
        wording of a validation finding, which counts values rather than quoting one."""
        if check == NULL:
            return f"{len(values)} null value(s)"
        if check == TYPE:
            return f"expected {self.dtype}, found {[str(v) for v in values[:3]]!r}"
        if check == FINITE:
            return "infinite values"
        if check == INTEGER:
            return "expected int, found fractional values"
        if check == BELOW:
            return f"{len(values)} value(s) below min {self.low:g} (worst {min(values):g})"
        if check == ABOVE:
            return f"{len(values)} value(s) above max {self.high:g} (worst {max(values):g})"
        unknown = sorted({str(v) for v in values})
        return f"unknown categories {', '.join(repr(u) for u in unknown[:5])}"


class ContractRules:
    """Every column's rules, compiled from a dataset contract."""

    def __init__(self, contract: DatasetContract) -> None:
        self.label = contract.label
        self.columns = tuple(ColumnRules(c, c.name == contract.label) for c in contract.columns)
        self.features = tuple(c for c in self.columns if c.name != contract.label)
        self._by_name = {c.name: c for c in self.columns}

    def column(self, name: str) -> ColumnRules:
        return self._by_name[name]
