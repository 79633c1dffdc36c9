"""The drift decision with Evidently (real Evidently, synthetic data), live quality, the gauges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest

from slipway.config import DriftSettings
from slipway.data.synthetic import generate
from slipway.errors import DataError
from slipway.monitoring import drift, live, pushgateway

NUMERIC = ["tenure_months", "monthly_charges", "support_calls"]
CATEGORICAL = ["contract"]


def frames(drifted: float, rows: int = 1500) -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate(rows, seed=1), generate(rows, seed=2, drift=drifted)


@pytest.fixture(scope="module")
def drifted() -> drift.DriftReport:
    reference, current = frames(3.0)
    report, html = drift.compare(
        reference, current, NUMERIC, CATEGORICAL, DriftSettings(drift_share=0.4),
        model="m", version="1",
    )  # fmt: skip
    assert html is not None and "<html" in html.lower()
    return report


def test_drifted_traffic_is_detected(drifted: drift.DriftReport) -> None:
    assert drifted.status == "drift" and drifted.detected
    assert {"monthly_charges", "contract"} <= set(drifted.drifted_columns)
    assert "tenure_months" not in drifted.drifted_columns
    assert drifted.drift_share == pytest.approx(len(drifted.drifted_columns) / 4)


def test_the_same_distribution_is_no_drift() -> None:
    reference, current = frames(0.0)
    report, _ = drift.compare(
        reference, current, NUMERIC, CATEGORICAL, DriftSettings(), model="m", version="1"
    )
    assert report.status == "no_drift" and not report.detected
    assert report.drifted_columns == ()
    assert len(report.columns) == 4


def test_too_little_data_is_never_no_drift() -> None:
    reference, current = frames(3.0)
    report, html = drift.compare(
        reference, current.head(20), NUMERIC, CATEGORICAL, DriftSettings(min_rows=50),
        model="m", version="1",
    )  # fmt: skip
    assert report.status == "insufficient_data" and html is None
    assert report.drift_share is None and not report.detected
    assert "too little data" in report.summary()


def test_methods_come_from_config() -> None:
    reference, current = frames(0.5)
    settings = DriftSettings(
        num_method="wasserstein", per_column_method={"contract": "jensenshannon"}
    )
    report, _ = drift.compare(
        reference, current, NUMERIC, CATEGORICAL, settings, model="m", version="1"
    )
    methods = {c.column: c.method for c in report.columns}
    assert methods["monthly_charges"] == "wasserstein"
    assert methods["contract"] == "jensenshannon"
    assert methods["tenure_months"] == "wasserstein"


def test_a_snapshot_without_its_drift_tests_is_refused() -> None:
    metric = {"config": {"type": "evidently:metric_v2:ValueDrift", "column": "a"}, "value": 0.1}
    with pytest.raises(ValueError, match="no drift test for column 'a'"):
        drift.read_snapshot({"metrics": [metric], "tests": []})


def test_live_quality_joins_on_request_id_and_row() -> None:
    served = pd.DataFrame(
        {"request_id": ["a", "a", "b", "c"], "row": [0, 1, 0, 0], "score": [0.9, 0.2, 0.8, 0.1]}
    )
    labels = pd.DataFrame({"request_id": ["a", "a", "b", "zzz"], "row": [0, 1, 0, 0],
                           "churned": [1, 0, 0, 1]})  # fmt: skip
    quality = live.live_quality(served, labels, "churned")
    assert quality.labelled_rows == 3
    assert quality.metrics["accuracy"] == pytest.approx(2 / 3)


def test_live_quality_follows_the_task() -> None:
    """Multiclass: accuracy and macro F1 from the served class (labels compared as text,
    as the payload records classes); regression: the errors of the served value."""
    served = pd.DataFrame(
        {
            "request_id": ["a", "b", "c"],
            "row": [0, 0, 0],
            "score": [0.9, 0.6, 0.7],
            "predicted_class": ["0", "2", "1"],
        }
    )
    labels = pd.DataFrame({"request_id": ["a", "b", "c"], "species": [0, 2, 2]})
    quality = live.live_quality(served, labels, "species", "multiclass")
    assert quality.metrics["accuracy"] == pytest.approx(2 / 3)
    assert 0 < quality.metrics["macro_f1"] < 1 and "log_loss" not in quality.metrics
    with pytest.raises(DataError, match="predicted_class"):
        live.live_quality(served.drop(columns=["predicted_class"]), labels, "species",
                          "multiclass")  # fmt: skip
    values = served.assign(score=[10.0, 20.0, 33.0])
    truth = pd.DataFrame({"request_id": ["a", "b", "c"], "target": [10.0, 22.0, 30.0]})
    quality = live.live_quality(values, truth, "target", "regression")
    assert quality.metrics["mae"] == pytest.approx(5 / 3)
    assert quality.metrics["rmse"] == pytest.approx(((0 + 4 + 9) / 3) ** 0.5)


def test_ground_truth_without_its_columns_is_refused() -> None:
    with pytest.raises(DataError, match="lacks the columns"):
        live.live_quality(pd.DataFrame({"request_id": ["a"], "row": [0], "score": [0.5]}),
                          pd.DataFrame({"id": ["a"], "churned": [1]}), "churned")  # fmt: skip


def test_duplicate_labels_are_refused() -> None:
    labels = pd.DataFrame({"request_id": ["a", "a"], "churned": [1, 0]})
    with pytest.raises(DataError, match="more than one label"):
        live.live_quality(pd.DataFrame({"request_id": ["a"], "row": [0], "score": [0.5]}),
                          labels, "churned")  # fmt: skip


def test_gauges_of_a_drift_report(drifted: drift.DriftReport) -> None:
    text = generate_latest(pushgateway.drift_registry(drifted, now=5.0)).decode()
    assert 'slipway_drift_detected{model="m",version="1"} 1.0' in text
    assert 'slipway_feature_drifted{feature="contract",model="m",version="1"} 1.0' in text
    assert "slipway_drift_share" in text and "slipway_feature_drift_score" in text


def test_insufficient_data_pushes_no_verdict() -> None:
    report = drift.DriftReport(
        model="m", version="1", status="insufficient_data", rows=3, reference_rows=100, min_rows=50
    )
    text = generate_latest(pushgateway.drift_registry(report)).decode()
    assert 'slipway_drift_insufficient_data{model="m",version="1"} 1.0' in text
    assert "slipway_drift_detected" not in text and "slipway_drift_share" not in text


def test_live_gauges_skip_undefined_metrics() -> None:
    registry = pushgateway.quality_registry("m", "2", 10, {"accuracy": 0.9, "roc_auc": np.nan})
    text = generate_latest(registry).decode()
    assert 'slipway_live_metric{metric="accuracy",model="m",version="2"} 0.9' in text
    assert "roc_auc" not in text
