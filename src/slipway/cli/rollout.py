"""``slipway rollout start|status|abort|recover``: a canary rollout of a model version."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime

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
) -> None:
    """Deploy the version as a canary, step its traffic, promote or roll back (blocks)."""
    from slipway.rollout.service import start_rollout
    from slipway.rollout.signals import Terminated

    try:
        outcome = start_rollout(
            runtime(config, state_dir), version, fault_error_rate=fault_error_rate,
            fault_latency_ms=fault_latency_ms, traffic=traffic,
        )  # fmt: skip
    except Terminated as exc:
        # The controller rolled back and recorded why before this; exit as SIGTERM asks.
        typer.secho(f"error: rollout stopped: {exc}; rolled back", fg=typer.colors.RED, err=True)
        raise typer.Exit(128 + exc.signum) from None
    typer.echo(json.dumps(outcome.summary(), indent=2))
    if outcome.decision != "promoted":
        raise typer.Exit(2)


@rollout_app.command("status")
@friendly
def rollout_status(config: ConfigOpt = None, state_dir: StateOpt = None) -> None:
    """The current or last rollout: steps, metrics, decisions, traffic."""
    from slipway.rollout.service import rollout_status as status

    typer.echo(json.dumps(status(runtime(config, state_dir)), indent=2))


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
