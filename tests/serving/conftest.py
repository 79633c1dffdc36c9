"""Fixtures of the serving tests: a model bundle in memory (unit tests), and trained
versions in a real MLflow with predictor processes (integration tests)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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
