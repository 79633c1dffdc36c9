"""The controller as the loop only: driven through fake ports (no servers, no clock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipway.config import RolloutSettings
from slipway.registry.model_version import ModelVersion
from slipway.rollout.analysis import Snapshot, Stats
from slipway.rollout.backends.local import AbortFile
from slipway.rollout.controller import RolloutController
from slipway.rollout.outcome import RolloutOutcome, StepRecord
from slipway.rollout.records import BaseRecorder, StateFile
from slipway.runtime import Runtime

CHAMPION = ModelVersion("m", "1", "run-1", "s3://b/1", alias="champion")
CANARY = ModelVersion("m", "2", "run-2", "s3://b/2")
GOOD, BAD = Stats(100, 0, 5.0), Stats(100, 50, 5.0)
SETTINGS = RolloutSettings(
    steps=[10, 50, 100], window_seconds=2, check_interval_seconds=1, min_requests=10
)


class Router:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def deploy_canary(self, canary: ModelVersion, champion: ModelVersion, percent: int) -> None:
        self.calls.append(("deploy", percent))

    def set_canary_traffic(self, percent: int) -> None:
        self.calls.append(("traffic", percent))

    def traffic(self) -> dict[str, int]:
        return {"1": 100}

    def promote(self) -> None:
        self.calls.append(("promote", None))

    def rollback(self) -> None:
        self.calls.append(("rollback", None))


class Metrics:
    def __init__(self, canary: list[Stats]) -> None:
        self.canary = canary
        self.calls = 0

    def snapshot(self, model: str, canary: str, champion: str, seconds: float) -> Snapshot:
        stats = self.canary[min(self.calls, len(self.canary) - 1)]
        self.calls += 1
        if isinstance(stats, BaseException):
            raise stats
        return Snapshot(stats, GOOD)

    def wait_for_series(self, model: str, version: str, timeout: float) -> bool:
        return True


class Abort:
    def __init__(self, after: int | None = None) -> None:
        self.after, self.asked = after, 0

    def requested(self) -> bool:
        self.asked += 1
        return self.after is not None and self.asked > self.after

    def request(self) -> None:
        self.after = 0

    def clear(self) -> None:
        self.after = None


class Champion:
    def __init__(self) -> None:
        self.promoted: list[str] = []

    def promote(self, model: ModelVersion, reason: str) -> None:
        self.promoted.append(model.version)


class Log(BaseRecorder):
    def __init__(self) -> None:
        self.points: list[str] = []

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        self.points.append("started")

    def step_passed(self, outcome: RolloutOutcome, number: int, step: StepRecord) -> None:
        self.points.append(f"passed {number}")

    def promoted(self, outcome: RolloutOutcome, canary: ModelVersion) -> None:
        self.points.append("promoted")

    def finished(self, outcome: RolloutOutcome) -> None:
        self.points.append(f"finished {outcome.decision}")


class Broken(BaseRecorder):
    """Every record fails (MLflow down, a full disk)."""

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        raise RuntimeError("down")

    def progressed(self, outcome: RolloutOutcome) -> None:
        raise RuntimeError("down")

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        raise RuntimeError("down")

    def finished(self, outcome: RolloutOutcome) -> None:
        raise RuntimeError("down")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _run(
    canary: list[Any], abort: Abort | None = None, recorders: list[Any] | None = None
) -> tuple[RolloutOutcome, Router, Champion]:
    router, champion, clock = Router(), Champion(), Clock()
    controller = RolloutController(
        SETTINGS, router, Metrics(canary), abort or Abort(), champion,
        recorders=recorders or [], clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    return controller.run(CANARY, CHAMPION), router, champion


def test_a_healthy_canary_is_promoted_step_by_step() -> None:
    log = Log()
    outcome, router, champion = _run([GOOD], recorders=[log])
    assert outcome.decision == "promoted"
    assert router.calls == [("deploy", 10), ("traffic", 50), ("traffic", 100), ("promote", None)]
    assert champion.promoted == ["2"]
    assert log.points == [
        "started", "passed 1", "passed 2", "passed 3", "promoted", "finished promoted",
    ]  # fmt: skip


def test_a_breach_rolls_back_at_once_and_leaves_the_alias() -> None:
    outcome, router, champion = _run([BAD])
    assert outcome.decision == "rolled_back"
    assert "error rate" in outcome.reason
    assert router.calls == [("deploy", 10), ("rollback", None)]
    assert champion.promoted == []
    assert outcome.breach_detected_at is not None
    assert outcome.rollback_done_at is not None


def test_an_abort_request_rolls_back() -> None:
    outcome, router, _ = _run([GOOD], abort=Abort(after=0))
    assert outcome.decision == "aborted"
    assert router.calls[-1] == ("rollback", None)


def test_failing_recorders_never_stop_a_rollback(caplog: pytest.LogCaptureFixture) -> None:
    log = Log()
    outcome, router, _ = _run([BAD], recorders=[Broken(), log])
    assert outcome.decision == "rolled_back"
    assert router.calls[-1] == ("rollback", None)
    assert log.points == ["started", "finished rolled_back"]  # the next recorder still ran
    assert "Broken could not record" in caplog.text


def test_a_failing_metric_source_rolls_back_and_propagates() -> None:
    with pytest.raises(ConnectionError):
        _run([ConnectionError("prometheus gone")])


def test_the_state_file_records_the_outcome_and_split(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "rollout.json", Router().traffic)
    outcome, _, _ = _run([GOOD], recorders=[state])
    saved = state.read()
    assert saved is not None
    assert saved["decision"] == outcome.decision == "promoted"
    assert saved["traffic"] == {"1": 100}
    assert [s["percent"] for s in saved["steps"]] == [10, 50, 100]


def test_the_local_abort_signal_is_a_file(tmp_path: Path) -> None:
    signal = AbortFile(tmp_path / "state" / "rollout.abort")
    assert not signal.requested()
    signal.request()
    assert signal.requested()
    signal.clear()
    assert not signal.requested()
    signal.clear()  # clearing twice is fine


def test_the_runtime_chooses_the_backend(tmp_path: Path) -> None:
    from slipway.errors import RolloutError
    from slipway.rollout.backends.local import LocalBackend

    local = Runtime.load(state_dir=tmp_path)
    backend = local.rollout_backend()
    assert isinstance(backend, LocalBackend)
    assert backend.model_cache_dir() == local.model_cache_dir
    backend.close()
    kserve = Runtime(
        local.settings.model_copy(update={"rollout": RolloutSettings(backend="kserve")})
    )
    with pytest.raises(RolloutError, match="local backend only"):
        kserve.rollout_backend({"SLIPWAY_SERVING__FAULT_ERROR_RATE": "0.5"})


def test_only_the_composition_root_imports_the_local_stack() -> None:
    code = (
        "import sys\n"
        "import slipway.rollout.service, slipway.rollout.backends.local\n"
        "import slipway.rollout.backends.kserve, slipway.registry.model_version\n"
        "assert not [m for m in sys.modules if m.startswith('slipway.local')], 'slipway.local'\n"
        "assert 'slipway.runtime' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_model_version_record_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import slipway.registry.model_version\n"
        "heavy = {'mlflow', 'torch', 'pandas'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_step_without_traffic_is_held_then_rolled_back_after_its_limit(tmp_path: Path) -> None:
    """No canary requests: inconclusive, the step held (extended) max_extensions times, then
    rolled back naming the inconclusive analysis; never promoted, never a breach."""
    state = StateFile(tmp_path / "rollout.json")
    outcome, router, champion = _run([Stats(0, 0, float("nan"))], recorders=[state])
    assert outcome.decision == "rolled_back"
    assert "inconclusive after 2 extensions" in outcome.reason
    assert router.calls == [("deploy", 10), ("rollback", None)]
    assert champion.promoted == []
    (step,) = outcome.steps
    assert step.extensions == SETTINGS.max_extensions and step.outcome == "inconclusive"
    judgements = [c for c in step.checks if c["kind"] == "judgement"]
    assert [c["outcome"] for c in judgements] == ["inconclusive"] * 3
    saved = state.read()
    assert saved is not None and saved["steps"][0]["outcome"] == "inconclusive"


def test_every_measurement_of_every_step_is_kept() -> None:
    outcome, _, _ = _run([GOOD])
    assert outcome.decision == "promoted"
    for step in outcome.steps:
        assert step.outcome == "pass"
        assert {m["metric"] for m in step.measurements} == {"error_rate", "latency", "scores"}
        kinds = [c["kind"] for c in step.checks]
        assert kinds == ["check", "check", "judgement"]  # a 2 s window, checked each second
        errors = step.measurements[0]
        assert errors["test"] == "fisher_exact" and errors["p_value"] is not None
        assert errors["canary_samples"] == 100


def test_a_dry_run_metric_never_rolls_back() -> None:
    router, champion, clock = Router(), Champion(), Clock()
    settings = SETTINGS.model_copy(update={"dry_run": ["error_rate"]})
    controller = RolloutController(
        settings, router, Metrics([BAD]), Abort(), champion, clock=clock, sleep=clock.sleep
    )
    outcome = controller.run(CANARY, CHAMPION)
    assert outcome.decision == "promoted"
    errors = outcome.steps[0].measurements[0]
    assert errors["outcome"] == "fail" and errors["dry_run"] is True


def test_the_backend_decision_record_holds_each_steps_statistics() -> None:
    """The KServe annotation keeps 4000 characters: the record of a three-step rollout,
    with every step's measurements, must fit whole (valid JSON)."""
    import json

    from slipway.rollout.records import BackendDecision

    class Backend:
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []

        def record_decision(self, record: dict[str, Any]) -> None:
            self.records.append(record)

    backend = Backend()
    _run([GOOD], recorders=[BackendDecision(backend)])  # type: ignore[arg-type]
    (record,) = backend.records
    assert [s["outcome"] for s in record["steps"]] == ["pass", "pass", "pass"]
    errors = record["steps"][0]["measurements"][0]
    assert errors["test"] == "fisher_exact" and errors["canary_samples"] == 100
    assert len(json.dumps(record, sort_keys=True, separators=(",", ":"))) < 4000
