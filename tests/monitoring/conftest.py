"""Fixtures of the monitoring tests: a model bundle on disk and a predictor loaded from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from slipway.config import load_settings
from slipway.data.contract import load_contract
from slipway.data.synthetic import generate
from slipway.training.features import Preprocessor
from slipway.training.model_bundle import ModelBundle
from slipway.training.network import NetworkSpec, TabularMLP


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle with fitted preprocessing and a seeded, untrained network."""
    contract = load_contract(load_settings().data.contract)
    preprocessor = Preprocessor.fit(generate(500, seed=3), contract)
    torch.manual_seed(0)
    network = TabularMLP(NetworkSpec(preprocessor.width, (8,), 0.0))
    network.eval()
    return ModelBundle(contract, preprocessor, network).save(tmp_path_factory.mktemp("bundle"))
