"""A custom network (a team's own torch.nn.Module) is served with the torch image, on the
cluster as on paper: the model-serving chart renders it for ``network: custom``, the rollout
switches a predictor's image to what the version it deploys needs (and back on rollback), and
after promotion the values file names the network the live object serves.

The InferenceService is the one helm renders from the chart; the rollout's writes go through
the real ``kubernetes`` client to the repo's fake API (fakes.FakeKubernetes), since no API
server can run here. That the torch image really serves a custom model is
tests/images/test_trainer_image.py's job.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chart_render import CHARTS, build_charts, load_all, render
from fakes import FakeKubernetes

from slipway.errors import KServeError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.backends.inference_service import (
    A_NETWORK,
    A_TORCH_IMAGE,
    image_for,
    model_of,
    model_patch,
)
from slipway.rollout.backends.kserve import KServeBackend
from slipway.rollout.gitops import serving_model, set_serving_model

MINIMAL = CHARTS / "model-serving" / "ci" / "minimal-values.yaml"
NS = "model-serving"
PREDICTOR = "ghcr.io/slipway-ml/slipway-predictor:0.1.0"
TORCH = "ghcr.io/slipway-ml/slipway-trainer:0.1.0"


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_charts(tmp_path_factory.mktemp("built")) / "model-serving"


def _isvc(chart: Path, tmp_path: Path, network: str | None) -> dict[str, Any]:
    (model,) = yaml.safe_load(MINIMAL.read_text())["models"]
    if network is not None:
        model["network"] = network
    values = tmp_path / f"network-{network}.yaml"
    values.write_text(yaml.safe_dump({"models": [model]}))
    result = render(chart, NS, MINIMAL, values)
    assert result.returncode == 0, result.stderr
    (isvc,) = [d for d in load_all(result.stdout) if d["kind"] == "InferenceService"]
    return isvc


def _container(isvc: dict[str, Any]) -> dict[str, Any]:
    (container,) = isvc["spec"]["predictor"]["containers"]
    return dict(container)


def _version(isvc: dict[str, Any], version: str, network: str) -> ModelVersion:
    name = isvc["metadata"]["name"]
    return ModelVersion(name, version, f"run-{version}", f"s3://b/{version}", network=network)


def test_the_chart_serves_a_custom_network_with_the_torch_image(
    chart: Path, tmp_path: Path
) -> None:
    default, custom = _isvc(chart, tmp_path, None), _isvc(chart, tmp_path, "custom")
    assert _container(default)["image"] == PREDICTOR
    assert _container(custom)["image"] == TORCH
    # One command for both: the torch image has no serving entrypoint of its own.
    assert _container(default)["command"] == _container(custom)["command"] == [
        "python", "-m", "slipway.serving",
    ]  # fmt: skip
    assert default["metadata"]["annotations"][A_NETWORK] == "mlp"
    assert custom["metadata"]["annotations"][A_NETWORK] == "custom"
    assert model_of(custom)["network"] == "custom"


def test_a_network_the_schema_does_not_know_is_refused(chart: Path, tmp_path: Path) -> None:
    (model,) = yaml.safe_load(MINIMAL.read_text())["models"]
    values = tmp_path / "bad.yaml"
    values.write_text(yaml.safe_dump({"models": [{**model, "network": "resnet"}]}))
    result = render(chart, NS, MINIMAL, values)
    assert result.returncode != 0
    assert "network" in result.stderr


def test_the_patch_picks_the_image_the_version_needs(chart: Path, tmp_path: Path) -> None:
    isvc = _isvc(chart, tmp_path, None)
    to_custom = model_patch(isvc, _version(isvc, "5", "custom"))
    (container,) = to_custom["spec"]["predictor"]["containers"]
    assert container["image"] == TORCH
    assert to_custom["metadata"]["annotations"][A_NETWORK] == "custom"
    back = model_patch(_isvc(chart, tmp_path, "custom"), _version(isvc, "6", "mlp"))
    (container,) = back["spec"]["predictor"]["containers"]
    assert container["image"] == PREDICTOR


def test_a_custom_network_without_a_torch_image_is_a_clear_error(
    chart: Path, tmp_path: Path
) -> None:
    isvc = _isvc(chart, tmp_path, None)
    del isvc["metadata"]["annotations"][A_TORCH_IMAGE]  # an object from an older chart
    custom = _version(isvc, "5", "custom")
    with pytest.raises(KServeError, match=r"version 5 has a custom network.*predictor\.torchImage"):
        image_for(isvc, custom)
    # The built-in network is served as before, with the container's image unchanged.
    (container,) = model_patch(isvc, _version(isvc, "6", "mlp"))["spec"]["predictor"]["containers"]
    assert container["image"] == PREDICTOR


def _backend(url: str, name: str) -> KServeBackend:
    return KServeBackend(
        name, NS, api_client=k8s.ApiClient(k8s.Configuration(host=url)),
        ready_timeout=5, poll_interval=0.01,
    )  # fmt: skip


def test_a_rollout_switches_the_image_and_a_rollback_switches_it_back(
    chart: Path, tmp_path: Path
) -> None:
    rendered = _isvc(chart, tmp_path, None)
    name = rendered["metadata"]["name"]
    champion = _version(rendered, rendered["metadata"]["annotations"]["slipway.io/model-version"],
                        "mlp")  # fmt: skip
    canary = _version(rendered, "8", "custom")
    api = FakeKubernetes()
    with api.serving() as url:
        backend = _backend(url, name)
        backend.create(copy.deepcopy(rendered))
        backend.deploy_canary(canary, champion, 10)
        assert _container(api.objects[(NS, name)])["image"] == TORCH
        backend.rollback()
    live = api.objects[(NS, name)]
    assert _container(live)["image"] == PREDICTOR
    assert model_of(live)["network"] == "mlp"


def test_after_promoting_a_custom_network_git_names_it_as_the_live_object_does(
    chart: Path, tmp_path: Path
) -> None:
    rendered = _isvc(chart, tmp_path, None)
    name = rendered["metadata"]["name"]
    champion = _version(rendered, "1", "mlp")
    canary = _version(rendered, "8", "custom")
    api = FakeKubernetes()
    with api.serving() as url:
        backend = _backend(url, name)
        backend.create(copy.deepcopy(rendered))
        backend.deploy_canary(canary, champion, 10)
        backend.promote()
    live = api.objects[(NS, name)]
    text = set_serving_model(MINIMAL.read_text(), canary)
    desired = serving_model(text, name)
    assert desired is not None and desired.network == model_of(live)["network"] == "custom"
    assert yaml.safe_load(text)["models"][0]["network"] == "custom"
    # The same item back to the built-in network says so, rather than keep a stale key.
    again = serving_model(set_serving_model(text, _version(rendered, "9", "mlp")), name)
    assert again is not None and again.network == "mlp"
    # A built-in network on an item without the key adds none (the chart's default).
    assert (
        "network"
        not in yaml.safe_load(set_serving_model(MINIMAL.read_text(), champion))["models"][0]
    )
