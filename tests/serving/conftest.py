"""Fixtures of the serving tests: a model bundle in memory (unit tests), and trained
versions in a real MLflow with predictor processes (integration tests)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from slipway.config import load_settings
from slipway.data.contract import load_contract
from slipway.data.synthetic import generate
from slipway.local.processes import Managed
from slipway.training.features import Preprocessor
from slipway.training.model_bundle import ModelBundle
from slipway.training.network import NetworkSpec, TabularMLP

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving_support as support


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle with fitted preprocessing and a seeded, untrained network: enough to test
    the predictor's arithmetic without training."""
    contract = load_contract(load_settings().data.contract)
    frame = generate(500, seed=3)
    preprocessor = Preprocessor.fit(frame, contract)
    torch.manual_seed(0)
    network = TabularMLP(NetworkSpec(preprocessor.width, (16, 8), 0.1))
    network.eval()
    return ModelBundle(contract, preprocessor, network).save(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.World]:
    w = support.acquire(tmp_path_factory.mktemp("serving-world"))
    yield w
    support.release(w)


#: Small limits, so that the limit tests send small requests.
LIMITS = {"SLIPWAY_SERVING__MAX_BATCH_SIZE": "64", "SLIPWAY_SERVING__MAX_BODY_BYTES": "65536"}


@pytest.fixture(scope="session")
def predictor(world: support.World) -> Managed:
    """The predictor as deployed: lean HTTP path on, version 1 of the model."""
    return world.serve(world.versions[0], env=LIMITS)


@pytest.fixture(scope="session")
def kserve_routes_predictor(world: support.World) -> Managed:
    """The same model through KServe's own FastAPI routes (lean path off)."""
    return world.serve(world.versions[0], env={**LIMITS, "SLIPWAY_SERVING__LEAN_HTTP": "false"})


@pytest.fixture(scope="session")
def bundle_predictor(
    bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Managed]:
    """A predictor process (KServe's ModelServer, lean HTTP path) over the in-memory test
    bundle, version "3": the Open Inference Protocol tests need a served model, not a
    trained one, so they start without MLflow."""
    server = support.serve_bundle(bundle_dir, tmp_path_factory.mktemp("oip-lean"), {})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bundle_kserve_predictor(
    bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Managed]:
    """The same, through KServe's own routes (lean path off)."""
    server = support.serve_bundle(
        bundle_dir, tmp_path_factory.mktemp("oip-kserve"), {"SLIPWAY_SERVING__LEAN_HTTP": "false"}
    )
    yield server
    server.stop()


#: The Open Inference Protocol tests run against this URL instead of their own servers
#: when it is set (a predictor container, say); SLIPWAY_PREDICTOR_MODEL names its model.
TARGET_URL = "SLIPWAY_PREDICTOR_URL"


@pytest.fixture(scope="session", params=["lean", "kserve-routes"])
def oip_target(request: pytest.FixtureRequest) -> support.Target:
    """The predictor the protocol tests talk to: the lean path and KServe's own routes over
    the test bundle, or the one server that SLIPWAY_PREDICTOR_URL names."""
    url = os.environ.get(TARGET_URL, "").rstrip("/")
    if url:
        if request.param != "lean":
            pytest.skip(f"{TARGET_URL} names a single server")
        model = os.environ.get("SLIPWAY_PREDICTOR_MODEL", support.MODEL)
        metadata = httpx.get(f"{url}/v2/models/{model}", timeout=30)
        assert metadata.status_code == 200, f"{url} does not serve {model}: {metadata.text}"
        return support.Target(url, model, str(metadata.json()["versions"][0]))
    fixture = "bundle_predictor" if request.param == "lean" else "bundle_kserve_predictor"
    server: Managed = request.getfixturevalue(fixture)
    return support.Target(
        server.url,
        support.MODEL,
        support.BUNDLE_VERSION,
        kserve_routes=fixture != "bundle_predictor",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The bad-input fuzz's count and time per endpoint, at the end of the run."""
    fuzz = sys.modules.get("test_fuzz_bad_input")
    for name, (count, seconds) in sorted(getattr(fuzz, "REPORT", {}).items()):
        terminalreporter.write_line(f"fuzz {name}: {int(count)} cases in {seconds:.1f}s")
