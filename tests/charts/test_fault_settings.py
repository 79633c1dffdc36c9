"""Test-only fault injection (serving.fault_*) cannot be turned on by a deployment.

The predictor fails requests on purpose only when its config file says
`serving.fault_injection: true`; the environment alone (SLIPWAY_SERVING__FAULT_*, which a
chart value or `kubectl set env` could add to a pod) does nothing, and no chart renders any
of it. Before this change `SLIPWAY_SERVING__FAULT_ERROR_RATE=0.5` alone made half of a real
predictor's answers 500s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import CHARTS, Rendered, render

from slipway.config import default_config_path, fault_injection_config, load_settings
from slipway.errors import ConfigError

FAULT_ENV = {
    "SLIPWAY_SERVING__FAULT_INJECTION": "true",
    "SLIPWAY_SERVING__FAULT_ERROR_RATE": "0.5",
    "SLIPWAY_SERVING__FAULT_LATENCY_MS": "400",
}
MODEL = yaml.safe_load((CHARTS / "model-serving" / "ci" / "minimal-values.yaml").read_text())[
    "models"
][0]


def _config(tmp_path: Path, serving: dict[str, Any]) -> Path:
    contract = load_settings().data.contract  # the packaged demo's, an absolute path
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"data": {"contract": str(contract)}, "serving": serving}))
    return path


@pytest.mark.parametrize("config", ["packaged demo", "file without the switch"])
def test_environment_alone_does_nothing(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Env alone, even with the switch's own variable: no fault, and a warning naming them."""
    for name, value in FAULT_ENV.items():
        monkeypatch.setenv(name, value)
    path = default_config_path() if config == "packaged demo" else _config(tmp_path, {})
    with caplog.at_level("WARNING"):
        serving = load_settings(path).serving
    assert (serving.fault_injection, serving.fault_error_rate, serving.fault_latency_ms) == (
        False,
        0.0,
        0.0,
    )
    assert all(name in caplog.text for name in FAULT_ENV)


def test_the_environment_cannot_override_the_files_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, {"fault_injection": True, "fault_error_rate": 0.25})
    monkeypatch.setenv("SLIPWAY_SERVING__FAULT_ERROR_RATE", "1")
    monkeypatch.setenv("SLIPWAY_SERVING__FAULT_INJECTION", "false")
    serving = load_settings(path).serving
    assert (serving.fault_injection, serving.fault_error_rate) == (True, 0.25)


def test_the_config_file_switch_turns_faults_on(tmp_path: Path) -> None:
    """The documented way for tests and the local demo: the process's own config file."""
    path = _config(
        tmp_path, {"fault_injection": True, "fault_error_rate": 0.5, "fault_latency_ms": 400}
    )
    serving = load_settings(path).serving
    assert (serving.fault_error_rate, serving.fault_latency_ms) == (0.5, 400)


def test_faults_in_a_file_without_the_switch_are_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, {"fault_error_rate": 0.5})
    with pytest.raises(ConfigError, match=r"serving: .*fault_injection: true"):
        load_settings(path)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [str(k), *_strings(v)]]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)]


def test_no_chart_renders_fault_injection(all_rendered: list[Rendered]) -> None:
    """No rendered object of any chart and profile names a fault setting or its variable."""
    found = [
        f"{item.name}: {obj['kind']}/{obj['metadata'].get('name')}: {text}"
        for item in all_rendered
        for obj in item.objects
        for text in _strings(obj)
        if "SLIPWAY_SERVING__FAULT" in text.upper() or "fault_injection" in text
    ]
    assert found == []


@pytest.mark.parametrize(
    "values",
    [
        {"predictor": {"env": [{"name": "SLIPWAY_SERVING__FAULT_ERROR_RATE", "value": "0.5"}]}},
        {
            "models": [
                {**MODEL, "env": [{"name": "slipway_serving__fault_latency_ms", "value": "1"}]}
            ]
        },
    ],
    ids=["predictor-env", "model-env"],
)
def test_the_serving_chart_refuses_fault_variables(
    values: dict[str, Any], built_charts: Path, tmp_path: Path
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(values))
    minimal = CHARTS / "model-serving" / "ci" / "minimal-values.yaml"
    result = render(built_charts / "model-serving", "model-serving", minimal, path)
    # helm's schema check names the offending field (the schema's description says why)
    assert result.returncode != 0
    assert "/env/0/name': 'not' failed" in result.stderr


def test_the_serving_chart_takes_other_variables(built_charts: Path, tmp_path: Path) -> None:
    """The negative's twin: the schema rule refuses the fault variables only."""
    path = tmp_path / "values.yaml"
    path.write_text(
        json.dumps(
            {"predictor": {"env": [{"name": "SLIPWAY_SERVING__ACCESS_LOG", "value": "true"}]}}
        )
    )
    minimal = CHARTS / "model-serving" / "ci" / "minimal-values.yaml"
    result = render(built_charts / "model-serving", "model-serving", minimal, path)
    assert result.returncode == 0, result.stderr


def test_a_process_gets_faults_through_its_own_config_file(tmp_path: Path) -> None:
    """The documented way for a test or the local demo to make one predictor faulty: its own
    config file from fault_injection_config, passed as that process's --config."""
    base = _config(tmp_path, {"max_batch_size": 8})
    canary = tmp_path / "canary" / "config.yaml"
    canary.parent.mkdir()
    canary.write_text(json.dumps(fault_injection_config(base, 0.5, 40)))
    serving = load_settings(canary).serving
    assert (serving.fault_injection, serving.fault_error_rate, serving.fault_latency_ms) == (
        True,
        0.5,
        40,
    )
    assert serving.max_batch_size == 8  # the rest of the base config is kept
    assert load_settings(canary).data.contract == load_settings(base).data.contract
    assert load_settings(base).serving.fault_error_rate == 0.0  # the base file is untouched
