"""Drift of served inputs against a training reference, decided by Evidently 0.7.

``compare`` runs Evidently's ``Report`` with ``DataDriftPreset`` (the methods from
``monitoring.drift``: one for numeric columns, one for categorical ones, and per column) on
two frames and reads back, per column, the drift score and whether its test failed, and the
drifted share of columns. A window with fewer than ``min_rows`` served rows is not compared
at all: its status is ``insufficient_data``, never "no drift".

Evidently's usage telemetry is turned off before it is imported (``DO_NOT_TRACK``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from slipway.config import DriftSettings

#: The served score, compared like a numeric feature: per task, P(positive), the predicted
#: class's probability, or the predicted value (slipway.serving.task_outputs).
SCORE = "score"
#: multiclass: the served predicted class, compared like a categorical feature.
PREDICTED_CLASS = "predicted_class"

Status = Literal["drift", "no_drift", "insufficient_data"]


class ColumnDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


class DriftReport(BaseModel):
    """What the drift step found for one window of one model version."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: str
    status: Status
    rows: int
    reference_rows: int
    min_rows: int
    drift_share: float | None = None
    drifted_columns: tuple[str, ...] = ()
    columns: tuple[ColumnDrift, ...] = ()

    @property
    def detected(self) -> bool:
        return self.status == "drift"

    def summary(self) -> str:
        if self.status == "insufficient_data":
            return (
                f"{self.model} v{self.version}: too little data to judge drift "
                f"({self.rows} served rows, {self.min_rows} needed)"
            )
        assert self.drift_share is not None
        drifted = ", ".join(self.drifted_columns) or "none"
        return (
            f"{self.model} v{self.version}: {self.status} over {self.rows} served rows; "
            f"drifted share {self.drift_share:.2f}; drifted columns: {drifted}"
        )


def score_columns(task: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The task's score columns that drift compares: (numeric ones, categorical ones). For
    a multiclass model, the predicted class's probability alone would miss a shift between
    classes predicted with the same confidence; the class's share catches it."""
    if task == "multiclass":
        return (SCORE,), (PREDICTED_CLASS,)
    return (SCORE,), ()


def _evidently() -> Any:
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently reads it when imported
    import evidently  # type: ignore[import-untyped]

    return evidently


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    settings: DriftSettings,
    *,
    model: str,
    version: str,
) -> tuple[DriftReport, str | None]:
    """The drift report of ``current`` against ``reference`` and Evidently's HTML report
    (None when there were too few rows to run it)."""
    base = {
        "model": model,
        "version": version,
        "rows": len(current),
        "reference_rows": len(reference),
        "min_rows": settings.min_rows,
    }
    if len(current) < settings.min_rows or len(reference) < settings.min_rows:
        return DriftReport(status="insufficient_data", **base), None
    _evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset  # type: ignore[import-untyped]

    columns = [*numeric, *categorical]
    definition = DataDefinition(
        numerical_columns=list(numeric), categorical_columns=list(categorical)
    )
    preset = DataDriftPreset(
        columns=columns,
        drift_share=settings.drift_share,
        num_method=settings.num_method,
        cat_method=settings.cat_method,
        per_column_method=dict(settings.per_column_method) or None,
    )
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    found = read_snapshot(snapshot.dict())
    drifted = tuple(c.column for c in found if c.drifted)
    share = len(drifted) / len(found) if found else 0.0
    status: Status = "drift" if found and share >= settings.drift_share else "no_drift"
    report = DriftReport(
        status=status,
        drift_share=share,
        drifted_columns=drifted,
        columns=tuple(found),
        **base,
    )
    return report, snapshot.get_html_str(as_iframe=False)


def read_snapshot(snapshot: dict[str, Any]) -> list[ColumnDrift]:
    """Per column: Evidently's ValueDrift score and method, and its drift test's verdict."""
    failed: dict[str, bool] = {}
    for test in snapshot.get("tests", []):
        params = (test.get("metric_config") or {}).get("params") or {}
        if not str(params.get("type", "")).endswith(":ValueDrift"):
            continue  # the share test: the share is computed here from the columns'
        status = test.get("status")
        failed[str(params["column"])] = str(getattr(status, "value", status)).upper() == "FAIL"
    found = []
    for metric in snapshot.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column = str(config["column"])
        if column not in failed:
            raise ValueError(f"Evidently gave no drift test for column {column!r}")
        found.append(
            ColumnDrift(
                column=column,
                method=str(config.get("method")),
                threshold=float(config.get("threshold") or 0.0),
                score=float(metric["value"]),
                drifted=failed[column],
            )
        )
    return found
