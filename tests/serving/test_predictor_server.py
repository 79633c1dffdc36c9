"""The predictor as a server: real KServe ModelServer processes over a model version
trained and registered in a real MLflow, called over HTTP on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_support import MODEL, VALID, World, predict_v1, v2_body

from slipway.data.synthetic import generate
from slipway.local.processes import Managed

pytestmark = pytest.mark.integration


def _features(n: int, seed: int) -> list[dict[str, Any]]:
    frame = generate(n, seed=seed).drop(columns=["churned"])
    return frame.to_dict("records")  # type: ignore[no-any-return]


def test_v1_predictions_match_mlflow_pyfunc(world: World, predictor: Managed) -> None:
    rows = _features(20, seed=21)
    response = predict_v1(predictor.url, rows)
    assert response.status_code == 200, response.text
    assert response.headers["x-slipway-model-version"] == world.versions[0]
    got = response.json()["predictions"]
    world.client()
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL}/{world.versions[0]}")
    import pandas as pd

    expected = pyfunc.predict(pd.DataFrame(rows))
    assert [p["prediction"] for p in got] == expected["prediction"].tolist()
    np.testing.assert_allclose(
        [p["probabilities"][1] for p in got], expected["probability"], atol=1e-6
    )


def test_v1_accepts_lists_in_contract_order(predictor: Managed) -> None:
    as_objects = predict_v1(predictor.url, [VALID]).json()
    as_list = predict_v1(predictor.url, [list(VALID.values())]).json()
    assert as_objects == as_list


def test_v2_infer_sets_the_id_and_matches_v1(predictor: Managed) -> None:
    rows = _features(5, seed=4)
    v1 = predict_v1(predictor.url, rows).json()["predictions"]
    url = f"{predictor.url}/v2/models/{MODEL}/infer"
    without_id = httpx.post(url, json=v2_body(rows))
    assert without_id.status_code == 200, without_id.text
    body = without_id.json()
    assert body["id"]
    assert body["model_name"] == MODEL
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["prediction"]["data"] == [p["prediction"] for p in v1]
    assert outputs["probabilities"]["shape"] == [5, 2]
    with_id = httpx.post(url, json=v2_body(rows, request_id="abc-123")).json()
    assert with_id["id"] == "abc-123"


def test_v2_health_ready_and_metadata_with_the_input_schema(predictor: Managed) -> None:
    assert httpx.get(f"{predictor.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{predictor.url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{predictor.url}/v2/models/{MODEL}/ready").json()["ready"] is True
    meta = httpx.get(f"{predictor.url}/v2/models/{MODEL}").json()
    inputs = {i["name"]: i for i in meta["inputs"]}
    assert list(inputs) == list(VALID)
    assert inputs["age"]["datatype"] == "INT64"
    assert inputs["age"]["parameters"]["min"] == 18
    assert inputs["contract"]["datatype"] == "BYTES"
    assert inputs["contract"]["parameters"]["categories"] == ["monthly", "annual", "two_year"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"instances": [', 400, "body"),
        (b"\xff\xfe", 400, "body"),
        (b'{"instances": [{"age": NaN}]}', 400, "body"),
        (b'{"instances": []}', 400, "instances"),
        (b'{"instances": {"age": 40}}', 400, "instances"),
    ],
)
def test_malformed_bodies_are_4xx_with_a_json_error(
    predictor: Managed, body: bytes, status: int, field: str
) -> None:
    response = httpx.post(f"{predictor.url}/v1/models/{MODEL}:predict", content=body)
    assert response.status_code == status
    assert response.json()["field"] == field


def test_versioned_v2_paths(world: World, predictor: Managed) -> None:
    served = f"{predictor.url}/v2/models/{MODEL}/versions/{world.versions[0]}/infer"
    assert httpx.post(served, json=v2_body([VALID])).status_code == 200
    other = f"{predictor.url}/v2/models/{MODEL}/versions/999/infer"
    response = httpx.post(other, json=v2_body([VALID]))
    assert response.status_code == 404
    assert response.json()["field"] == "version"
    unknown_model = httpx.post(
        f"{predictor.url}/v1/models/nope:predict", json={"instances": [VALID]}
    )
    assert unknown_model.status_code == 404


def test_limits_answer_413(predictor: Managed) -> None:
    over_batch = predict_v1(predictor.url, [VALID] * 65)
    assert over_batch.status_code == 413
    assert over_batch.json()["field"] == "instances"
    huge = b'{"instances": [' + b" " * 70_000 + b"]}"
    over_body = httpx.post(f"{predictor.url}/v1/models/{MODEL}:predict", content=huge)
    assert over_body.status_code == 413
    assert over_body.json()["field"] == "body"
    assert predict_v1(predictor.url, [VALID]).status_code == 200


def _metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_carry_model_name_and_version(world: World, predictor: Managed) -> None:
    before = _metrics(predictor.url)
    for _ in range(3):
        assert predict_v1(predictor.url, [VALID]).status_code == 200
    assert predict_v1(predictor.url, [{"age": 1}]).status_code == 400
    after = _metrics(predictor.url)
    labels = {"model_name": MODEL, "model_version": world.versions[0]}

    def grew(name: str, **extra: str) -> float:
        key = (name, frozenset((labels | extra).items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("slipway_inference_requests_total", protocol="v1", code="200") == 3
    assert grew("slipway_inference_requests_total", protocol="v1", code="400") == 1
    assert grew("slipway_inference_request_duration_seconds_count") == 4
    assert grew("slipway_prediction_score_count") == 3
    assert grew("slipway_feature_value_count", feature="age") == 3
    assert grew("slipway_feature_category_total", feature="contract", category="monthly") == 3
    # KServe's own histogram stays, labelled by model name.
    kserve = ("request_predict_seconds_count", frozenset({"model_name": MODEL}.items()))
    assert after[kserve] - before.get(kserve, 0) == 3


def test_kserve_routes_give_the_same_answers(
    predictor: Managed, kserve_routes_predictor: Managed
) -> None:
    rows = _features(6, seed=8)
    lean = predict_v1(predictor.url, rows).json()
    through_kserve = predict_v1(kserve_routes_predictor.url, rows)
    assert through_kserve.status_code == 200, through_kserve.text
    assert through_kserve.json() == lean
    url = f"{kserve_routes_predictor.url}/v2/models/{MODEL}/infer"
    v2 = httpx.post(url, json=v2_body(rows))
    assert v2.status_code == 200, v2.text
    assert v2.json()["id"]  # KServe answers 500 when the id is left None
    bad = predict_v1(kserve_routes_predictor.url, [{**VALID, "age": "x"}])
    assert bad.status_code == 400
    assert "age" in bad.json()["error"]
    counts = _metrics(kserve_routes_predictor.url)
    assert any(
        name == "slipway_inference_requests_total"
        and dict(labels).get("code") == "400"
        and value >= 1
        for (name, labels), value in counts.items()
    )
