"""Settings: a YAML file plus ``SLIPWAY_*`` environment overrides, validated at start.

The sections live by layer in this package (pipeline, serving, rollout, monitoring, argo);
this module composes them into ``Settings`` and loads the file.

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

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from slipway.config.argo import ArgoSettings
from slipway.config.monitoring import (
    DriftSettings,
    MonitoringSettings,
    PayloadSettings,
    RetrainingSettings,
)
from slipway.config.pipeline import (
    TUNABLE,
    DataSettings,
    GateSettings,
    TrackingSettings,
    TrainingSettings,
    TuningDimension,
    TuningSettings,
    ValidationSettings,
)
from slipway.config.rollout import GitOpsSettings, KServeSettings, RolloutSettings
from slipway.config.serving import ServingSettings
from slipway.errors import ConfigError

__all__ = [
    "TUNABLE",
    "ArgoSettings",
    "DataSettings",
    "DriftSettings",
    "GateSettings",
    "GitOpsSettings",
    "KServeSettings",
    "MonitoringSettings",
    "PayloadSettings",
    "RetrainingSettings",
    "RolloutSettings",
    "ServingSettings",
    "Settings",
    "TrackingSettings",
    "TrainingSettings",
    "TuningDimension",
    "TuningSettings",
    "ValidationSettings",
    "default_config_path",
    "environ",
    "fault_injection_config",
    "load_settings",
    "step_environment",
]

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
