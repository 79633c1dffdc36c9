"""Fixtures of the demo tests: the shared trained-models world (serving_support.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

import serving_support as support


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.World]:
    w = support.acquire(tmp_path_factory.mktemp("serving-world"))
    yield w
    support.release(w)
