"""Schema and distribution checks: each rule fires on the column it names, and only then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from slipway.config import ValidationSettings, load_settings
from slipway.data import synthetic
from slipway.data.contract import DatasetContract, load_contract
from slipway.data.validation import check_drift, check_schema, population_stability_index, validate


@pytest.fixture(scope="module")
def contract() -> DatasetContract:
    return load_contract(load_settings().data.contract)


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return synthetic.generate(2000, seed=11)


def _rules(frame: pd.DataFrame, contract: DatasetContract) -> set[tuple[str, str]]:
    return {(f.column, f.rule) for f in check_schema(frame, contract)}


def test_clean_data_has_no_findings(clean: pd.DataFrame, contract: DatasetContract) -> None:
    assert check_schema(clean, contract) == []


def _with(frame: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(object)
    out.loc[row, column] = value
    return out


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns=["age"]), ("age", "missing")),
        (lambda f: f.assign(surprise=1), ("surprise", "extra")),
        (lambda f: _with(f, "tenure_months", 3, "twelve"), ("tenure_months", "dtype")),
        (lambda f: _with(f, "support_calls", 3, 2.5), ("support_calls", "dtype")),
        (lambda f: _with(f, "monthly_charges", 3, -1.0), ("monthly_charges", "range")),
        (lambda f: _with(f, "age", 3, 400), ("age", "range")),
        (lambda f: _with(f, "age", 3, None), ("age", "not-null")),
        (lambda f: _with(f, "churned", 3, None), ("churned", "label-null")),
        (lambda f: _with(f, "region", 3, "mars"), ("region", "category")),
        (lambda f: _with(f, "monthly_charges", 3, float("inf")), ("monthly_charges", "finite")),
        (lambda f: f.iloc[0:0], ("<table>", "empty")),
    ],
)
def test_each_rule_names_its_column(
    clean: pd.DataFrame, contract: DatasetContract, mutate: object, expected: tuple[str, str]
) -> None:
    assert callable(mutate)
    assert expected in _rules(mutate(clean), contract)


def test_report_counts_rows_and_renders(clean: pd.DataFrame, contract: DatasetContract) -> None:
    bad = clean.copy()
    bad.loc[[1, 2, 3], "age"] = 999
    report = validate(bad, contract, ValidationSettings(), "sha256:x")
    assert not report.passed
    (finding,) = report.findings
    assert (finding.column, finding.rule, finding.rows) == ("age", "range", 3)
    assert "age" in report.to_table()
    assert '"rule": "range"' in report.to_json()
    assert report.failures == ["age: range: 3 value(s) above max 120 (worst 999)"]


def test_same_distribution_passes_and_drift_fails(contract: DatasetContract) -> None:
    reference = synthetic.generate(4000, seed=1)
    same = validate(
        synthetic.generate(3000, seed=2), contract, ValidationSettings(), "d", reference
    )
    assert same.passed, same.to_table()
    drifted_frame = synthetic.generate(
        3000, seed=2, drift=1.0, drift_features=("monthly_charges", "contract")
    )
    drifted = validate(drifted_frame, contract, ValidationSettings(), "d", reference)
    assert not drifted.passed
    failing = {(d.column, d.test) for d in drifted.drift if not d.passed}
    assert failing == {("monthly_charges", "psi"), ("monthly_charges", "ks"), ("contract", "psi")}


def test_thresholds_come_from_settings(contract: DatasetContract) -> None:
    reference = synthetic.generate(4000, seed=1)
    frame = synthetic.generate(3000, seed=2)
    strict = ValidationSettings(psi_max=1e-6, ks_statistic_max=1e-6)
    assert not validate(frame, contract, strict, "d", reference).passed


def test_drift_is_not_computed_on_schema_failures(
    clean: pd.DataFrame, contract: DatasetContract
) -> None:
    report = validate(clean.drop(columns=["age"]), contract, ValidationSettings(), "d", clean)
    assert report.drift == []


def test_psi_is_zero_for_identical_and_grows_with_shift() -> None:
    counts = np.array([10.0, 20.0, 30.0])
    assert population_stability_index(counts, counts) == pytest.approx(0.0)
    assert population_stability_index(counts, np.array([30.0, 20.0, 10.0])) > 0.5
    frame = synthetic.generate(500, seed=1)
    contract = load_contract(load_settings().data.contract)
    checks = check_drift(frame, frame, contract, ValidationSettings())
    assert all(c.statistic == pytest.approx(0.0, abs=1e-9) for c in checks)
