"""Drift and live-quality metrics to the Prometheus Pushgateway, from the batch drift step.

The metric names (the contract the alert rules and dashboards read; keep them stable):

- ``slipway_drift_share{model, version}``: the share of columns Evidently finds drifted, 0..1.
- ``slipway_drift_detected{model, version}``: 1 when the drifted share reaches
  ``monitoring.drift_share_threshold``, else 0.
- ``slipway_feature_drift_score{model, version, feature}``: Evidently's per-column drift score
  (a p-value or a distance, depending on the column's method).
- ``slipway_feature_drifted{model, version, feature}``: 1 when that column drifted, else 0.
- ``slipway_drift_rows{model, version}``: how many served rows the window held.
- ``slipway_drift_insufficient_data{model, version}``: 1 when the window held too few rows to
  judge (then no drift share is pushed: too little data is never "no drift").
- ``slipway_drift_last_run_timestamp_seconds{model, version}``: when the step last ran.
- ``slipway_live_metric{model, version, metric}``: the task's metric on served rows joined with
  ground truth (``metric`` is e.g. ``accuracy`` or ``roc_auc``).
- ``slipway_live_labelled_rows{model, version}``: how many served rows had ground truth.

All are gauges, pushed with grouping key ``model``/``version`` (a push for one version replaces
only that version's series): the drift ones under job ``slipway-drift``, the live ones under
``slipway-live-quality``.
"""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from slipway.monitoring.drift import DriftReport

JOB = "slipway-drift"
QUALITY_JOB = "slipway-live-quality"  # its own job: a drift push leaves these series alone
LABELS = ("model", "version")


def drift_registry(report: DriftReport, now: float | None = None) -> CollectorRegistry:
    """The gauges of one drift report (see the names above)."""
    registry = CollectorRegistry()
    key = {"model": report.model, "version": report.version}

    def gauge(name: str, doc: str, value: float, **extra: str) -> None:
        g = Gauge(name, doc, [*LABELS, *extra], registry=registry)
        g.labels(**key, **extra).set(value)

    gauge("slipway_drift_rows", "Served rows in the drift window", report.rows)
    gauge(
        "slipway_drift_insufficient_data",
        "1 when the window held too few rows to judge drift",
        1.0 if report.status == "insufficient_data" else 0.0,
    )
    gauge(
        "slipway_drift_last_run_timestamp_seconds",
        "When the drift step last ran",
        now if now is not None else time.time(),
    )
    if report.status != "insufficient_data":
        assert report.drift_share is not None
        gauge("slipway_drift_share", "Share of columns drifted", report.drift_share)
        gauge("slipway_drift_detected", "1 when the data drifted", 1.0 if report.detected else 0.0)
        score = Gauge(
            "slipway_feature_drift_score",
            "Evidently's drift score of a column",
            [*LABELS, "feature"],
            registry=registry,
        )
        drifted = Gauge(
            "slipway_feature_drifted",
            "1 when the column drifted",
            [*LABELS, "feature"],
            registry=registry,
        )
        for column in report.columns:
            score.labels(**key, feature=column.column).set(column.score)
            drifted.labels(**key, feature=column.column).set(1.0 if column.drifted else 0.0)
    return registry


def quality_registry(
    model: str, version: str, labelled_rows: int, metrics: dict[str, float]
) -> CollectorRegistry:
    registry = CollectorRegistry()
    key = {"model": model, "version": version}
    Gauge(
        "slipway_live_labelled_rows", "Served rows with ground truth", LABELS, registry=registry
    ).labels(**key).set(labelled_rows)
    live = Gauge(
        "slipway_live_metric",
        "The task's metric on served rows with ground truth",
        [*LABELS, "metric"],
        registry=registry,
    )
    for name, value in metrics.items():
        if not math.isnan(value):
            live.labels(**key, metric=name).set(value)
    return registry


def push(url: str, registry: CollectorRegistry, model: str, version: str, job: str = JOB) -> None:
    """Replace this model version's series of ``job`` on the Pushgateway with ``registry``'s."""
    push_to_gateway(
        url, job=job, registry=registry, grouping_key={"model": model, "version": version}
    )
