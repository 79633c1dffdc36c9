"""Bad-input fuzz: at least 500 malformed requests against a running predictor; every one
answers 4xx with a JSON error, and the server keeps serving.

Each generated request is malformed by construction (a wrong type, a value out of range,
an unknown or missing feature, a non-finite number, an unknown category, a bad shape, a
broken body, an empty or oversized batch), so "4xx" is the only right answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_support import MODEL, VALID, v2_body

from slipway.local.processes import Managed

pytestmark = pytest.mark.integration

EXAMPLES = 520
NUMERIC = {"tenure_months": (0, 120, False), "monthly_charges": (0, 500, False),
           "support_calls": (0, 50, True), "age": (18, 120, True)}  # fmt: skip
CATEGORIES = {"contract": ("monthly", "annual", "two_year"),
              "region": ("north", "south", "east", "west"),
              "payment_method": ("card", "bank", "invoice")}  # fmt: skip

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def wrong_value(draw: st.DrawFn) -> tuple[str, Any]:
    """A feature and a value its contract forbids."""
    name = draw(st.sampled_from(list(VALID)))
    if name in NUMERIC:
        low, high, integer = NUMERIC[name]
        choices = [
            json_value.filter(lambda v: isinstance(v, str | list | dict | bool) or v is None),
            st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False),
            st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False),
        ]
        if integer:
            choices.append(st.floats(low, high).filter(lambda v: not float(v).is_integer()))
        return name, draw(st.one_of(*choices))
    categories = CATEGORIES[name]
    bad = st.one_of(
        st.text(max_size=10).filter(lambda v: v not in categories),
        json_value.filter(lambda v: not isinstance(v, str)),
    )
    return name, draw(bad)


@st.composite
def malformed_request(draw: st.DrawFn) -> tuple[str, bytes]:
    """(protocol, body)."""
    kind = draw(st.integers(0, 9))
    row = dict(VALID)
    if kind == 0:  # a forbidden value in a v1 object instance
        name, value = draw(wrong_value())
        row[name] = value
        return "v1", json.dumps({"instances": [VALID, row]}).encode()
    if kind == 1:  # missing feature
        del row[draw(st.sampled_from(list(VALID)))]
        return "v1", json.dumps({"instances": [row]}).encode()
    if kind == 2:  # unknown feature
        extra = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in VALID))
        row[extra] = draw(json_value)
        return "v1", json.dumps({"instances": [row]}).encode()
    if kind == 3:  # non-finite numbers, written as JavaScript literals
        name = draw(st.sampled_from(list(NUMERIC)))
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]))
        text = json.dumps({"instances": [{**row, name: "__X__"}]})
        return "v1", text.replace('"__X__"', literal).encode()
    if kind == 4:  # wrong shapes of the body or the batch
        body = draw(
            st.one_of(
                json_value.filter(lambda v: not isinstance(v, dict)),
                st.dictionaries(st.text(max_size=8).filter(lambda k: k != "instances"), json_value),
                st.builds(
                    lambda v: {"instances": v}, json_value.filter(lambda v: not isinstance(v, list))
                ),
                st.just({"instances": []}),
                st.builds(lambda n: {"instances": [VALID] * n}, st.integers(65, 80)),
                st.builds(lambda v: {"instances": [v]}, json_leaf),
                st.builds(lambda n: {"instances": [list(VALID.values())[:n]]}, st.integers(0, 6)),
            )
        )
        return "v1", json.dumps(body).encode()
    if kind == 5:  # not JSON at all, or cut short
        raw = draw(
            st.one_of(
                st.binary(max_size=64).filter(lambda b: _not_json(b)),
                st.builds(
                    lambda n: json.dumps({"instances": [VALID]}).encode()[:n], st.integers(0, 40)
                ),
            )
        )
        return draw(st.sampled_from(["v1", "v2"])), raw
    if kind == 6:  # v2: a forbidden value
        name, value = draw(wrong_value())
        row[name] = value
        return "v2", json.dumps(v2_body([VALID, row])).encode()
    if kind == 7:  # v2: wrong datatype, shape, name, or a tensor missing
        body = v2_body([VALID, VALID])
        tensor = draw(st.sampled_from(body["inputs"]))
        change = draw(st.integers(0, 4))
        if change == 0:
            numeric = tensor["name"] in NUMERIC
            tensor["datatype"] = draw(
                st.sampled_from(
                    ["BYTES", "BOOL", "STRING"] if numeric else ["FP32", "INT64", "BOOL"]
                )
            )
        elif change == 1:
            tensor["shape"] = draw(
                st.lists(st.integers(-3, 5), max_size=3).filter(lambda s: s not in ([2], [2, 1]))
            )
        elif change == 2:
            tensor["name"] = draw(st.text(max_size=8).filter(lambda k: k not in VALID))
        elif change == 3:
            body["inputs"].remove(tensor)
        else:
            tensor["data"] = tensor["data"][:1]
        return "v2", json.dumps(body).encode()
    if kind == 8:  # v2: body shapes
        body = draw(
            st.one_of(
                json_value.filter(lambda v: not isinstance(v, dict)),
                st.builds(
                    lambda v: {"inputs": v},
                    json_value.filter(lambda v: not isinstance(v, list) or v == []),
                ),
                st.builds(lambda v: {"inputs": [v]}, json_leaf),
                st.builds(
                    lambda v: {**v2_body([VALID]), "id": v},
                    st.integers() | st.lists(json_leaf, max_size=2),
                ),
            )
        )
        return "v2", json.dumps(body).encode()
    # kind 9: a batch over the limit in v2
    return "v2", json.dumps(v2_body([VALID] * draw(st.integers(65, 70)))).encode()


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


@pytest.fixture(scope="module")
def http() -> httpx.Client:
    with httpx.Client(timeout=10) as client:
        yield client


SEEN: list[int] = []


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(request=malformed_request())
def test_malformed_requests_get_4xx(
    predictor: Managed, http: httpx.Client, request: tuple[str, bytes]
) -> None:
    protocol, body = request
    path = f"/v1/models/{MODEL}:predict" if protocol == "v1" else f"/v2/models/{MODEL}/infer"
    response = http.post(
        predictor.url + path, content=body, headers={"content-type": "application/json"}
    )
    SEEN.append(response.status_code)
    assert 400 <= response.status_code < 500, (response.status_code, body[:200], response.text)
    error = response.json()
    assert isinstance(error["error"], str)
    assert error["error"]


def test_fuzz_ran_enough_and_the_server_still_serves(predictor: Managed) -> None:
    assert len(SEEN) >= 500
    assert all(400 <= code < 500 for code in SEEN)
    ok = httpx.post(f"{predictor.url}/v1/models/{MODEL}:predict", json={"instances": [VALID]})
    assert ok.status_code == 200
    assert httpx.get(f"{predictor.url}/v2/health/ready").status_code == 200
