"""The dashboards as code: the JSON in the chart is what scripts/dashboards/build.py renders,
each dashboard has the datasource, model and version variables and queries through them, and
the chart ships every dashboard unchanged in its ConfigMap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart_render import build_charts, render
from tests.podman_support import load_script

REPO = Path(__file__).resolve().parents[2]
CI_VALUES = REPO / "charts/platform-monitoring/ci/minimal-values.yaml"


def builder() -> Any:
    return load_script("dashboards/build")


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(builder().OUT.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_the_chart_json_is_what_the_code_renders() -> None:
    assert builder().main(["--check"]) == 0, "run scripts/dashboards/build.py"
    assert set(dashboards()) == {f"{name}.json" for name in builder().DASHBOARDS}


def test_a_stale_or_stray_dashboard_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = builder()
    monkeypatch.setattr(build, "OUT", tmp_path)
    assert build.main([]) == 0
    serving = tmp_path / "slipway-serving.json"
    serving.write_text(serving.read_text().replace("p99", "p95"))
    (tmp_path / "hand-made.json").write_text("{}")
    assert build.main(["--check"]) == 1
    assert build.main([]) == 0
    assert build.main(["--check"]) == 0
    assert not (tmp_path / "hand-made.json").exists()


def test_every_dashboard_has_the_variables_and_uses_them() -> None:
    uids = set()
    for name, board in dashboards().items():
        variables = [v["name"] for v in board["templating"]["list"]]
        assert variables == ["datasource", "model", "version"], name
        assert board["uid"] not in uids
        uids.add(board["uid"])
        assert panels(board), name
        for panel in panels(board):
            assert panel["targets"], (name, panel["title"])
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
                assert target["expr"].strip()


def test_the_serving_dashboard_covers_what_on_call_needs() -> None:
    board = dashboards()["slipway-serving.json"]
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels(board)}
    joined = " ".join(exprs.values())
    assert "histogram_quantile(0.5," in joined and "histogram_quantile(0.99," in joined
    assert 'code=~"5.."' in joined
    assert any("Canary share" in t for t in exprs)
    assert "slipway_prediction_score" in joined  # the versions' agreement
    # model and version variables select the predictor's series
    for title, expr in exprs.items():
        if "slipway_inference_requests_total{" in expr:
            assert 'model_name=~"$model"' in expr, title


def test_the_chart_ships_each_dashboard_unchanged(tmp_path: Path) -> None:
    charts = build_charts(tmp_path)
    result = render(charts / "platform-monitoring", "monitoring", CI_VALUES)
    assert result.returncode == 0, result.stderr
    maps = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "ConfigMap"]
    shipped = {key: json.loads(text) for m in maps for key, text in m["data"].items()}
    assert shipped == dashboards()
    for config in maps:
        assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config["metadata"]["annotations"]["grafana_folder"] == "slipway"
