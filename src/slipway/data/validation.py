"""Data validation: the contract's schema rules, then distribution checks against reference.

The per-column rules are the contract's compiled rule set (slipway.data.rules), the same
the predictor applies to each request; here they run vectorised over whole columns.

Pure functions over DataFrames (no files, no MLflow), returning a ValidationReport that
names each failing column and rule. The caller decides what a failed report stops.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from slipway.config import ValidationSettings
from slipway.data.contract import DatasetContract
from slipway.data.rules import (
    ABOVE,
    BELOW,
    CATEGORY,
    FINITE,
    INTEGER,
    NULL,
    TYPE,
    ColumnRules,
    ContractRules,
)

# Epsilon that keeps PSI finite when a bin is empty on one side.
_PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class Finding:
    column: str
    rule: str
    message: str
    rows: int = 0


@dataclass(frozen=True)
class DriftCheck:
    column: str
    test: str
    statistic: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.statistic <= self.threshold


@dataclass
class ValidationReport:
    rows: int
    digest: str
    findings: list[Finding] = field(default_factory=list)
    drift: list[DriftCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings and all(check.passed for check in self.drift)

    @property
    def failures(self) -> list[str]:
        out = [f"{f.column}: {f.rule}: {f.message}" for f in self.findings]
        out += [
            f"{d.column}: drift-{d.test}: {d.statistic:.4f} > {d.threshold:g}"
            for d in self.drift
            if not d.passed
        ]
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "rows": self.rows,
            "digest": self.digest,
            "findings": [asdict(f) for f in self.findings],
            "drift": [{**asdict(d), "passed": d.passed} for d in self.drift],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_table(self) -> str:
        lines = [
            f"validation {'PASSED' if self.passed else 'FAILED'}: {self.rows} rows, {self.digest}"
        ]
        if self.findings:
            lines.append(f"{'column':<20} {'rule':<12} detail")
            lines += [f"{f.column:<20} {f.rule:<12} {f.message}" for f in self.findings]
        if self.drift:
            lines.append(f"{'column':<20} {'test':<12} {'statistic':>10} {'limit':>8}  result")
            lines += [
                f"{d.column:<20} {d.test:<12} {d.statistic:>10.4f} {d.threshold:>8g}  "
                f"{'ok' if d.passed else 'DRIFT'}"
                for d in self.drift
            ]
        return "\n".join(lines)


def _as_numbers(present: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, mask of the values that are not numbers) of a column's non-null
    values. Text is parsed as a number (CSV cells are text); booleans are not numbers."""
    if pd.api.types.is_bool_dtype(present):
        return np.full(len(present), np.nan), np.ones(len(present), dtype=bool)
    if pd.api.types.is_numeric_dtype(present):
        return present.to_numpy(dtype=float), np.zeros(len(present), dtype=bool)
    cells = present.to_numpy(dtype=object)
    booleans = np.fromiter(
        (isinstance(v, bool | np.bool_) for v in cells), dtype=bool, count=len(cells)
    )
    candidates = cells.copy()
    candidates[booleans] = None
    numbers = pd.to_numeric(pd.Series(candidates), errors="coerce").to_numpy(dtype=float)
    return numbers, booleans | np.isnan(numbers)


def _check_column(rules: ColumnRules, values: pd.Series) -> list[Finding]:
    """The column's rules (slipway.data.rules) over all its values at once: each value
    breaks at most one, the first in the rules' order, as the predictor checks it."""
    findings: list[Finding] = []

    def found(check: str, broken: Sequence[Any]) -> None:
        if len(broken):
            message = rules.column_message(check, broken)
            findings.append(Finding(rules.name, rules.rule_of(check), message, len(broken)))

    nulls = values.isna().to_numpy(dtype=bool)
    if not rules.nullable:
        found(NULL, values[nulls].tolist())
    present = values[~nulls]
    if not rules.numeric:
        text = present.astype(str)
        found(CATEGORY, text[~text.isin(rules.category_order)].tolist())
        return findings
    numbers, not_numbers = _as_numbers(present)
    found(TYPE, present[not_numbers].tolist())
    with np.errstate(invalid="ignore"):
        infinite = ~not_numbers & ~np.isfinite(numbers)
        finite = ~not_numbers & ~infinite
        fractional = finite & (np.mod(numbers, 1) != 0)
        if rules.dtype != "int":
            fractional[:] = False
        whole = finite & ~fractional
        found(INTEGER, numbers[fractional].tolist())
        found(FINITE, numbers[infinite].tolist())
        found(BELOW, numbers[whole & (numbers < rules.low)].tolist())
        found(ABOVE, numbers[whole & (numbers > rules.high)].tolist())
    return findings


def check_schema(frame: pd.DataFrame, contract: DatasetContract) -> list[Finding]:
    """Columns present, nothing extra, types, nulls, ranges and categories."""
    findings: list[Finding] = []
    if frame.empty:
        return [Finding("<table>", "empty", "the table has no rows")]
    expected = set(contract.names)
    for name in contract.names:
        if name not in frame.columns:
            findings.append(Finding(name, "missing", "column is missing"))
    for name in frame.columns:
        if name not in expected:
            findings.append(Finding(str(name), "extra", "column is not in the contract"))
    for rules in ContractRules(contract).columns:
        if rules.name in frame.columns:
            findings += _check_column(rules, frame[rules.name])
    if contract.label in frame.columns and not any(f.column == contract.label for f in findings):
        findings += check_label(frame[contract.label], contract)
    return findings


#: The finding's rule when a label breaks its task: not 0/1 (binary), not one of the
#: classes (multiclass). (A regression label that is not a finite number breaks the
#: column's own dtype or finite rule first.)
LABEL_VALUE = "label-value"


def check_label(labels: pd.Series, contract: DatasetContract) -> list[Finding]:
    """What the task asks of the label beyond its column's rules: binary labels 0 or 1,
    multiclass labels among the contract's ``classes``, regression labels finite numbers."""
    name = contract.label
    present = labels.dropna()
    if contract.task == "regression":
        numbers, not_numbers = _as_numbers(present)
        bad = present[not_numbers | ~np.isfinite(np.where(not_numbers, 0.0, numbers))]
        allowed = "finite numbers"
    else:
        if contract.task == "binary":
            allowed_values = ["0", "1"]
        else:
            allowed_values = [str(c) for c in contract.class_labels]
        text = present.map(
            lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        )
        bad = present[~text.isin(allowed_values)]
        allowed = f"one of {allowed_values}"
    if bad.empty:
        return []
    shown = ", ".join(repr(v) for v in sorted(set(bad.astype(str)))[:5])
    message = f"{len(bad)} {contract.task} labels are not {allowed}: {shown}"
    return [Finding(name, LABEL_VALUE, message, len(bad))]


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two frequency vectors over the same bins."""
    e = np.clip(expected / max(expected.sum(), 1), _PSI_FLOOR, None)
    a = np.clip(actual / max(actual.sum(), 1), _PSI_FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return 0.0 if np.allclose(current, reference[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    ref_counts, _ = np.histogram(reference, edges)
    cur_counts, _ = np.histogram(current, edges)
    return population_stability_index(ref_counts.astype(float), cur_counts.astype(float))


def check_drift(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    contract: DatasetContract,
    settings: ValidationSettings,
) -> list[DriftCheck]:
    """PSI for every feature, plus the two-sample KS statistic for numeric features."""
    checks: list[DriftCheck] = []
    for col in contract.features:
        if col.name not in frame.columns or col.name not in reference.columns:
            continue
        cur, ref = frame[col.name].dropna(), reference[col.name].dropna()
        if cur.empty or ref.empty:
            continue
        if col.numeric:
            cur_v = pd.to_numeric(cur, errors="coerce").dropna().to_numpy(dtype=float)
            ref_v = pd.to_numeric(ref, errors="coerce").dropna().to_numpy(dtype=float)
            if len(cur_v) == 0 or len(ref_v) == 0:
                continue
            psi = _numeric_psi(ref_v, cur_v, settings.psi_bins)
            ks = float(stats.ks_2samp(ref_v, cur_v).statistic)
            checks.append(DriftCheck(col.name, "psi", psi, settings.psi_max))
            checks.append(DriftCheck(col.name, "ks", ks, settings.ks_statistic_max))
        else:
            cats = list(col.categories or ())
            ref_counts = ref.astype(str).value_counts().reindex(cats, fill_value=0)
            cur_counts = cur.astype(str).value_counts().reindex(cats, fill_value=0)
            psi = population_stability_index(
                ref_counts.to_numpy(dtype=float), cur_counts.to_numpy(dtype=float)
            )
            checks.append(DriftCheck(col.name, "psi", psi, settings.psi_max))
    return checks


def validate(
    frame: pd.DataFrame,
    contract: DatasetContract,
    settings: ValidationSettings,
    digest: str,
    reference: pd.DataFrame | None = None,
) -> ValidationReport:
    report = ValidationReport(
        rows=len(frame), digest=digest, findings=check_schema(frame, contract)
    )
    # Distribution checks on data that breaks the schema would only add noise.
    if reference is not None and not report.findings:
        report.drift = check_drift(frame, reference, contract, settings)
    return report
