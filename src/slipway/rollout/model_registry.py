"""The rollout and the MLflow model registry: the versions it rolls out, the ``champion``
alias moved on promotion, and the rollout's tags on the candidate version.

The storage URI a version is deployed with is where its files really are, in a form that
KServe's storage initializer downloads: ``s3://bucket/prefix/<experiment>/models/m-<id>/
artifacts``. MLflow itself hands out proxied locations (``mlflow-artifacts:/...``, a path
under the server's ``--artifacts-destination``), which only an MLflow client can read; the
rollout maps them onto the destination (``tracking.artifacts_destination``). The predictor
pod then needs no MLflow client, no tracking server on its start path and no MLflow
credentials: the storage initializer reads the bucket with the pod's IRSA role, as for any
other KServe model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from slipway.errors import RolloutError
from slipway.registry import aliases
from slipway.registry.model_version import NETWORK_TAG, ModelVersion
from slipway.rollout.outcome import RolloutOutcome, StepRecord
from slipway.rollout.records import BaseRecorder

TAG_LIMIT = 5000  # MLflow refuses longer tag values


PROXIED_SCHEME = "mlflow-artifacts"


def artifact_location(client: Any, name: str, version: str) -> str:
    """Where MLflow says the version's files are: the logged model's artifact location for
    an MLflow 3 model (source ``models:/m-...``), else the version's download URI."""
    mv = client.get_model_version(name, version)
    source = str(mv.source or "")
    model_id = source.removeprefix("models:/")
    if source.startswith("models:/m-") and "/" not in model_id:
        return str(client.get_logged_model(model_id).artifact_location)
    return str(client.get_model_version_download_uri(name, version))


def storage_uri_for(location: str, artifacts_destination: str | None) -> str:
    """``location`` as KServe downloads it: a proxied ``mlflow-artifacts:`` location becomes
    the same path under the server's artifact destination; anything else is kept."""
    parsed = urlparse(location)
    if parsed.scheme != PROXIED_SCHEME:
        return location
    if not artifacts_destination:
        return location  # the backend that needs a downloadable URI says so (KServe)
    path = parsed.path.lstrip("/")
    if not path:
        raise RolloutError(f"{location}: a proxied location without a path")
    return f"{artifacts_destination.rstrip('/')}/{path}"


def target_for(
    client: Any,
    name: str,
    version: str,
    cache_dir: Path | None,
    alias: str | None = None,
    artifacts_destination: str | None = None,
) -> ModelVersion:
    """A registered version as a serving target; downloaded into ``cache_dir`` if given.
    ``artifacts_destination``: the MLflow server's, to turn a proxied location into the
    ``s3://`` URI KServe downloads (see the module's docstring)."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(name, version)
        location = artifact_location(client, name, version)
    except MlflowException as exc:
        raise RolloutError(f"{name} version {version}: {exc.message}") from exc
    storage_uri = storage_uri_for(location, artifacts_destination)
    run_id = str((mv.tags or {}).get("slipway.run_id") or mv.run_id or "unknown")
    model_dir = None
    if cache_dir is not None:
        from slipway.serving.server import from_registry

        model_dir = from_registry(f"models:/{name}/{version}", cache_dir, client).model_dir
    network = str((mv.tags or {}).get(NETWORK_TAG) or "mlp")  # untagged: from before the tag
    return ModelVersion(name, str(version), run_id, storage_uri, alias, model_dir, network)


class MlflowChampion:
    """``ChampionRegistry`` over MLflow. Not a record: a failure here propagates (the
    promotion did not complete)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def promote(self, model: ModelVersion, reason: str) -> None:
        aliases.promote(self.client, model.name, model.version, f"rollout: {reason}")


class MlflowTags(BaseRecorder):
    """``slipway.rollout.status|step.N|gitops|analysis|reason|finished_at`` on the
    candidate version. On failure (MLflow down): the remaining tags of that point are not
    written; the rollout, and a rollback, go on."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _tag(self, outcome: RolloutOutcome, key: str, value: str) -> None:
        self.client.set_model_version_tag(outcome.model, outcome.version, key, value[:TAG_LIMIT])

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        self._tag(outcome, "slipway.rollout.status", "running")

    def step_passed(self, outcome: RolloutOutcome, number: int, step: StepRecord) -> None:
        self._tag(outcome, f"slipway.rollout.step.{number}", f"{step.percent}%: {step.reason}")

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        # The statistics of each step's judgement (the last one stands), as JSON.
        number = len(outcome.steps)
        record = {"percent": step.percent, "decision": step.decision, "outcome": step.outcome,
                  "measurements": step.measurements}  # fmt: skip
        self._tag(outcome, f"slipway.rollout.step.{number}.analysis", json.dumps(record))

    def finished(self, outcome: RolloutOutcome) -> None:
        if outcome.gitops is not None:
            self._tag(outcome, "slipway.rollout.gitops", json.dumps(outcome.gitops))
        self._tag(outcome, "slipway.rollout.status", outcome.decision)
        self._tag(outcome, "slipway.rollout.analysis", outcome.decision)
        self._tag(outcome, "slipway.rollout.reason", outcome.reason)
        self._tag(outcome, "slipway.rollout.finished_at", f"{outcome.finished_at:.3f}")
