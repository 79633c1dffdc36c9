"""``slipway rollout start|status|history|abort|recover``: a canary rollout of a model
version.

``start``, ``status`` and ``history`` write for a person on a terminal (a live progress
line, tables) and JSON when stdout is not a terminal (a pipe, a log) or with ``--json``;
``--human`` forces the terminal form.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime
from slipway.errors import RolloutError

VersionOpt = Annotated[
    str | None, typer.Option(help="Model version to roll out (default: the `challenger` alias).")
]
# Test-only faults of the canary (the local backend), for rollback drills.
FaultErrorRateOpt = Annotated[
    float, typer.Option(help="TESTING: share of canary requests failed on purpose.")
]
FaultLatencyOpt = Annotated[float, typer.Option(help="TESTING: latency added to canary requests.")]
TrafficOpt = Annotated[
    float, typer.Option(help="Local backend: send this many synthetic requests per second.")
]

JsonOpt = Annotated[
    bool | None,
    typer.Option(
        "--json/--human",
        help="JSON (one line per event for start), or the terminal form; default: JSON "
        "when stdout is not a terminal.",
    ),
]
ModelOpt = Annotated[
    str | None, typer.Option(help="Registered model (default: the configured model).")
]
LimitOpt = Annotated[int, typer.Option(help="Show at most this many rollouts, newest first.")]


def _as_json(choice: bool | None) -> bool:
    return not sys.stdout.isatty() if choice is None else choice


rollout_app = typer.Typer(
    help="Canary rollout of a model version: traffic steps gated on Prometheus metrics.",
    no_args_is_help=True,
)


@rollout_app.command("start")
@friendly
def rollout_start(
    version: VersionOpt = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    fault_error_rate: FaultErrorRateOpt = 0.0,
    fault_latency_ms: FaultLatencyOpt = 0.0,
    traffic: TrafficOpt = 0.0,
    as_json: JsonOpt = None,
) -> None:
    """Deploy the version as a canary, step its traffic, promote or roll back (blocks),
    showing its progress."""
    from slipway.rollout.history import entry_detail, entry_of_state
    from slipway.rollout.progress import ProgressRecorder
    from slipway.rollout.service import start_rollout
    from slipway.rollout.signals import Terminated

    rt = runtime(config, state_dir)
    json_lines = _as_json(as_json)
    r = rt.settings.rollout
    shadow = r.shadow.duration_seconds if r.shadow.percent else None
    progress = ProgressRecorder(sys.stdout, r.window_seconds, json_lines, shadow_seconds=shadow)
    try:
        outcome = start_rollout(
            rt, version, fault_error_rate=fault_error_rate, fault_latency_ms=fault_latency_ms,
            traffic=traffic, progress=[progress],
        )  # fmt: skip
    except Terminated as exc:
        # The controller rolled back and recorded why before this; exit as SIGTERM asks.
        typer.secho(f"error: rollout stopped: {exc}; rolled back", fg=typer.colors.RED, err=True)
        raise typer.Exit(128 + exc.signum) from None
    if not progress.decided:
        # A rerun that only finished the rollout a killed controller left (recovery): no
        # controller ran, so the decision is written here.
        progress.finished(outcome)
    if not json_lines:  # JSON: the decision event, with the whole outcome, was the last line
        typer.echo(entry_detail(entry_of_state(outcome.summary()), time.time()))
    if outcome.decision != "promoted":
        raise typer.Exit(2)


@rollout_app.command("status")
@friendly
def rollout_status(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    as_json: JsonOpt = None,
    model: Annotated[
        str | None,
        typer.Option(help="Also the model's newest rollout recorded in MLflow (any machine's)."),
    ] = None,
) -> None:
    """The current or last rollout: steps, metrics, decisions, traffic (this state folder's;
    with --model, also the newest one MLflow records, wherever it ran)."""
    from slipway.rollout.history import entry_detail, entry_of_state, history_of, read_history
    from slipway.rollout.service import rollout_status as status

    rt = runtime(config, state_dir)
    state = status(rt)
    recorded = None
    if model is not None:
        newest = history_of(model, read_history(rt.mlflow, model), limit=1)
        recorded = newest[0] if newest else None
        state["recorded"] = recorded.to_dict() if recorded else None
    if _as_json(as_json):
        typer.echo(json.dumps(state, indent=2))
        return
    if state.get("rollout", True) is None:
        typer.echo(state["message"])
    else:
        typer.echo(entry_detail(entry_of_state(state), time.time()))
        typer.echo(f"  traffic    {_split(state.get('traffic_now'))}")
    if model is not None:
        typer.echo(f"newest rollout of {model} recorded in MLflow:")
        if recorded is None:
            typer.echo("  none")
        else:
            typer.echo(entry_detail(recorded, time.time()))


def _split(traffic: object) -> str:
    if isinstance(traffic, dict):
        return ", ".join(f"v{version} {share}%" for version, share in traffic.items()) or "-"
    return str(traffic)


@rollout_app.command("history")
@friendly
def rollout_history(
    model: ModelOpt = None,
    limit: LimitOpt = 20,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    as_json: JsonOpt = None,
) -> None:
    """Past rollouts of a model with their decisions, from its MLflow version tags (and
    this machine's rollout state when it has one)."""
    from slipway.rollout.history import history_of, history_table, read_history, with_local
    from slipway.rollout.records import StateFile
    from slipway.rollout.service import STATE_FILE

    if limit < 1:
        raise RolloutError(f"--limit must be at least 1, not {limit}")
    rt = runtime(config, state_dir)
    name = model or rt.settings.tracking.model_name
    entries = history_of(name, read_history(rt.mlflow, name))
    try:
        entries = with_local(entries, StateFile(rt.state_dir / STATE_FILE).read(), name)
    except RolloutError as exc:  # the local state is a nicety here; MLflow's tags stand
        typer.secho(f"warning: {exc}", fg=typer.colors.YELLOW, err=True)
    entries = entries[:limit]
    if _as_json(as_json):
        typer.echo(json.dumps({"model": name, "rollouts": [e.to_dict() for e in entries]}))
    elif not entries:
        typer.echo(f"no rollout of {name} is recorded in MLflow")
    else:
        typer.echo(history_table(entries, time.time()))


@rollout_app.command("abort")
@friendly
def rollout_abort(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the running rollout.")] = 30,
) -> None:
    """Roll the canary back now (the running rollout stops; champion unchanged)."""
    from slipway.rollout.service import abort_rollout

    typer.echo(abort_rollout(runtime(config, state_dir), wait))


@rollout_app.command("recover")
@friendly
def rollout_recover(
    model: Annotated[str, typer.Option(help="Registered model whose rollout to recover.")],
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Roll back a rollout its controller left unfinished (killed, evicted), or finish its
    promotion if that had begun; a no-op when nothing is in flight."""
    from slipway.rollout.service import recover_model

    typer.echo(recover_model(runtime(config, state_dir), model))
