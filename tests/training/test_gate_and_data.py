"""Per-task decisions without I/O: the gate's thresholds and champion comparison, its
config, label validation, label encoding and the (stratified) split."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slipway.config import GateSettings, Settings, load_settings
from slipway.data.contract import DatasetContract, load_contract
from slipway.data.validation import LABEL_VALUE, check_schema
from slipway.errors import ConfigError, DataError, TrackingError
from slipway.pipeline.steps import split
from slipway.training.evaluation import (
    Metrics,
    MulticlassMetrics,
    RegressionMetrics,
    apply_gate,
    decision_from_tags,
    score_multiclass,
    score_regression,
)
from slipway.training.labels import encode_labels

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REGRESSION_GATE = GateSettings.model_validate(
    {
        "regression": {
            "max_rmse": 70,
            "min_r2": 0.2,
            "champion_margin": {"rmse": 2, "mae": 2, "r2": 0.02},
        }
    }
)
CHAMPION = RegressionMetrics(rmse=55.0, mae=44.0, r2=0.40)


def test_a_regression_challenger_worse_than_the_champion_by_more_than_the_margin_fails() -> None:
    worse = RegressionMetrics(rmse=57.5, mae=44.5, r2=0.39)  # rmse 2.5 higher: lower is better
    decision = apply_gate(worse, CHAMPION, REGRESSION_GATE)
    assert not decision.passed
    assert decision.reasons == ("rmse 57.5000 worse than champion 55.0000 by more than 2",)


def test_a_regression_challenger_within_the_margin_or_better_passes() -> None:
    assert apply_gate(RegressionMetrics(56.9, 46.0, 0.385), CHAMPION, REGRESSION_GATE).passed
    # Much lower RMSE is better, not worse: the direction is per metric.
    assert apply_gate(RegressionMetrics(30.0, 20.0, 0.8), CHAMPION, REGRESSION_GATE).passed


def test_regression_thresholds_and_r2_direction() -> None:
    decision = apply_gate(RegressionMetrics(71.0, 60.0, 0.1), None, REGRESSION_GATE)
    assert decision.reasons == (
        "rmse 71.0000 above maximum 70",
        "r2 0.1000 below minimum 0.2",
    )
    with_champion = apply_gate(RegressionMetrics(55.0, 44.0, 0.37), CHAMPION, REGRESSION_GATE)
    assert with_champion.reasons == ("r2 0.3700 worse than champion 0.4000 by more than 0.02",)
    # NaN (R2 of one row) fails a threshold rather than passing it.
    assert not apply_gate(RegressionMetrics(1.0, 1.0, math.nan), None, REGRESSION_GATE).passed


def test_the_multiclass_gate_uses_its_own_thresholds_and_log_loss_is_lower_better() -> None:
    gate = GateSettings.model_validate(
        {"multiclass": {"min_accuracy": 0.8, "min_macro_f1": 0.75, "max_log_loss": 0.6}}
    )
    good = MulticlassMetrics(accuracy=0.9, macro_f1=0.9, log_loss=0.3)
    assert apply_gate(good, None, gate).passed
    bad = MulticlassMetrics(accuracy=0.7, macro_f1=0.9, log_loss=0.7)
    assert apply_gate(bad, None, gate).reasons == (
        "accuracy 0.7000 below minimum 0.8",
        "log_loss 0.7000 above maximum 0.6",
    )
    champion = MulticlassMetrics(accuracy=0.9, macro_f1=0.9, log_loss=0.2)
    assert apply_gate(good, champion, gate).reasons == (
        "log_loss 0.3000 worse than champion 0.2000 by more than 0.01",
    )


def test_the_binary_gate_keeps_its_top_level_keys_and_a_binary_section_overrides_them() -> None:
    binary = Metrics(accuracy=0.8, roc_auc=0.8, f1=0.6, log_loss=0.5)
    assert apply_gate(binary, None, GateSettings()).passed
    stricter = GateSettings.model_validate({"binary": {"min_roc_auc": 0.9}})
    assert apply_gate(binary, None, stricter).reasons == ("roc_auc 0.8000 below minimum 0.9",)


def test_a_challenger_and_champion_of_different_tasks_are_not_compared() -> None:
    with pytest.raises(TrackingError, match="regression challenger with a multiclass champion"):
        apply_gate(CHAMPION, MulticlassMetrics(0.9, 0.9, 0.1), GateSettings())


@pytest.mark.parametrize(
    "challenger", [RegressionMetrics(57.5, 44.5, 0.39), MulticlassMetrics(0.9, 0.8, 0.3)]
)
def test_a_decision_round_trips_through_its_tags(
    challenger: RegressionMetrics | MulticlassMetrics,
) -> None:
    champion = CHAMPION if isinstance(challenger, RegressionMetrics) else challenger
    decision = apply_gate(challenger, champion, REGRESSION_GATE)
    again = decision_from_tags(decision.as_tags())
    assert again.challenger == challenger and again.champion == champion
    assert again.passed == decision.passed and again.reasons == decision.reasons
    # Read as another task's, the tags lack that task's metrics.
    other = decision.as_tags() | {"gate.task": "binary"}
    with pytest.raises(TrackingError, match=r"no challenger metrics|lacks gate"):
        decision_from_tags(other)


def test_a_decision_recorded_before_tasks_existed_reads_as_binary() -> None:
    binary = Metrics(accuracy=0.8, roc_auc=0.8, f1=0.6, log_loss=0.5)
    tags = apply_gate(binary, None, GateSettings()).as_tags()
    del tags["gate.task"]
    assert decision_from_tags(tags).challenger == binary


@pytest.mark.parametrize(
    ("gate", "named"),
    [
        ("{regression: {min_accuracy: 0.5}}", "gate.regression: Value error, ['min_accuracy']"),
        ("{multiclass: {max_rmse: 10}}", "not thresholds of a multiclass model"),
        ("{regression: {champion_margin: {log_loss: 0.1}}}", "champion_margin ['log_loss']"),
        ("{regression: {champion_margin: -1}}", "must not be negative"),
    ],
)
def test_a_threshold_for_a_metric_the_task_lacks_is_a_config_error(
    tmp_path: Path, gate: str, named: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"data: {{contract: c.yaml}}\ngate: {gate}\n")
    with pytest.raises(ConfigError, match="invalid config") as caught:
        load_settings(path)
    assert named in str(caught.value)


def test_a_bad_network_factory_path_in_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("data: {contract: c.yaml}\ntraining: {network: {factory: 'no colon'}}\n")
    with pytest.raises(ConfigError, match=r"training\.network\.factory"):
        load_settings(path)


def test_the_metrics_per_task() -> None:
    perfect = score_multiclass(np.array([0, 1, 2]), np.eye(3))
    assert perfect.accuracy == 1.0 and perfect.macro_f1 == 1.0 and perfect.log_loss < 1e-5
    # A confident wrong answer has a large, finite log loss.
    wrong = score_multiclass(np.array([0]), np.array([[0.0, 1.0, 0.0]]))
    assert wrong.accuracy == 0.0 and 10 < wrong.log_loss < 20
    reg = score_regression(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert reg.rmse == pytest.approx(math.sqrt(4 / 3)) and reg.mae == pytest.approx(2 / 3)


def _contract(task: str, label: dict[str, object], **extra: object) -> DatasetContract:
    columns = [{"name": "x", "dtype": "float"}, {"name": "y", **label}]
    return DatasetContract.model_validate(
        {"name": "t", "label": "y", "task": task, "columns": columns, **extra}
    )


def test_multiclass_labels_must_be_among_the_classes() -> None:
    contract = _contract("multiclass", {"dtype": "int"}, classes=["0", "1", "2"])
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 2, 7]})
    findings = check_schema(frame, contract)
    assert [(f.column, f.rule, f.rows) for f in findings] == [("y", LABEL_VALUE, 1)]
    assert "'7'" in findings[0].message and "['0', '1', '2']" in findings[0].message
    assert check_schema(frame.iloc[:3], contract) == []  # the negative's positive
    with pytest.raises(DataError, match=r"\['7'\] are not among the classes"):
        encode_labels(frame, contract)
    assert encode_labels(frame.iloc[:3], contract).tolist() == [0, 1, 2]


def test_binary_labels_must_be_zero_or_one() -> None:
    contract = _contract("binary", {"dtype": "int"})  # no min/max: the task says 0/1
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 2]})
    assert [(f.column, f.rule) for f in check_schema(frame, contract)] == [("y", LABEL_VALUE)]
    assert check_schema(frame.iloc[:2], contract) == []


@pytest.mark.parametrize(("bad", "rule"), [("abc", "dtype"), (math.inf, "finite")])
def test_regression_labels_must_be_finite_numbers(bad: object, rule: str) -> None:
    contract = _contract("regression", {"dtype": "float", "min": -1e9, "max": 1e9})
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [1.5, bad]})
    findings = check_schema(frame, contract)
    assert [(f.column, f.rule) for f in findings] == [("y", rule)]
    assert check_schema(frame.iloc[:1], contract) == []


def _settings(config: str) -> Settings:
    return load_settings(EXAMPLES / config)


def test_the_iris_split_is_stratified_and_reproducible() -> None:
    settings = _settings("iris/config.yaml")
    contract = load_contract(settings.data.contract)
    frame = runpy.run_path(str(EXAMPLES / "fetch_data.py"))["iris"]()
    parts = split(frame, settings, contract)
    for part in (parts.test, parts.validation):
        assert part["species"].value_counts().tolist() == [10, 10, 10]  # 50 each of 150
    again = split(frame, settings, contract)
    assert parts.test.index.equals(again.test.index)
    assert len(parts.train) + len(parts.validation) + len(parts.test) == len(frame)
    assert not set(parts.train.index) & set(parts.test.index)


def test_a_rare_class_is_in_every_part_of_a_stratified_split() -> None:
    settings = _settings("iris/config.yaml")
    contract = _contract("binary", {"dtype": "int"})
    frame = pd.DataFrame({"x": np.arange(100.0), "y": [1] * 10 + [0] * 90})
    parts = split(frame, settings, contract)
    assert [int(p["y"].sum()) for p in (parts.test, parts.validation, parts.train)] == [2, 2, 6]


def test_the_regression_split_is_a_plain_permutation() -> None:
    settings = _settings("diabetes/config.yaml")
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0)})
    plain = split(frame, settings)
    regression = load_contract(settings.data.contract)
    assert regression.task == "regression"
    assert split(frame, settings, regression).test.equals(plain.test)
    order = np.random.default_rng(settings.training.seed).permutation(50)
    assert plain.test.index.tolist() == order[: len(plain.test)].tolist()
