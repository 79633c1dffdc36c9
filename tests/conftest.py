"""Fixtures shared by every test folder.

CRD schemas live outside the repository (``../shared/crd-schemas`` by default, or
``CRD_SCHEMA_DIR``). Without them the schema tests skip, unless ``REQUIRE_CRD_SCHEMAS=1``
(set by ``.ci/run``) turns the missing folder into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def crd_schema_dir() -> Path:
    """The folder of CRD JSON Schemas, laid out as ``<group>/<kind>_<version>.json``."""
    path = Path(os.environ.get("CRD_SCHEMA_DIR", REPO_ROOT.parent / "shared" / "crd-schemas"))
    if not path.is_dir():
        message = f"CRD schema folder not found: {path} (set CRD_SCHEMA_DIR)"
        if _flag("REQUIRE_CRD_SCHEMAS"):
            pytest.fail(message + "; REQUIRE_CRD_SCHEMAS=1 makes this a failure")
        pytest.skip(message)
    return path
