"""The storage URI of a registered version: MLflow's proxied location mapped onto the
server's S3 artifact destination (the end-to-end download by KServe's own storage code is
in tests/integration/test_s3_pipeline.py)."""

from __future__ import annotations

import pytest

from slipway.config import load_settings
from slipway.errors import ConfigError, RolloutError
from slipway.rollout.model_registry import storage_uri_for

DEST = "s3://example-artifacts/mlflow"
PROXIED = "mlflow-artifacts:/3/models/m-1a/artifacts"


@pytest.mark.parametrize(
    ("location", "destination", "expected"),
    [
        (PROXIED, DEST, f"{DEST}/3/models/m-1a/artifacts"),
        (PROXIED, DEST + "/", f"{DEST}/3/models/m-1a/artifacts"),
        # The long form with the server's address maps the same way.
        ("mlflow-artifacts://mlflow:5000/3/x/artifacts", DEST, f"{DEST}/3/x/artifacts"),
        # Already downloadable: kept as it is.
        ("s3://other/models/7", DEST, "s3://other/models/7"),
        # No destination known: left for the backend that needs a downloadable URI to refuse.
        (PROXIED, None, PROXIED),
    ],
)  # fmt: skip
def test_proxied_locations_map_onto_the_destination(
    location: str, destination: str | None, expected: str
) -> None:
    assert storage_uri_for(location, destination) == expected


def test_a_proxied_location_without_a_path_is_refused() -> None:
    with pytest.raises(RolloutError, match="without a path"):
        storage_uri_for("mlflow-artifacts:", DEST)


def test_the_destination_setting_takes_only_an_s3_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_TRACKING__ARTIFACTS_DESTINATION", DEST)
    assert load_settings().tracking.artifacts_destination == DEST
    monkeypatch.setenv("SLIPWAY_TRACKING__ARTIFACTS_DESTINATION", "mlflow-artifacts:/x")
    with pytest.raises(ConfigError, match="artifacts_destination"):
        load_settings()
