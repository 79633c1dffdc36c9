"""The model-serving chart's shadow mount, rendered with helm: with ``shadow.enabled`` each
predictor reads its mirror target from the ``<name>-shadow`` ConfigMap the KServe backend
writes (optional: the predictor starts without it); without it nothing is mounted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
from chart_render import CHARTS, build_charts, load_all, render

from slipway.rollout.backends.kserve import SHADOW_KEY
from slipway.serving.shadow import TARGET_FILE_ENV

MINIMAL = CHARTS / "model-serving" / "ci" / "minimal-values.yaml"


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_charts(tmp_path_factory.mktemp("built")) / "model-serving"


def _predictor(chart: Path, *values: Path) -> dict[str, object]:
    result = render(chart, "model-serving", MINIMAL, *values)
    assert result.returncode == 0, result.stderr
    (isvc,) = [d for d in load_all(result.stdout) if d["kind"] == "InferenceService"]
    predictor: dict[str, object] = isvc["spec"]["predictor"]
    return predictor


def test_the_shadow_configmap_is_mounted_where_the_predictor_reads_it(
    chart: Path, tmp_path: Path
) -> None:
    on = tmp_path / "on.yaml"
    on.write_text(yaml.safe_dump({"shadow": {"enabled": True}}))
    predictor = _predictor(chart, on)
    (container,) = predictor["containers"]  # type: ignore[misc]
    env = {e["name"]: e["value"] for e in container["env"]}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "shadow"]
    assert env[TARGET_FILE_ENV] == f"{mount['mountPath']}/{SHADOW_KEY}"
    assert mount["readOnly"] is True
    (volume,) = [v for v in predictor["volumes"] if v["name"] == "shadow"]  # type: ignore[attr-defined]
    assert volume["configMap"] == {"name": "churn-classifier-shadow", "optional": True}
    # The predictors may call Knative's local gateway, which serves the shadow's address.
    assert "kourier-system" in _egress_namespaces(chart, on)
    assert "kourier-system" not in _egress_namespaces(chart)


def _egress_namespaces(chart: Path, *values: Path) -> set[str]:
    result = render(chart, "model-serving", MINIMAL, *values)
    (policy,) = [d for d in load_all(result.stdout) if d["kind"] == "NetworkPolicy"]
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
        if "namespaceSelector" in peer
    }


def test_without_shadow_nothing_is_mounted(chart: Path, tmp_path: Path) -> None:
    predictor = _predictor(chart)
    (container,) = predictor["containers"]  # type: ignore[misc]
    assert TARGET_FILE_ENV not in {e["name"] for e in container["env"]}
    assert "shadow" not in {v["name"] for v in predictor["volumes"]}  # type: ignore[attr-defined]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"shadow": {"enabled": "yes"}}))
    refused = render(chart, "model-serving", MINIMAL, bad)
    assert refused.returncode != 0 and "shadow" in refused.stderr
