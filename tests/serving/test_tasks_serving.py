"""Serving follows the task, on real model servers: predictor processes (KServe's
ModelServer, the lean HTTP path and KServe's own routes) over a multiclass bundle (iris),
a regression bundle (diabetes) and a custom torch network, called over HTTP on loopback.
The answers are held to the bundle's torch module run in this process (the reference)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tasks_support import IRIS_CLASSES, TaskBundle, build_bundle, serve

from slipway.local.processes import Managed
from slipway.serving import binary_tensors

pytestmark = pytest.mark.integration

IRIS, DIABETES, CUSTOM = "iris", "diabetes", "iris-custom"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("task-serving")


@pytest.fixture(scope="module")
def bundles(root: Path) -> dict[str, TaskBundle]:
    return {
        IRIS: build_bundle(root / "bundles" / IRIS, "iris", seed=3),
        DIABETES: build_bundle(root / "bundles" / DIABETES, "diabetes", seed=4),
        CUSTOM: build_bundle(root / "bundles" / CUSTOM, "iris", custom=True, seed=5),
    }


@pytest.fixture(scope="module")
def servers(root: Path, bundles: dict[str, TaskBundle]) -> Iterator[dict[str, Managed]]:
    """The four predictors, started at once (each start is mostly imports and waiting)."""
    plans: dict[str, tuple[TaskBundle, str, dict[str, str]]] = {
        name: (bundle, name, {}) for name, bundle in bundles.items()
    }
    plans[f"{IRIS}-kserve"] = (bundles[IRIS], IRIS, {"SLIPWAY_SERVING__LEAN_HTTP": "false"})
    with ThreadPoolExecutor(len(plans)) as pool:
        futures = {k: pool.submit(serve, b, m, root, env) for k, (b, m, env) in plans.items()}
    started: dict[str, Managed] = {}
    errors = []
    for key, future in futures.items():
        try:
            started[key] = future.result()
        except Exception as exc:  # stop the others before failing
            errors.append(exc)
    try:
        if errors:
            raise errors[0]
        yield started
    finally:
        for server in started.values():
            server.stop()


def _v2_body(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    names = list(rows[0])
    inputs = [
        {"name": n, "datatype": "FP64", "shape": [len(rows)], "data": [r[n] for r in rows]}
        for n in names
    ]
    return {"inputs": inputs, **extra}


def _v1(url: str, model: str, rows: list[Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{model}:predict", json={"instances": rows})


def _v2(url: str, model: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v2/models/{model}/infer", json=body)


def _binary_outputs(response: httpx.Response) -> dict[str, list[Any]]:
    """The outputs of a response with binary data, decoded by slipway's own decoder."""
    length = int(response.headers[binary_tensors.HEADER_FIELD])
    header = httpx.Response(200, content=response.content[:length]).json()
    offset, decoded = length, {}
    for output in header["outputs"]:
        size = output["parameters"]["binary_data_size"]
        raw = response.content[offset : offset + size]
        decoded[output["name"]] = binary_tensors.decode_tensor(
            raw, output["datatype"], output["shape"], output["name"]
        )
        offset += size
    return decoded


def _expected_labels(bundle: TaskBundle, reference: np.ndarray) -> list[Any]:
    return [bundle.labels[i] for i in reference.argmax(axis=1)]


# ---------------------------------------------------------------------- multiclass


@pytest.mark.parametrize("server", [IRIS, CUSTOM, f"{IRIS}-kserve"])
def test_multiclass_v1_matches_the_torch_module(
    servers: dict[str, Managed], bundles: dict[str, TaskBundle], server: str
) -> None:
    bundle = bundles[CUSTOM if server == CUSTOM else IRIS]
    model = CUSTOM if server == CUSTOM else IRIS
    rows = bundle.rows(30)
    response = _v1(servers[server].url, model, rows)
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    reference = bundle.reference(rows)
    assert [p["prediction"] for p in got] == _expected_labels(bundle, reference)
    probabilities = np.array([p["probabilities"] for p in got])
    np.testing.assert_allclose(probabilities, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("server", [IRIS, f"{IRIS}-kserve"])
def test_multiclass_v2_json_and_binary_outputs(
    servers: dict[str, Managed], bundles: dict[str, TaskBundle], server: str
) -> None:
    bundle, url = bundles[IRIS], servers[server].url
    rows = bundle.rows(12, offset=1)
    reference = bundle.reference(rows)
    response = _v2(url, IRIS, _v2_body(rows, id="req-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["prediction"]["datatype"] == "BYTES"
    assert outputs["prediction"]["shape"] == [12]
    assert outputs["prediction"]["data"] == _expected_labels(bundle, reference)
    assert outputs["probabilities"]["shape"] == [12, 3]
    np.testing.assert_allclose(
        np.reshape(outputs["probabilities"]["data"], (12, 3)), reference, atol=1e-6
    )
    binary = _v2(url, IRIS, _v2_body(rows, parameters={"binary_data_output": True}))
    assert binary.status_code == 200, binary.text
    decoded = _binary_outputs(binary)
    assert decoded["prediction"] == _expected_labels(bundle, reference)
    np.testing.assert_allclose(np.reshape(decoded["probabilities"], (12, 3)), reference, atol=1e-6)
    only = _v2(url, IRIS, _v2_body(rows, outputs=[{"name": "probabilities"}]))
    assert [o["name"] for o in only.json()["outputs"]] == ["probabilities"]


# ---------------------------------------------------------------------- regression


def test_regression_v1_and_v2_match_the_torch_module(
    servers: dict[str, Managed], bundles: dict[str, TaskBundle]
) -> None:
    bundle, url = bundles[DIABETES], servers[DIABETES].url
    rows = bundle.rows(25)
    reference = bundle.reference(rows)
    v1 = _v1(url, DIABETES, rows)
    assert v1.status_code == 200, v1.text
    values = v1.json()["predictions"]
    assert all(type(v) is float for v in values)
    # float32 network, outputs in the label's units (hundreds): relative tolerance
    np.testing.assert_allclose(values, reference, rtol=1e-6)
    v2 = _v2(url, DIABETES, _v2_body(rows))
    assert v2.status_code == 200, v2.text
    (output,) = v2.json()["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("prediction", "FP64", [25])
    np.testing.assert_allclose(output["data"], values, rtol=0, atol=0)
    binary = _v2(url, DIABETES, _v2_body(rows, parameters={"binary_data_output": True}))
    np.testing.assert_allclose(_binary_outputs(binary)["prediction"], values, rtol=0, atol=0)


# ---------------------------------------------------------------------- bad input, metadata


@pytest.mark.parametrize("server", [IRIS, DIABETES, CUSTOM])
def test_bad_inputs_are_4xx_naming_the_field(
    servers: dict[str, Managed], bundles: dict[str, TaskBundle], server: str
) -> None:
    url, bundle = servers[server].url, bundles[server]
    row = bundle.rows(1)[0]
    first = next(iter(row))
    cases = [
        ("missing feature", _v1(url, server, [{k: v for k, v in row.items() if k != first}])),
        ("text for a number", _v1(url, server, [{**row, first: "wide"}])),
        ("out of range", _v1(url, server, [{**row, first: 1e9}])),
        ("wrong v2 shape", _v2(url, server, {"inputs": [{"name": first, "datatype": "FP64",
                                                         "shape": [2], "data": [1.0]}]})),
    ]  # fmt: skip
    for what, response in cases:
        assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
        assert response.json()["error"], what
    unknown = _v2(url, server, _v2_body([row], outputs=[{"name": "class_id"}]))
    assert unknown.status_code == 400
    assert "prediction" in unknown.json()["error"]  # names the outputs this model has
    if server == DIABETES:  # a regression has no probabilities to ask for
        asked = _v2(url, server, _v2_body([row], outputs=[{"name": "probabilities"}]))
        assert asked.status_code == 400, asked.text


def test_metadata_lists_each_tasks_outputs(servers: dict[str, Managed]) -> None:
    iris = httpx.get(f"{servers[IRIS].url}/v2/models/{IRIS}").json()
    assert iris["outputs"] == [
        {"name": "prediction", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert iris["parameters"]["task"] == "multiclass"
    assert iris["parameters"]["classes"] == list(IRIS_CLASSES)
    assert iris["platform"] == "slipway-numpy"
    diabetes = httpx.get(f"{servers[DIABETES].url}/v2/models/{DIABETES}").json()
    assert diabetes["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    assert diabetes["parameters"]["task"] == "regression"
    custom = httpx.get(f"{servers[CUSTOM].url}/v2/models/{CUSTOM}").json()
    assert custom["platform"] == "slipway-torch"
    kserve = httpx.get(f"{servers[f'{IRIS}-kserve'].url}/v2/models/{IRIS}").json()
    assert kserve["outputs"] == iris["outputs"]


# ---------------------------------------------------------------------- metrics


def _samples(url: str) -> list[Any]:
    text = httpx.get(f"{url}/metrics").text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_multiclass_metrics_score_the_predicted_class_and_count_classes(
    servers: dict[str, Managed], bundles: dict[str, TaskBundle]
) -> None:
    url, bundle = servers[IRIS].url, bundles[IRIS]

    def state() -> tuple[float, float, dict[str, float]]:
        samples = _samples(url)
        count = sum(s.value for s in samples if s.name == "slipway_prediction_score_count")
        total = sum(s.value for s in samples if s.name == "slipway_prediction_score_sum")
        classes = {
            s.labels["class"]: s.value for s in samples if s.name == "slipway_predicted_class_total"
        }
        return count, total, classes

    before = state()
    assert set(before[2]) == set(IRIS_CLASSES)  # every class's series exists from the start
    rows = bundle.rows(40, offset=2)
    reference = bundle.reference(rows)
    assert _v1(url, IRIS, rows).status_code == 200
    after = state()
    assert after[0] - before[0] == 40
    assert after[1] - before[1] == pytest.approx(reference.max(axis=1).sum(), abs=1e-4)
    expected = np.bincount(reference.argmax(axis=1), minlength=3)
    grown = [after[2][c] - before[2][c] for c in IRIS_CLASSES]
    assert grown == expected.tolist()


def test_regression_score_histogram_spans_the_labels_range(
    servers: dict[str, Managed], bundles: dict[str, TaskBundle]
) -> None:
    url, bundle = servers[DIABETES].url, bundles[DIABETES]
    rows = bundle.rows(10, offset=3)
    assert _v1(url, DIABETES, rows).status_code == 200
    buckets = [
        float(s.labels["le"])
        for s in _samples(url)
        if s.name == "slipway_prediction_score_bucket" and s.labels["le"] != "+Inf"
    ]
    label = bundle.contract.column("progression")
    assert buckets[0] == pytest.approx(label.min) and buckets[-1] == pytest.approx(label.max)
    assert len(buckets) > 10
    total = sum(s.value for s in _samples(url) if s.name == "slipway_prediction_score_sum")
    assert total >= bundle.reference(rows).sum() - 1e-3  # values, not probabilities
