"""What a slipway step's cache key digests (executor.cache.Fingerprint): data by content
(a file's bytes, an ``s3://`` object's bytes read through the stack's S3), and the settings
sections the step reads, loaded as the step would load them (its ``config`` input, with
its environment's ``SLIPWAY_*`` overrides), the data contract's content with the data
section, and the MLflow server the step talks to (the run ids it hands on live there)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from slipway.config import load_settings, step_environment
from slipway.data.storage import DataLocation, read_bytes
from slipway.errors import DataError, SlipwayError, WorkflowError
from slipway.workflow.executor.cache import FileFingerprint


class SettingsFingerprint:
    """``environment``: what every step's pod is given by the platform (the stack's S3)."""

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        self.environment = dict(environment or {})
        self.files = FileFingerprint()

    def data(self, value: str) -> str | None:
        if not value.startswith("s3://"):
            return self.files.data(value)
        try:
            with step_environment(self.environment):
                content = read_bytes(DataLocation.parse(value))
        except DataError as exc:
            raise WorkflowError(f"cannot digest {value} for the step cache: {exc}") from exc
        return "sha256:" + hashlib.sha256(content).hexdigest()

    def config(
        self, inputs: Mapping[str, str], env: Mapping[str, str], sections: list[str] | None
    ) -> str:
        config = inputs.get("config", "")
        try:
            with step_environment(self.environment | dict(env)):
                settings = load_settings(Path(config) if config else None)
        except SlipwayError as exc:
            raise WorkflowError(f"the step cache cannot read the config: {exc}") from exc
        dumped = settings.model_dump(mode="json")
        chosen = {k: v for k, v in dumped.items() if sections is None or k in sections}
        if sections is None or "data" in sections:
            chosen["contract-content"] = self.files.data(str(settings.data.contract))
        # Steps hand over through MLflow run ids: a cached id is only good on its server.
        chosen["mlflow"] = dict(env).get("MLFLOW_TRACKING_URI") or settings.tracking.tracking_uri
        text = json.dumps(chosen, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
