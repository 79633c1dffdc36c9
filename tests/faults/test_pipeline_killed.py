"""SIGKILL of the training pipeline inside each of its steps, on a real MLflow server.

The pipeline runs in a process of its own (as ``slipway pipeline run`` does); the test
watches MLflow and kills the process group with SIGKILL once the run shows the step it
aims at (validation, training with epochs logged, evaluation, registration). Then:

- nothing is left half-done: every registered version has its lineage tags and a model
  that loads; every alias points at such a version; no process of the killed pipeline runs;
- the next pipeline run starts clean: it ends the killed run FAILED (today's code left it
  RUNNING for ever), saying why, and registers its own version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import psutil  # type: ignore[import-untyped]
import pytest
from mlflow.tracking import MlflowClient

from slipway.config import Settings, load_settings
from slipway.pipeline.steps import run_pipeline
from slipway.registry import tracking
from slipway.registry.aliases import CHALLENGER, CHAMPION, version_by_alias

pytestmark = pytest.mark.integration

MODEL = "faults-killed"
EXPERIMENT = "faults-killed"
_PIPELINE = textwrap.dedent(
    """
    import sys
    import time
    from slipway.pipeline import steps
    from slipway.pipeline.steps import run_pipeline
    from slipway.registry import tracking
    sys.path.insert(0, {tests!r})
    from test_pipeline_killed import settings
    if {slow_validation!r}:
        # Validation of the small table is over in well under a second, shorter than the
        # watcher's poll on a loaded machine: stretch it, as a slow read would.
        checks = steps.validate
        def slow_validate(*args, **kwargs):
            time.sleep(3)
            return checks(*args, **kwargs)
        steps.validate = slow_validate
    client = tracking.connect({url!r})
    run_pipeline(client, settings({epochs}), {data!r})
    """
)


def settings(epochs: int = 3) -> Settings:
    """Demo settings, a loose gate, and ``epochs`` long enough to be killed in."""
    base = load_settings()
    return base.model_copy(
        update={
            "training": base.training.model_copy(
                update={"epochs": epochs, "patience": epochs, "progress": False}
            ),
            "tracking": base.tracking.model_copy(
                update={"model_name": MODEL, "experiment": EXPERIMENT}
            ),
            "gate": base.gate.model_copy(
                update={
                    "min_accuracy": 0.5,
                    "min_roc_auc": 0.5,
                    "min_f1": 0.0,
                    "max_log_loss": 5.0,
                    "champion_margin": 1.0,
                }
            ),
        }
    )


def _owner_step(client: MlflowClient) -> tuple[str, str] | None:
    """(run id, step) of the pipeline run a step is working on now."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    for run in client.search_runs(
        [experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=20
    ):
        owner = run.data.tags.get(tracking.OWNER_TAG, "")
        if owner:
            return run.info.run_id, owner.split()[-1]
    return None


def _epochs_logged(client: MlflowClient, run_id: str) -> bool:
    return bool(client.get_metric_history(run_id, "val_loss"))


def _check_nothing_half_done(client: MlflowClient) -> None:
    versions = client.search_model_versions(f"name = '{MODEL}'")
    for version in versions:
        assert version.tags.get("slipway.run_id"), f"version {version.version} has no lineage"
        mlflow.pyfunc.load_model(f"models:/{MODEL}/{version.version}")
    known = {v.version for v in versions}
    for alias in (CHAMPION, CHALLENGER):
        found = version_by_alias(client, MODEL, alias)
        assert found is None or found.version in known, (alias, found)


@pytest.mark.parametrize("step", ["validate", "train", "evaluate", "register"])
def test_a_pipeline_killed_in_a_step_is_ended_failed_and_the_next_run_starts_clean(
    fault_client: MlflowClient, fault_mlflow: object, fault_data: Path, step: str
) -> None:
    url = fault_client.tracking_uri
    script = _PIPELINE.format(
        tests=str(Path(__file__).parent), url=url, epochs=400 if step == "train" else 3,
        data=str(fault_data), slow_validation=step == "validate",
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        start_new_session=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    killed_run = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _owner_step(fault_client)
            ready = seen is not None and seen[1] == step
            if ready and (step != "train" or _epochs_logged(fault_client, seen[0])):
                killed_run = seen[0]
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
    assert killed_run is not None, f"the pipeline never reached {step}: {err}"
    assert proc.returncode == -signal.SIGKILL
    # No process of the killed pipeline is left.
    assert not [p for p in psutil.process_iter() if _pgid(p.pid) == proc.pid]
    # Killed: the run is still RUNNING, marked by its step's process.
    assert fault_client.get_run(killed_run).info.status == "RUNNING"
    _check_nothing_half_done(fault_client)

    started = time.monotonic()
    result = run_pipeline(fault_client, settings(), fault_data)
    recovery_s = time.monotonic() - started
    killed = fault_client.get_run(killed_run)
    assert killed.info.status == "FAILED"
    assert f"its {step} step" in killed.data.tags[tracking.FAILURE_TAG]
    assert fault_client.get_run(result.run_id).info.status == "FINISHED"
    assert result.registration is not None
    _check_nothing_half_done(fault_client)
    print(f"killed in {step}: the next run recovered and registered in {recovery_s:.1f}s")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
