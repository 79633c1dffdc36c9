"""Settings: a YAML file plus ``SLIPWAY_*`` environment overrides, validated at start.

Every knob of training, validation, gating and tracking lives here, so the training code
hard-codes nothing. Environment variables win over the file: ``SLIPWAY_TRAINING__EPOCHS=5``
overrides ``training.epochs``. An unknown or invalid key fails with its dotted path named.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from slipway.errors import ConfigError


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
        return env_settings, init_settings


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
