"""``slipway serve``: the KServe predictor for a model folder or a registry version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.common import ConfigOpt, StateOpt, friendly, runtime
from slipway.errors import ServingError


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
    from dataclasses import replace

    from slipway.serving import server

    rt = runtime(config, state_dir)
    if (model_dir is None) == (model_uri is None):
        raise ServingError("give exactly one of --model-dir and --model-uri")
    if model_dir is not None:
        name = model_name or os.environ.get("SLIPWAY_MODEL_NAME") or rt.settings.tracking.model_name
        source = server.from_dir(model_dir, name, model_version, run_id)
    else:
        assert model_uri is not None
        source = server.from_registry(model_uri, rt.model_cache_dir, rt.mlflow)
        if model_name:
            source = replace(source, name=model_name)
    server.run(source, rt.settings.serving, http_port, host, rt.settings.monitoring.payloads)
