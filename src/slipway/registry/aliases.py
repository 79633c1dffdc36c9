"""The MLflow model registry: versions with lineage tags, and the two aliases.

``challenger`` marks the newest version that passed the gate; ``champion`` the version in
service. ``champion`` moves only through promotion (slipway.rollout), except that the very
first version to pass the gate has nothing to be compared with and becomes champion
directly. MLflow stages are deprecated and not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    became_champion: bool


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def register(client: MlflowClient, name: str, model_uri: str, tags: dict[str, str]) -> Registration:
    # Tags go on at creation so that no version is ever visible without its lineage.
    version = mlflow.register_model(model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    first = version_by_alias(client, name, CHAMPION) is None
    if first:
        client.set_registered_model_alias(name, CHAMPION, version.version)
        client.set_model_version_tag(name, version.version, "slipway.promotion", "first-champion")
    return Registration(name, str(version.version), first)


def promote(client: MlflowClient, name: str, version: str, reason: str) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "slipway.promotion", reason)
