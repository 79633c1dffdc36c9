"""Starting the predictor: find the model, load it, run KServe's ModelServer.

Where the model comes from:
- ``model_dir``: a folder holding an MLflow model (KServe's storage initializer puts the
  ``storageUri`` at ``/mnt/models``); version and run id come from the arguments or the
  ``SLIPWAY_MODEL_VERSION`` / ``SLIPWAY_RUN_ID`` variables the chart sets.
- ``model_uri``: ``models:/name@alias`` or ``models:/name/version``, resolved through the
  MLflow registry and downloaded once into a cache folder.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipway.config import PayloadSettings, ServingSettings
from slipway.errors import ModelError, ServingError
from slipway.registry.model_version import ModelVersion
from slipway.state_files import locked, write_json

log = logging.getLogger(__name__)

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


def from_dir(model_dir: Path, name: str, version: str | None, run_id: str | None) -> ModelVersion:
    if not model_dir.is_dir():
        raise ServingError(f"model folder {model_dir} does not exist")
    return ModelVersion(
        name,
        version or os.environ.get("SLIPWAY_MODEL_VERSION", "unknown"),
        run_id or os.environ.get("SLIPWAY_RUN_ID", "unknown"),
        # KServe's storage initializer fetched STORAGE_URI into the folder (the chart sets it).
        storage_uri=os.environ.get("STORAGE_URI", ""),
        model_dir=model_dir,
    )


def from_registry(uri: str, cache_dir: Path, client: Any = None) -> ModelVersion:
    """Resolve ``models:/name@alias`` (or ``/version``) and download the version once."""
    match = _MODELS_URI.match(uri)
    if not match:
        raise ServingError(f"not a registry URI: {uri!r} (expected models:/name@alias)")
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = client or MlflowClient()
    name = match["name"]
    try:
        if match["alias"]:
            mv = client.get_model_version_by_alias(name, match["alias"])
        else:
            mv = client.get_model_version(name, match["version"])
    except MlflowException as exc:
        raise ServingError(f"cannot resolve {uri}: {exc.message}") from exc
    version = str(mv.version)
    run_id = str((mv.tags or {}).get("slipway.run_id") or mv.run_id or "unknown")
    target = cache_dir / name / version
    with locked(target.with_name(f"{version}.download")):
        if not (target / COMPLETE).is_file():
            _download(
                lambda folder: mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}", dst_path=str(folder)
                ),
                target,
                f"{name} version {version}",
            )
    return ModelVersion(
        name,
        version,
        run_id,
        storage_uri=str(mv.source or ""),
        alias=match["alias"],
        model_dir=target,
    )


#: Written last into a cached model folder: the download finished. A folder without it (a
#: download cut short, or a cache from before the marker) is downloaded again.
COMPLETE = ".slipway-complete"


def _download(fetch: Callable[[Path], object], target: Path, what: str) -> None:
    """Download into a fresh folder beside ``target``, mark it complete, then move it into
    place; a partial copy at ``target`` is replaced, a failed download leaves nothing."""
    if target.exists():
        log.warning("the cached copy of %s in %s is incomplete: downloading it again", what, target)
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        fetch(partial)
        files = sorted(str(p.relative_to(partial)) for p in partial.rglob("*") if p.is_file())
        if "MLmodel" not in files:
            raise ServingError(f"the download of {what} holds no MLmodel file")
        write_json(partial / COMPLETE, {"model": what, "files": files})
        partial.rename(target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ServingError(
            f"cannot download {what} into {target.parent}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _logging_config(access_log: bool) -> dict[str, Any]:
    from kserve.logging import KSERVE_LOG_CONFIG

    config: dict[str, Any] = copy.deepcopy(KSERVE_LOG_CONFIG)
    if not access_log:
        # The per-request lines (uvicorn's access log, KServe's timing traces) cost more
        # than the prediction; metrics carry the same information.
        config["loggers"]["uvicorn.access"]["level"] = "WARNING"
        # Without a handler uvicorn does not even format the access line's arguments.
        config["loggers"]["uvicorn.access"]["handlers"] = []
        config["loggers"]["kserve.trace"]["level"] = "WARNING"
    return config


def build_model(
    source: ModelVersion, settings: ServingSettings, payloads: PayloadSettings | None = None
) -> Any:
    from slipway.serving.predictor import SlipwayPredictor

    if source.model_dir is None:
        raise ServingError(f"no local copy of {source.name} version {source.version} to serve")

    model = SlipwayPredictor(
        source.name,
        source.model_dir,
        version=source.version,
        run_id=source.run_id,
        max_batch_size=settings.max_batch_size,
        feature_metrics=settings.feature_metrics,
    )
    try:
        model.load()
    except (FileNotFoundError, ModelError) as exc:
        raise ServingError(str(exc)) from exc
    if payloads is not None:
        from slipway.serving import payload_log

        model.payload_log = payload_log.from_settings(
            source.name, source.version, model.preprocessor.input_names, payloads
        )
    return model


def _bind_host(host: str) -> None:
    """Make KServe's REST server listen on ``host``.

    KServe's RESTServer always listens on 0.0.0.0, which is right in a pod; the local stack
    keeps every server on loopback. ModelServer creates its RESTServer inside ``start``, so
    the class it looks up there is replaced by one that sets the host on the uvicorn config
    (read only when the socket is bound).
    """
    import kserve.model_server as model_server

    base = model_server.RESTServer
    if getattr(base, "slipway_host", None) is not None:
        base = base.__mro__[1]

    class BoundRESTServer(base):  # type: ignore[misc, valid-type]
        slipway_host = host

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host

    model_server.RESTServer = BoundRESTServer


def _use_uvloop() -> None:
    """Run the server on uvloop when it is installed.

    ModelServer.start runs its servers with ``asyncio.run``, so uvicorn's own event-loop
    choice (``loop="auto"``) never applies and the standard asyncio loop serves; for small
    requests uvloop halves the per-request cost of the loop and transport.
    """
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # ModelServer asks for the current loop before asyncio.run makes its own; give it one,
    # as the default policy would.
    asyncio.set_event_loop(asyncio.new_event_loop())


ALL_INTERFACES = "0.0.0.0"  # noqa: S104  (in a pod the server must answer on the pod address)


def run(
    source: ModelVersion,
    settings: ServingSettings,
    http_port: int = 8080,
    host: str = ALL_INTERFACES,
    payloads: PayloadSettings | None = None,
) -> None:
    """Serve ``source`` on ``host:http_port`` until SIGTERM/SIGINT (blocks)."""
    import sys

    # kserve.model_server parses sys.argv when imported, with argparse's abbreviations on:
    # our own `--config` would be read as its `--configure_logging`. Our CLI has parsed the
    # arguments already, so KServe gets none.
    sys.argv = sys.argv[:1]
    from kserve import ModelServer
    from kserve import logging as kserve_logging
    from kserve.model_server import app
    from threadpoolctl import threadpool_limits

    from slipway.serving import gateway

    # The forward pass is numpy: its matrix products run on the BLAS thread pool.
    threadpool_limits(limits=settings.torch_threads, user_api="blas")
    kserve_logging.configure_logging(_logging_config(settings.access_log))
    if settings.fault_error_rate or settings.fault_latency_ms:
        log.warning(
            "TEST-ONLY FAULT INJECTION ON: error rate %.3f, added latency %.1f ms",
            settings.fault_error_rate, settings.fault_latency_ms,
        )  # fmt: skip
    model = build_model(source, settings, payloads)
    if host != ALL_INTERFACES:
        _bind_host(host)
    gateway.install(
        app,
        lambda inner: gateway.Gateway(
            inner,
            model,
            lean=settings.lean_http,
            max_body_bytes=settings.max_body_bytes,
            fault_error_rate=settings.fault_error_rate,
            fault_latency_ms=settings.fault_latency_ms,
        ),
    )
    _use_uvloop()
    # Everything loaded so far (torch, KServe, the model) lives as long as the process:
    # keep it out of the cyclic garbage collector's full passes, which otherwise walk a few
    # hundred thousand objects now and then in the middle of a request.
    gc.freeze()
    server = ModelServer(
        http_port=http_port,
        enable_grpc=False,
        workers=1,
        enable_latency_logging=settings.access_log,
        enable_docs_url=False,
    )
    server.start([model])
