"""The shadow comparison rule and target parsing (slipway.serving.shadow): pure, no I/O.
Each rule has a case that agrees and one that does not."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from slipway.serving.shadow import (
    METRIC,
    ShadowTargetRefused,
    answers_agree,
    bodies_agree,
    counts_in,
    is_inference,
    parse_target,
    shadow_path,
)

V1 = {"predictions": [{"prediction": 1, "probabilities": [0.3, 0.7]}]}


def _v1(label: int, score: float) -> dict[str, object]:
    return {"predictions": [{"prediction": label, "probabilities": [1 - score, score]}]}


def _v2(labels: list[int], version: str) -> dict[str, object]:
    return {"id": version, "model_name": "m", "model_version": version,
            "outputs": [{"name": "prediction", "datatype": "INT64", "shape": [len(labels)],
                         "data": labels}]}  # fmt: skip


@pytest.mark.parametrize(
    ("live", "shadow", "agree"),
    [
        (V1, _v1(1, 0.75), True),  # scores 0.05 apart, within 0.1
        (V1, _v1(1, 0.85), False),  # same label, scores 0.15 apart
        (V1, _v1(0, 0.7), False),  # a different label
        (_v2([1, 0], "1"), _v2([1, 0], "2"), True),  # the id and version are not predictions
        (_v2([1, 0], "1"), _v2([1, 1], "2"), False),
        (V1, {"predictions": []}, False),  # a different number of rows
        (V1, {"error": "x"}, False),
        (_v1(True, 0.7), _v1(1, 0.7), True),  # JSON has one kind of number per value
    ],
)
def test_answers_agree(live: object, shadow: object, agree: bool) -> None:
    assert answers_agree(live, shadow, 0.1) is agree


def test_a_body_that_is_not_json_agrees_only_byte_for_byte() -> None:
    assert bodies_agree(b"\x00\x01", b"\x00\x01", 0.1)
    assert not bodies_agree(b"\x00\x01", b"\x00\x02", 0.1)


def test_only_inference_is_mirrored_and_versions_are_dropped() -> None:
    assert is_inference("POST", "/v1/models/m:predict")
    assert is_inference("POST", "/v2/models/m/versions/3/infer")
    assert not is_inference("GET", "/v2/models/m")
    assert not is_inference("POST", "/v2/models/m/ready")
    assert shadow_path("/v2/models/m/versions/3/infer") == "/v2/models/m/infer"


def test_a_target_is_parsed_and_bad_ones_name_the_field() -> None:
    target = parse_target(
        b'{"url": "http://127.0.0.1:9", "model_name": "m", "model_version": "2", "percent": 5}'
    )
    assert target is not None and target.percent == 5 and target.max_inflight == 32
    assert parse_target({"url": None}) is None
    for body, field in [
        ({"url": "ftp://x", "model_name": "m", "model_version": "2", "percent": 5}, "url"),
        ({"url": "http://x", "model_name": "m", "model_version": "2", "percent": 101}, "percent"),
        ({"url": "http://x", "model_name": "m", "model_version": "2"}, "percent"),
        ({"url": "http://x", "model_name": "m", "model_version": "2", "percent": 5, "x": 1}, "x"),
    ]:
        with pytest.raises(ShadowTargetRefused) as refused:
            parse_target(body)
        assert refused.value.field == field
    with pytest.raises(ShadowTargetRefused, match="invalid JSON"):
        parse_target(b"{")


def test_counts_are_read_from_a_metrics_page_summed_over_versions() -> None:
    registry = CollectorRegistry()
    counter = Counter(METRIC, "copies", ["model_name", "model_version", "outcome"],
                      registry=registry)  # fmt: skip
    counter.labels("m", "2", "agree").inc(3)
    counter.labels("m", "3", "agree").inc(2)
    counter.labels("m", "3", "dropped").inc()
    other = Counter("slipway_other_requests", "not the mirror's", ["outcome"], registry=registry)
    other.labels("agree").inc(100)
    assert counts_in(generate_latest(registry).decode()) == {"agree": 5.0, "dropped": 1.0}
    assert counts_in("") == {}
