"""The composition root: what the library needs, built from the settings in one place.

Library functions take typed values (``Settings``, an ``MlflowClient``, a rollout backend),
never a config path; the CLI and the workflow steps turn paths into a ``Runtime`` and ask
it for those values. This module is the only one that knows the local stack
(``slipway.local``): on the cluster every address comes from the settings or the
environment the pod is given, and the local stack is never looked at.

Where each address comes from, first match wins:

- MLflow: ``tracking.tracking_uri``, then ``MLFLOW_TRACKING_URI``, then the local stack's;
- Prometheus: ``rollout.prometheus_url``, then the local stack's;
- S3: the environment (``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, credentials from the
  AWS chain: IRSA on the cluster), then the local stack's S3 stand-in, whose endpoint and
  local credentials an entry point (the CLI, a step's runner) puts in its process's
  environment with ``export_storage_environment`` (so the steps it runs in-process and the
  processes it starts inherit them);
- MLflow's artifact destination (for KServe's storage URI):
  ``tracking.artifacts_destination``, then the local stack's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from slipway.config import Settings, environ, load_settings
from slipway.errors import RolloutError, StackError
from slipway.local.processes import Managed
from slipway.local.stack import LocalStack, default_state_dir

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from slipway.rollout.ports import RolloutBackend
    from slipway.rollout.prometheus import PrometheusClient


@dataclass
class Runtime:
    settings: Settings
    state_dir: Path = field(default_factory=default_state_dir)
    # The file the settings came from (none: the packaged config). Only what hands the
    # configuration on to another process needs it: a workflow argument, a server command.
    config_path: Path | None = None

    @classmethod
    def load(cls, config: Path | None = None, state_dir: Path | None = None) -> Runtime:
        """From a config file (none: the packaged one) and a state folder (none: .slipway)."""
        state = (state_dir or default_state_dir()).resolve()
        if state.exists() and not state.is_dir():
            raise StackError(f"state folder {state} is a file, not a folder")
        return cls(load_settings(config), state, config.resolve() if config else None)

    # ---------------------------------------------------------------- the local stack

    @cached_property
    def stack(self) -> LocalStack:
        """The embedded default's servers (MLflow, Prometheus, model servers, router)."""
        return LocalStack(self.state_dir)

    def start_local_stack(self, artifacts_in_s3: bool = False) -> None:
        """Start what is not running of the local stack (a no-op when it all runs);
        ``artifacts_in_s3``: MLflow's artifacts in the stack's S3 bucket, not a folder.
        With it: the Pushgateway, the Alertmanager, slipway's alert receiver (retraining
        with these settings) and the charts' alert rules when run from a checkout."""
        from slipway.local.stack import RULES_SOURCE

        rules = Path(environ().get("SLIPWAY_ALERT_RULES", str(RULES_SOURCE)))
        self.stack.up(
            scrape_interval=self.settings.rollout.scrape_interval_seconds,
            artifacts_in_s3=artifacts_in_s3,
            receiver=self.receiver_command,
            rules_source=rules if rules.is_dir() else None,
        )

    def receiver_command(self, port: int) -> list[str]:
        """slipway's alert receiver on ``port``, retraining with this runtime's settings."""
        import sys

        config = ["--config", str(self.config_path)] if self.config_path else []
        return [
            sys.executable, "-m", "slipway.cli", "drift", "receiver",
            "--port", str(port), "--state-dir", str(self.state_dir), *config,
        ]  # fmt: skip

    @property
    def model_cache_dir(self) -> Path:
        """Where registry versions are downloaded before a local server serves them."""
        return self.state_dir / "models"

    # ---------------------------------------------------------------- addresses

    def tracking_uri(self) -> str:
        configured = self.settings.tracking.tracking_uri or environ().get("MLFLOW_TRACKING_URI")
        if configured:
            return configured
        uri = self.stack.tracking_uri()
        if uri is None:
            raise StackError(
                "no MLflow tracking URI: set tracking.tracking_uri or MLFLOW_TRACKING_URI, "
                "or start the local stack with `slipway local up`"
            )
        return uri

    def storage_environment(self) -> dict[str, str]:
        """The local stack's S3 endpoint and local credentials, when the environment names
        no S3 and no credentials of its own (a pod with IRSA does; the stack is then never
        looked at). Empty when neither applies."""
        env = environ()
        own = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN")
        if any(env.get(name) for name in own):
            return {}
        from slipway.local.stack import s3_environment

        try:
            endpoint = self.stack.s3_endpoint()
        except StackError:
            return {}  # a broken state file is reported by the command that needs the stack
        return s3_environment(endpoint) if endpoint else {}

    def export_storage_environment(self) -> None:
        """Put ``storage_environment()`` into this process's environment (entry points only:
        it outlives the call)."""
        os.environ.update(self.storage_environment())

    def artifacts_destination(self) -> str | None:
        """Where the MLflow server keeps proxied artifacts (s3://), if the rollout may know."""
        return self.settings.tracking.artifacts_destination or self.stack.artifacts_destination()

    def prometheus_url(self) -> str:
        url = self.settings.rollout.prometheus_url or self.stack.prometheus_url()
        if url is None:
            raise StackError(
                "no Prometheus: set rollout.prometheus_url, or start the local stack "
                "(`slipway local up`)"
            )
        return url

    def pushgateway_url(self) -> str:
        url = self.settings.monitoring.pushgateway_url or self.stack.pushgateway_url()
        if url is None:
            raise StackError(
                "no Pushgateway: set monitoring.pushgateway_url, or start the local stack "
                "(`slipway local up`)"
            )
        return url

    # ---------------------------------------------------------------- clients

    @cached_property
    def mlflow(self) -> MlflowClient:
        from slipway.registry import tracking

        return tracking.connect(self.tracking_uri(), self.settings.tracking.registry_uri)

    def platform_config(self) -> dict[str, str]:
        """What the cluster's ``slipway-platform`` ConfigMap gives each step pod, for this
        machine: where MLflow is, and where the state folder is."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri(), "SLIPWAY_HOME": str(self.state_dir)}

    # ---------------------------------------------------------------- the rollout

    def rollout_backend(self, canary_env: dict[str, str] | None = None) -> RolloutBackend:
        """The serving platform a rollout works on, from ``rollout.backend``: the one place
        that chooses. ``canary_env``: variables for the canary's server (fault injection),
        which only the local backend can start."""
        r = self.settings.rollout
        if r.backend == "kserve":
            if canary_env:
                raise RolloutError("fault injection is for the local backend only")
            from slipway.rollout.backends.kserve import KServeBackend

            k = r.kserve
            return KServeBackend(
                k.inference_service or self.settings.tracking.model_name,
                k.namespace,
                ready_timeout=k.ready_timeout_seconds,
                kubeconfig=k.kubeconfig,
                context=k.context,
            )
        from slipway.rollout.backends.local import LocalBackend

        return LocalBackend(
            self.stack, self.config_path, canary_env, model_cache_dir=self.model_cache_dir
        )

    def rollout_metrics(self) -> PrometheusClient:
        """The rollout's metric source: the Prometheus the settings (or the stack) name."""
        from slipway.rollout.prometheus import PrometheusClient

        return PrometheusClient(self.prometheus_url())

    @staticmethod
    def process_alive(pid: int) -> bool:
        """Whether the process ``pid`` (a rollout's, from its state file) still runs."""
        return Managed("rollout", pid, 0, "", "", "").alive()
