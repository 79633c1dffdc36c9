"""Settings: a YAML file plus ``SLIPWAY_*`` environment overrides, validated at start.

Every knob of training, validation, gating and tracking lives here, so the training code
hard-codes nothing. Environment variables win over the file: ``SLIPWAY_TRAINING__EPOCHS=5``
overrides ``training.epochs``. An unknown or invalid key fails with its dotted path named.

``environ()`` is the environment slipway reads (settings, ``SLIPWAY_HOME``,
``MLFLOW_TRACKING_URI``): the process's, overlaid by the variables of the workflow step
running in this context, which the local executor gives a step with ``step_environment``
instead of changing ``os.environ`` for the whole process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from slipway.errors import ConfigError

_STEP_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar(
    "slipway_step_environment", default=None
)


def environ() -> Mapping[str, str]:
    """``os.environ``, overlaid by the running step's variables (see ``step_environment``)."""
    step = _STEP_ENVIRONMENT.get()
    return os.environ if step is None else {**os.environ, **step}


@contextmanager
def step_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` on top of ``os.environ`` for ``environ()`` in this context only (this
    thread or task), until the block ends; ``os.environ`` itself is never changed."""
    token = _STEP_ENVIRONMENT.set(dict(values))
    try:
        yield
    finally:
        _STEP_ENVIRONMENT.reset(token)


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading ``environ()`` instead of os.environ."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            _without_fault_variables(environ()),
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


# Test-only fault injection (serving.fault_*) is read from the config file only: a variable
# in a pod's environment (a chart value, a stray `kubectl set env`) must never make a real
# predictor fail on purpose. See ServingSettings.fault_injection.
_FAULT_VARIABLE_PREFIX = "SLIPWAY_SERVING__FAULT_"


def _without_fault_variables(env: Mapping[str, str]) -> Mapping[str, str]:
    ignored = sorted(k for k in env if k.upper().startswith(_FAULT_VARIABLE_PREFIX))
    if not ignored:
        return env
    logging.getLogger(__name__).warning(
        "ignoring %s: test-only fault injection is set in the config file only "
        "(serving.fault_injection: true), never from the environment",
        ", ".join(ignored),
    )
    return {k: v for k, v in env.items() if k not in ignored}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(_Section):
    contract: Path = Field(
        description="Dataset contract (YAML); relative paths are resolved "
        "against the config file's folder."
    )
    train: Path | None = Field(default=None, description="Training data, CSV or Parquet.")
    reference: Path | None = Field(
        default=None, description="Reference data for distribution checks; none skips them."
    )


class ValidationSettings(_Section):
    psi_max: float = Field(0.2, gt=0, description="Largest population stability index per column.")
    ks_statistic_max: float = Field(
        0.1, gt=0, le=1, description="Largest two-sample Kolmogorov-Smirnov statistic (numeric)."
    )
    psi_bins: int = Field(10, ge=2, le=100, description="Quantile bins for numeric PSI.")


class TrainingSettings(_Section):
    seed: int = Field(42, ge=0)
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 32], min_length=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=1)
    epochs: int = Field(30, ge=1)
    patience: int = Field(5, ge=1, description="Epochs without validation improvement before stop.")
    min_delta: float = Field(1e-4, ge=0, description="Smallest validation-loss gain that counts.")
    validation_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    num_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads; none: torch's."
    )
    progress: bool = Field(True, description="Show a progress bar on a terminal.")

    @model_validator(mode="after")
    def _hidden_positive(self) -> TrainingSettings:
        if any(size < 1 for size in self.hidden_sizes):
            raise ValueError("hidden_sizes must all be at least 1")
        return self


class GateSettings(_Section):
    min_accuracy: float = Field(0.7, ge=0, le=1)
    min_roc_auc: float = Field(0.75, ge=0, le=1)
    min_f1: float = Field(0.5, ge=0, le=1)
    max_log_loss: float = Field(0.6, gt=0)
    champion_margin: float = Field(
        0.01, ge=0, description="How much worse than the champion a challenger may be, per metric."
    )


class TrackingSettings(_Section):
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; none: the local stack's, when it is up."
    )
    experiment: str = "slipway"
    model_name: str = Field("churn-classifier", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    registry_uri: str | None = None
    artifacts_destination: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="The MLflow server's --artifacts-destination (s3://bucket/prefix): the "
        "rollout turns a version's proxied mlflow-artifacts: location into an s3:// storage "
        "URI under it for KServe; none: the local stack's, when its artifacts are in S3.",
    )


class ServingSettings(_Section):
    """The predictor (slipway.serving): request limits, metrics, test-only fault injection."""

    max_batch_size: int = Field(
        256, ge=1, description="Most instances in one request; more answers HTTP 413."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body in bytes; more answers HTTP 413."
    )
    lean_http: bool = Field(
        True,
        description="Answer predict/infer in slipway's lean ASGI layer in front of KServe's "
        "app (false: through KServe's own FastAPI routes; same model, slower).",
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description="BLAS threads of the predictor's numpy forward pass (named for the torch "
        "forward it replaced).",
    )
    access_log: bool = Field(
        False, description="One log line per request (uvicorn's access log, KServe's timings)."
    )
    feature_metrics: bool = Field(
        True, description="Export per-feature input summaries (drift) on /metrics."
    )
    fault_injection: bool = Field(
        False,
        description="TEST/DEMO ONLY: allow fault_error_rate and fault_latency_ms. Read from the "
        "config file only; SLIPWAY_SERVING__FAULT_* variables are ignored, so no deployment's "
        "environment can turn faults on.",
    )
    fault_error_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="TEST ONLY: fraction of predict requests answered HTTP 500 on purpose "
        "(exercises rollback); needs fault_injection. Config file only.",
    )
    fault_latency_ms: float = Field(
        0.0,
        ge=0,
        description="TEST ONLY: latency added to every predict request, in milliseconds; "
        "needs fault_injection. Config file only.",
    )

    @model_validator(mode="after")
    def _faults_need_the_switch(self) -> ServingSettings:
        if not self.fault_injection and (self.fault_error_rate or self.fault_latency_ms):
            raise ValueError(
                "fault_error_rate and fault_latency_ms are test-only: they need "
                "serving.fault_injection: true in the same config file"
            )
        return self


class GitOpsSettings(_Section):
    """Where promotion records the serving model version (rollback writes nothing)."""

    enabled: bool = Field(True, description="Record promotions in git at all.")
    repo_dir: Path = Field(Path("."), description="Local git checkout holding the values files.")
    values_file: str = Field(
        "argocd/values/{environment}/model-serving.yaml",
        description="Values file of the model-serving chart, relative to the repository root; "
        "`{environment}` is replaced.",
    )
    environment: str = Field("dev", pattern=r"^[a-z0-9][a-z0-9-]*$")
    branch: str = Field(
        "slipway/promote-{model}-v{version}",
        description="Branch the promotion commit goes on (`{model}`, `{version}` replaced).",
    )
    base_branch: str = Field("main", description="Branch a pull request targets.")
    github_repo: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="owner/name: record through the GitHub REST API instead of a local commit "
        "(the token variable must then be set).",
    )
    target: Literal["local", "branch", "pull_request"] | None = Field(
        None,
        description="local: a commit on `branch` of the checkout at repo_dir; branch: a commit "
        "straight onto base_branch through the GitHub API; pull_request: `branch` and a pull "
        "request into base_branch. none: pull_request when github_repo is set, else local.",
    )
    github_api_url: str = Field("https://api.github.com", description="GitHub REST API base.")
    github_token_env: str = Field(
        "GITHUB_TOKEN",
        description="Name of the environment variable holding the token (never the token).",
    )
    token_secret: str = Field(
        "git-token",
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Kubernetes Secret (key `token`) that fills the token variable in a "
        "workflow pod; named in the error when the token is missing.",
    )

    @property
    def effective_target(self) -> Literal["local", "branch", "pull_request"]:
        if self.target is not None:
            return self.target
        return "pull_request" if self.github_repo else "local"

    @model_validator(mode="after")
    def _github_target_has_a_repo(self) -> GitOpsSettings:
        if self.target in ("branch", "pull_request") and not self.github_repo:
            raise ValueError(f"gitops.target {self.target} needs gitops.github_repo")
        return self


class KServeSettings(_Section):
    namespace: str = Field("model-serving", description="Namespace of the InferenceServices.")
    inference_service: str | None = Field(
        None, description="InferenceService name; none: the model name."
    )
    ready_timeout_seconds: float = Field(600, gt=0)
    kubeconfig: Path | None = Field(None, description="none: in-cluster, else ~/.kube/config.")
    context: str | None = None


class RolloutSettings(_Section):
    """Canary analysis: traffic steps, windows and the thresholds that gate promotion."""

    backend: Literal["local", "kserve"] = Field(
        "local", description="local: model servers behind slipway's router; kserve: the cluster."
    )
    steps: list[int] = Field(
        default_factory=lambda: [10, 50, 100],
        min_length=1,
        description="Canary traffic percentages, increasing, ending at 100.",
    )
    window_seconds: float = Field(60, gt=0, description="Analysis window of one step.")
    check_interval_seconds: float = Field(
        5, gt=0, description="How often a breach is looked for while a window runs."
    )
    min_requests: int = Field(
        50, ge=1, description="Canary requests a window needs before it can be judged."
    )
    max_extensions: int = Field(
        2, ge=0, description="Windows a step may be extended for lack of traffic; then rollback."
    )
    max_error_rate_increase: float = Field(
        0.01, ge=0, le=1, description="Largest canary error rate minus champion error rate."
    )
    max_p99_ratio: float = Field(1.5, ge=1, description="Largest canary p99 / champion p99.")
    p99_ratio_floor_ms: float = Field(
        10,
        ge=0,
        description="p99 latencies below this are not compared as a ratio (histogram buckets "
        "make tiny latencies too coarse to divide).",
    )
    max_p99_ms: float = Field(500, gt=0, description="Absolute bound on the canary's p99.")
    confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="Confidence at which the canary's error rate must be shown higher than the "
        "champion's (one-sided Fisher's exact test) before it counts as a breach.",
    )
    max_score_psi: float | None = Field(
        0.25,
        gt=0,
        description="Largest PSI of the canary's prediction scores against the champion's; "
        "none: the score gate is off.",
    )
    min_score_samples: int | None = Field(
        None,
        ge=1,
        description="Scores each side needs before their distributions are compared; "
        "none: min_requests.",
    )
    dry_run: list[Literal["error_rate", "latency", "scores"]] = Field(
        default_factory=list,
        description="Metrics measured and recorded but never acted on.",
    )
    prometheus_url: str | None = Field(
        None, description="Prometheus HTTP API; none: the local stack's."
    )
    scrape_interval_seconds: float = Field(
        1, gt=0, description="Scrape interval of the local stack's Prometheus."
    )
    promotion_attempts: int = Field(
        4,
        ge=1,
        description="Tries of each promotion stage (backend, alias, git) on errors that may pass.",
    )
    promotion_backoff_seconds: float = Field(
        1, ge=0, description="First wait between tries; it doubles each time."
    )
    promotion_backoff_max_seconds: float = Field(30, ge=0, description="Longest wait.")
    kserve: KServeSettings = KServeSettings()
    gitops: GitOpsSettings = GitOpsSettings()

    @model_validator(mode="after")
    def _steps_increase(self) -> RolloutSettings:
        if any(not 0 < s <= 100 for s in self.steps):
            raise ValueError("steps must be percentages in (0, 100]")
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("steps must increase")
        if self.steps[-1] != 100:
            raise ValueError("the last step must be 100")
        return self


class PayloadSettings(_Section):
    """What the predictor records of what it serves (slipway.serving.payload_log)."""

    sample_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of requests recorded (inputs, scores, version, time); 0 turns "
        "recording off.",
    )
    directory: Path | None = Field(
        None, description="Where the rotating files go; none: payloads/ in the state folder."
    )
    max_file_bytes: int = Field(
        16 * 1024 * 1024, ge=4096, description="A file is closed and a new one opened past this."
    )
    max_files: int = Field(
        64, ge=1, description="Closed files kept per model version; the oldest go first."
    )
    flush_seconds: float = Field(
        1.0, gt=0, description="How often the background writer drains what was recorded."
    )
    upload_uri: str | None = Field(
        None,
        description="s3://bucket/prefix: closed files are uploaded there and removed locally "
        "(the cluster's datasets bucket); none keeps them in the folder.",
    )


class DriftSettings(_Section):
    """The drift step on served payloads (slipway.monitoring.drift)."""

    window_hours: float = Field(24, gt=0, description="Served rows of this many past hours.")
    min_rows: int = Field(
        200, ge=1, description="Fewer served rows than this are reported as too little data."
    )
    num_method: str | None = Field(
        None, description="Evidently's method for numeric columns; none: Evidently's default."
    )
    cat_method: str | None = Field(
        None, description="Evidently's method for categorical columns; none: its default."
    )
    per_column_method: dict[str, str] = Field(
        default_factory=dict, description="Evidently's method for named columns (wins)."
    )
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Drifted share of columns at which the data has drifted."
    )
    include_scores: bool = Field(
        True, description="Compare the served scores too (against the reference's, re-scored)."
    )


class RetrainingSettings(_Section):
    """slipway's alert receiver (slipway.monitoring.receiver): retraining from an alert."""

    alerts: list[str] = Field(
        default_factory=lambda: ["SlipwayDriftDetected"],
        description="Alert names that start a retraining.",
    )
    cooldown_seconds: float = Field(
        3600, ge=0, description="After a retraining starts, alerts for that model wait this long."
    )
    target: str | None = Field(
        None, description="Run the training workflow only up to this task (none: all of it)."
    )


class MonitoringSettings(_Section):
    """Payload recording, the drift step, its metrics and retraining from an alert."""

    payloads: PayloadSettings = PayloadSettings()
    drift: DriftSettings = DriftSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    pushgateway_url: str | None = Field(
        None, description="Where the drift step pushes its metrics; none: the local stack's."
    )


class TuningDimension(_Section):
    """One hyperparameter's search range: ``choices``, or ``low``..``high`` (``log`` scale)."""

    choices: list[Any] | None = Field(None, min_length=1, description="The values to try.")
    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="Sample low..high on a log scale.")
    integer: bool = Field(False, description="low..high are whole numbers.")

    @model_validator(mode="after")
    def _one_form(self) -> TuningDimension:
        ranged = self.low is not None and self.high is not None
        if (self.choices is None) == (not ranged) or (self.low is None) != (self.high is None):
            raise ValueError("give choices, or low and high (not both)")
        if ranged and not self.low < self.high:  # type: ignore[operator]
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if ranged and self.log and self.low <= 0:  # type: ignore[operator]
            raise ValueError("a log range needs low > 0")
        return self


# What tuning may change: the fit, never the rows (seed and split) nor how it reports.
TUNABLE = ("hidden_sizes", "dropout", "learning_rate", "weight_decay", "batch_size", "epochs",
           "patience", "min_delta")  # fmt: skip


class TuningSettings(_Section):
    """Hyperparameter tuning: trials proposed from a search space, each a child MLflow run;
    the best trial's parameters train the model. Off unless the workflow asks for trials."""

    sampler: Literal["grid", "random", "optuna"] = Field(
        "random", description="grid: the choices' product in order; random; optuna's TPE."
    )
    seed: int = Field(0, ge=0, description="Seed of the random and optuna samplers.")
    space: dict[str, TuningDimension] = Field(
        default_factory=lambda: {
            "learning_rate": TuningDimension(low=3e-4, high=3e-2, log=True),
            "dropout": TuningDimension(choices=[0.0, 0.1, 0.2]),
        },
        description=f"Training settings to search, by name: any of {', '.join(TUNABLE)}.",
    )

    @model_validator(mode="after")
    def _tunable(self) -> TuningSettings:
        unknown = sorted(set(self.space) - set(TUNABLE))
        if unknown:
            raise ValueError(f"tuning.space {unknown}: only {', '.join(TUNABLE)} can be tuned")
        if self.sampler == "grid" and any(d.choices is None for d in self.space.values()):
            raise ValueError("the grid sampler needs choices for every dimension")
        return self


class ArgoSettings(_Section):
    """The Argo Server that ``slipway workflow submit|status|logs`` talk to."""

    server: str | None = Field(
        None, description="Argo Server URL, e.g. https://argo.example.org:2746; none: ARGO_SERVER."
    )
    namespace: str = Field("ml-workflows", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    token_env: str = Field(
        "ARGO_TOKEN", description="Variable holding the bearer token (`argo auth token`)."
    )
    verify_tls: bool = Field(True, description="Check the server's certificate.")
    ca_file: Path | None = Field(None, description="CA bundle for the server's certificate.")


class Settings(BaseSettings):
    """The whole configuration. Field names are the YAML keys."""

    model_config = SettingsConfigDict(
        env_prefix="SLIPWAY_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data: DataSettings
    validation: ValidationSettings = ValidationSettings()
    training: TrainingSettings = TrainingSettings()
    gate: GateSettings = GateSettings()
    tracking: TrackingSettings = TrackingSettings()
    serving: ServingSettings = ServingSettings()
    rollout: RolloutSettings = RolloutSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    tuning: TuningSettings = TuningSettings()
    argo: ArgoSettings = ArgoSettings()
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init kwargs), not the other way round.
        return _EnvironSource(settings_cls), init_settings


DEFAULT_CONFIG = "demo-config.yaml"


def default_config_path() -> Path:
    """The demo configuration shipped inside the package."""
    return Path(str(resources.files("slipway") / "data" / DEFAULT_CONFIG))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return data


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    section = data.get("data")
    if not isinstance(section, dict):
        return
    for key in ("contract", "train", "reference"):
        value = section.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            section[key] = str((base / value).resolve())


def load_settings(path: Path | None = None) -> Settings:
    """Read ``path`` (default: the packaged demo config), apply env overrides, validate."""
    path = path or default_config_path()
    data = _read_yaml(path)
    _resolve_paths(data, path.parent)
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid config {path}: {problems}") from exc


def fault_injection_config(
    path: Path | None, error_rate: float, latency_ms: float
) -> dict[str, Any]:
    """TEST/DEMO ONLY: the config of one predictor process that injects faults: ``path``'s
    (default: the packaged demo's), its paths made absolute, with ``serving.fault_injection``
    on and the two faults set. Write it (JSON is YAML) to that process's own file and pass it
    as its ``--config``: the environment cannot turn faults on (see ServingSettings)."""
    path = path or default_config_path()
    data = _read_yaml(path)
    _resolve_paths(data, path.parent)
    serving = data.setdefault("serving", {})
    if not isinstance(serving, dict):
        raise ConfigError(f"config {path}: serving must be a mapping")
    serving.update(fault_injection=True, fault_error_rate=error_rate, fault_latency_ms=latency_ms)
    return data
