"""Settings: file + environment, and errors that name the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.config import default_config_path, load_settings
from slipway.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_packaged_demo_config_loads_and_resolves_contract_path() -> None:
    settings = load_settings()
    assert settings.data.contract.is_file()
    assert settings.data.contract.parent == default_config_path().parent
    assert settings.training.hidden_sizes == [64, 32]


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_TRAINING__EPOCHS", "3")
    monkeypatch.setenv("SLIPWAY_GATE__MIN_ROC_AUC", "0.9")
    settings = load_settings()
    assert settings.training.epochs == 3
    assert settings.gate.min_roc_auc == 0.9


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("data: {contract: c.yaml}\ntraining: {epochs: 0}\n", "training.epochs"),
        ("data: {contract: c.yaml}\ntraining: {epoch: 5}\n", "training.epoch"),
        ("data: {contract: c.yaml}\ngate: {min_accuracy: 1.5}\n", "gate.min_accuracy"),
        ("data: {contract: c.yaml}\ntracking: {model_name: 'Bad Name'}\n", "tracking.model_name"),
        ("training: {epochs: 3}\n", "data"),
        ("data: {contract: c.yaml}\ntraining: {hidden_sizes: [8, 0]}\n", "training"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, body))
    assert named in str(err.value)


def test_invalid_environment_override_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_TRAINING__BATCH_SIZE", "many")
    with pytest.raises(ConfigError, match=r"training\.batch_size"):
        load_settings()


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(_write(tmp_path, "data: [unclosed\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(_write(tmp_path, "- a list\n"))
