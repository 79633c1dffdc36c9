"""Data validation and the predictor's request checks apply one rule set (slipway.data.rules):
on the same rows they agree, value by value: a value one accepts the other accepts, and a
value one refuses the other refuses for the same column and rule.

"The same rows" are values that mean the same in a request (decoded JSON) and in a frame:
numbers, booleans, nulls, text, lists. Three things are left out because the two formats
decode them differently, on purpose, and ``test_what_each_format_decodes_differently``
pins each: text that spells a number (a CSV cell "12" is the number 12, a JSON "12" is
text), a number in a category column (a CSV category code 1 is the text "1"), and NaN (a
frame's null marker; JSON has no NaN).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway.bundle.preprocessing import CategoricalFeature, FittedPreprocessing, NumericFeature
from slipway.config import load_settings
from slipway.data.contract import Column, DatasetContract, load_contract
from slipway.data.rules import ColumnRules, ContractRules, Violation
from slipway.data.validation import check_schema
from slipway.serving.request_checks import ContractRefusal, RequestValidator

LABEL = Column(name="label", dtype="int", min=0, max=1)
AGREE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _spells_a_number(text: str) -> bool:
    """Whether a frame would read ``text`` as a number (the frame's own decoder decides)."""
    return not math.isnan(pd.to_numeric(pd.Series([text], dtype=object), errors="coerce")[0])


def _bounds(column: Column) -> list[float]:
    out: list[float] = []
    for bound in (column.min, column.max):
        if bound is not None:
            out += [bound, bound - 0.5, bound + 0.5, bound - 1, bound + 1, math.floor(bound)]
    return out


def values_for(column: Column) -> st.SearchStrategy[Any]:
    """Values a request or a frame may hold for ``column``, valid ones and every kind of
    wrong one, except those the two formats decode differently (see the module doc)."""
    if column.dtype == "category":
        categories = list(column.categories or ())
        return st.one_of(st.none(), st.sampled_from(categories), st.text(max_size=8))
    numbers: list[st.SearchStrategy[Any]] = [
        st.integers(-(2**53), 2**53),
        st.integers(-200, 200),
        st.floats(allow_nan=False),  # including both infinities
        st.floats(-200, 200),
        st.integers(-200, 200).map(float),  # whole floats: 40.0 is an int column's value
    ]
    if _bounds(column):
        numbers.append(st.sampled_from(_bounds(column)))
    return st.one_of(
        *numbers,
        st.none(),
        st.booleans(),
        st.text(max_size=8).filter(lambda t: not _spells_a_number(t)),
        st.lists(st.integers(0, 3), max_size=2),
    )


@st.composite
def contracts(draw: st.DrawFn) -> DatasetContract:
    names = draw(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=5, unique=True))
    columns = []
    for name in names:
        dtype = draw(st.sampled_from(["float", "int", "category"]))
        nullable = draw(st.booleans())
        if dtype == "category":
            categories = draw(st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True))
            columns.append(Column(name=name, dtype=dtype, nullable=nullable, categories=categories))
            continue
        bounds = sorted(draw(st.lists(st.integers(-100, 100) | st.floats(-100, 100), max_size=2)))
        low = bounds[0] if bounds and draw(st.booleans()) else None
        high = bounds[-1] if bounds and draw(st.booleans()) else None
        columns.append(Column(name=name, dtype=dtype, nullable=nullable, min=low, max=high))
    return DatasetContract(name="drawn", label=LABEL.name, columns=(*columns, LABEL))


@st.composite
def contract_and_rows(draw: st.DrawFn) -> tuple[DatasetContract, list[dict[str, Any]]]:
    contract = draw(st.one_of(st.just(load_contract(load_settings().data.contract)), contracts()))
    row = st.fixed_dictionaries({c.name: values_for(c) for c in contract.features})
    return contract, draw(st.lists(row, min_size=1, max_size=6))


def _frame(contract: DatasetContract, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a frame, the label filled in with a valid value."""
    names = [c.name for c in contract.columns]
    return pd.DataFrame([{**row, contract.label: 0} for row in rows], columns=names)


def _verdict(rules: ColumnRules, value: Any) -> str | None:
    """The rule the predictor's per-value check names for ``value`` (None: accepted)."""
    try:
        rules.check(value)
    except Violation as violation:
        refused = violation
    else:
        return None
    assert refused.column == rules.name
    return refused.rule


def _preprocessing(contract: DatasetContract) -> FittedPreprocessing:
    return FittedPreprocessing(
        tuple(NumericFeature(c.name, 0.0, 1.0) for c in contract.features if c.numeric),
        tuple(
            CategoricalFeature(c.name, tuple(c.categories or ()))
            for c in contract.features
            if not c.numeric
        ),
    )


@AGREE
@given(drawn=contract_and_rows())
def test_validation_and_request_checks_agree_row_by_row(
    drawn: tuple[DatasetContract, list[dict[str, Any]]],
) -> None:
    contract, rows = drawn
    compiled = ContractRules(contract)
    validator = RequestValidator(contract, _preprocessing(contract), max_batch_size=64)
    for row in rows:
        per_value = {
            (r.name, rule) for r in compiled.features if (rule := _verdict(r, row[r.name]))
        }
        frame = {(f.column, f.rule) for f in check_schema(_frame(contract, [row]), contract)}
        assert frame == per_value, row
        # The predictor proper refuses the row at its first broken column, for that rule.
        if not per_value:
            assert len(validator.rows_v1({"instances": [row]})) == 1
            continue
        with pytest.raises(ContractRefusal) as refused:
            validator.rows_v1({"instances": [row]})
        assert (refused.value.field, refused.value.rule) in frame
        first = next(r.name for r in validator.rules if _verdict(r, row[r.name]))
        assert refused.value.field == first


@AGREE
@given(drawn=contract_and_rows())
def test_a_frames_findings_count_the_values_the_predictor_refuses(
    drawn: tuple[DatasetContract, list[dict[str, Any]]],
) -> None:
    contract, rows = drawn
    compiled = ContractRules(contract)
    refused = Counter(
        (r.name, rule)
        for row in rows
        for r in compiled.features
        if (rule := _verdict(r, row[r.name]))
    )
    found: Counter[tuple[str, str]] = Counter()
    for finding in check_schema(_frame(contract, rows), contract):
        found[(finding.column, finding.rule)] += finding.rows
    assert found == refused


def test_what_each_format_decodes_differently() -> None:
    contract = DatasetContract(
        name="t",
        label="label",
        columns=(
            Column(name="n", dtype="float"),
            Column(name="code", dtype="category", categories=("1", "2")),
            LABEL,
        ),
    )
    compiled = ContractRules(contract)
    numbers, codes = compiled.column("n"), compiled.column("code")
    frame = pd.DataFrame({"n": ["12", "13.5"], "code": [1, 2], "label": [0, 1]})
    assert check_schema(frame, contract) == []  # CSV cells: text numbers, numeric codes
    assert _verdict(numbers, "12") == "dtype"  # JSON: "12" is text
    assert _verdict(codes, 1) == "dtype"  # JSON: 1 is no category name
    nan = pd.DataFrame({"n": [math.nan], "code": ["1"], "label": [0]})
    assert {(f.column, f.rule) for f in check_schema(nan, contract)} == {("n", "not-null")}
    assert _verdict(numbers, math.nan) == "finite"


def test_each_value_breaks_one_rule_the_first_in_order() -> None:
    contract = DatasetContract(
        name="t",
        label="label",
        columns=(Column(name="k", dtype="int", min=0, max=10), LABEL),
    )
    frame = pd.DataFrame({"k": [math.inf, 2.5, 11.0, -1.0, True], "label": [0] * 5})
    findings = [(f.rule, f.message, f.rows) for f in check_schema(frame, contract)]
    assert findings == [
        ("dtype", "expected int, found ['True']", 1),
        ("dtype", "expected int, found fractional values", 1),
        ("finite", "infinite values", 1),
        ("range", "1 value(s) below min 0 (worst -1)", 1),
        ("range", "1 value(s) above max 10 (worst 11)", 1),
    ]
