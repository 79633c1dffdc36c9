"""The tuning fan-out's steps: propose the trials, fit each one (Argo's withParam), and pick
the best for the train step."""

# No `from __future__ import annotations` here: Hera reads the step functions'
# annotations as objects (Annotated[str, Parameter(...)]), not as strings.
import json
from typing import Annotated

from hera.workflows import Parameter

from slipway.workflow.templates.common import cache_config, step, step_runtime
from slipway.workflow.transient import exit_code_on_transient


@step(cpu=("250m", "1"), memory=("512Mi", "1Gi"), retry=False,
       annotations=cache_config("tuning"))  # fmt: skip
def propose_trials(
    trials: Annotated[str, Parameter(description="How many trials; 0: no tuning.")] = "0",
    config: str = "",
) -> Annotated[str, Parameter(name="trials", description="JSON list: trial, params.")]:
    """The trials to run, from the config's search space and sampler (pure: no I/O)."""
    from slipway.errors import ConfigError
    from slipway.workflow import tuning

    try:
        count = int(trials)
    except ValueError:
        raise ConfigError(f"tuning trials {trials!r} is not a whole number") from None
    proposed = tuning.propose(step_runtime(config).settings.tuning, count)
    for trial in proposed:
        print(f"trial {trial.index}: {json.dumps(trial.params, sort_keys=True)}")
    return json.dumps([t.as_item() for t in proposed])


@step(cpu=("1", "4"), memory=("2Gi", "8Gi"),
       annotations=cache_config("data", "training", "device"))  # fmt: skip
def tune_trial(
    run_id: Annotated[str, Parameter(name="run-id")],
    data: str,
    trial: Annotated[str, Parameter(description="The trial's number.")],
    params: Annotated[str, Parameter(description="The trial's training settings, JSON.")],
    config: str = "",
) -> None:
    """Fit with one trial's parameters: a child MLflow run of the pipeline's run."""
    from slipway.workflow import tuning

    with exit_code_on_transient():
        runtime = step_runtime(config)
        loss = tuning.run_trial(
            runtime.mlflow, runtime.settings, run_id, data, int(trial), tuning.parse(params)
        )
    print(f"trial {trial}: {tuning.METRIC}={loss:.6f}")


@step(cpu=("250m", "1"), memory=("512Mi", "1Gi"), annotations=cache_config("tuning"))
def pick_best(
    run_id: Annotated[str, Parameter(name="run-id")],
    config: str = "",
) -> Annotated[str, Parameter(name="hyperparameters", description="JSON; empty: no trials.")]:
    """The best trial's parameters (lowest validation loss), recorded on the run."""
    from slipway.workflow import tuning

    with exit_code_on_transient():
        client = step_runtime(config).mlflow
        best = tuning.best_trial(client, run_id)
        if best is None:
            print("no trials: training takes the configured settings")
            return ""
        index, params = best
        client.set_tag(run_id, "slipway.tuning.best_trial", str(index))
    text = json.dumps(params, sort_keys=True)
    print(f"best trial {index}: {text}")
    return text
