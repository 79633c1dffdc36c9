"""``slipway serve`` and ``slipway rollout start|status|abort``.

Registered on the main CLI at the end of cli.py; kept here so that serving and rollout
commands change without touching the rest of the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly
from slipway.errors import ServingError

rollout_app = typer.Typer(
    help="Canary rollout of a model version: traffic steps gated on Prometheus metrics.",
    no_args_is_help=True,
)


@friendly
def serve(
    model_dir: Annotated[
        Path | None,
        typer.Option(help="MLflow model folder (KServe mounts the storageUri at /mnt/models)."),
    ] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="Registry URI instead: models:/name@alias or /version.")
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Name on the endpoints (default: the registered name).")
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Version label with --model-dir (env SLIPWAY_MODEL_VERSION).")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id label (env SLIPWAY_RUN_ID).")] = None,
    http_port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on (local stack: 127.0.0.1).")] = (
        "0.0.0.0"  # noqa: S104  (a pod's server must listen on its pod address)
    ),
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Serve a model version with KServe's ModelServer (v1 and v2 protocols, /metrics)."""
    import os

    from slipway.config import load_settings
    from slipway.local.stack import LocalStack
    from slipway.registry import tracking
    from slipway.serving import server

    settings = load_settings(config)
    if (model_dir is None) == (model_uri is None):
        raise ServingError("give exactly one of --model-dir and --model-uri")
    if model_dir is not None:
        name = model_name or os.environ.get("SLIPWAY_MODEL_NAME") or settings.tracking.model_name
        source = server.from_dir(model_dir, name, model_version, run_id)
    else:
        assert model_uri is not None
        client = tracking.client_for(settings.tracking, state_dir)
        stack = LocalStack(state_dir)
        source = server.from_registry(model_uri, stack.state_dir / "models", client)
        if model_name:
            source = server.ModelSource(model_name, source.version, source.run_id, source.model_dir)
    server.run(source, settings.serving, http_port, host)


def serve_main() -> None:
    typer.run(serve)


# ---------------------------------------------------------------- rollout


@rollout_app.command("start")
@friendly
def rollout_start(
    version: Annotated[
        str | None,
        typer.Option(help="Model version to roll out (default: the `challenger` alias)."),
    ] = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    fault_error_rate: Annotated[
        float, typer.Option(help="TESTING: share of canary requests failed on purpose.")
    ] = 0.0,
    fault_latency_ms: Annotated[
        float, typer.Option(help="TESTING: latency added to canary requests.")
    ] = 0.0,
    traffic: Annotated[
        float,
        typer.Option(help="Local backend: send this many synthetic requests per second."),
    ] = 0.0,
) -> None:
    """Deploy the version as a canary, step its traffic, promote or roll back (blocks)."""
    from slipway.rollout.service import start_rollout

    outcome = start_rollout(
        config, state_dir, version, fault_error_rate=fault_error_rate,
        fault_latency_ms=fault_latency_ms, traffic=traffic,
    )  # fmt: skip
    typer.echo(json.dumps(outcome.summary(), indent=2))
    if outcome.decision != "promoted":
        raise typer.Exit(2)


@rollout_app.command("status")
@friendly
def rollout_status(config: ConfigOpt = None, state_dir: StateOpt = None) -> None:
    """The current or last rollout: steps, metrics, decisions, traffic."""
    from slipway.rollout.service import rollout_status as status

    typer.echo(json.dumps(status(config, state_dir), indent=2))


@rollout_app.command("abort")
@friendly
def rollout_abort(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the running rollout.")] = 30,
) -> None:
    """Roll the canary back now (the running rollout stops; champion unchanged)."""
    from slipway.rollout.service import abort_rollout

    typer.echo(abort_rollout(config, state_dir, wait))
