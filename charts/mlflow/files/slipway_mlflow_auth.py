"""MLflow basic auth plus the registry rules basic auth cannot express (slipway's mlflow chart).

MLflow's basic-auth app grants permissions per experiment and per registered model; setting
any alias needs EDIT on the model, so it cannot tell `challenger` (the pipeline's) from
`champion` (the rollout's). This module is the app's `authorization_function`: it
authenticates exactly as basic auth does, then refuses (403) to everyone not named:
  - setting or deleting a protected alias (`champion`): only `alias_writers`, except that
    the first version of a model may be made champion by anyone allowed to set aliases on
    it (registration does that when nothing serves yet);
  - creating experiments, registered models or model versions: only `creators`;
  - deleting a registered model or a model version: only `registry_deleters`.
Its settings are the `[slipway]` section of the auth config file (MLFLOW_AUTH_CONFIG_PATH),
which the chart renders. It runs inside MLflow's own image, so it imports only MLflow and
Flask; the chart mounts it from a ConfigMap and puts its folder on PYTHONPATH.
"""

from __future__ import annotations

import configparser
import functools
import os
from typing import NamedTuple

from flask import Response, request
from mlflow.exceptions import MlflowException
from mlflow.server.auth import authenticate_request_basic_auth, make_forbidden_response
from mlflow.server.handlers import _get_model_registry_store
from werkzeug.datastructures import Authorization

ALIAS_PATH = "/mlflow/registered-models/alias"
CREATE_PATHS = (
    "/mlflow/experiments/create",
    "/mlflow/registered-models/create",
    "/mlflow/model-versions/create",
)
DELETE_PATHS = ("/mlflow/registered-models/delete", "/mlflow/model-versions/delete")


class Rules(NamedTuple):
    protected_aliases: frozenset[str]
    alias_writers: frozenset[str]
    creators: frozenset[str]
    registry_deleters: frozenset[str]


@functools.lru_cache(maxsize=1)
def rules() -> Rules:
    parser = configparser.ConfigParser()
    path = os.environ.get("MLFLOW_AUTH_CONFIG_PATH", "")
    if not parser.read(path) or not parser.has_section("slipway"):
        # Fail closed: without its rules the hook would let anyone move `champion`.
        raise RuntimeError(f"{path or 'MLFLOW_AUTH_CONFIG_PATH'}: no [slipway] section")
    section = parser["slipway"]

    def names(key: str) -> frozenset[str]:
        return frozenset(n.strip() for n in section.get(key, "").split(",") if n.strip())

    return Rules(*(names(key) for key in Rules._fields))


def _request_field(name: str) -> str | None:
    body = request.get_json(force=True, silent=True)
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else request.args.get(name)


def _alias_exists(model: str | None, alias: str) -> bool:
    if not model:
        return True  # MLflow refuses the request itself; never the first-champion exception
    try:
        _get_model_registry_store().get_model_version_by_alias(model, alias)
    except MlflowException:
        return False
    return True


def refused(username: str, method: str, path: str) -> bool:
    """Whether the slipway rules refuse this request to ``username`` (MLflow's own
    permissions are checked after, as usual)."""
    r = rules()
    if path.endswith(ALIAS_PATH) and method in ("POST", "DELETE"):
        alias = _request_field("alias")
        if alias not in r.protected_aliases or username in r.alias_writers:
            return False
        first = method == "POST" and not _alias_exists(_request_field("name"), alias)
        return not first
    if path.endswith(CREATE_PATHS) and method == "POST":
        return username not in r.creators
    if path.endswith(DELETE_PATHS) and method == "DELETE":
        return username not in r.registry_deleters
    return False


def authenticate() -> Authorization | Response:
    """Basic auth; then 403 for a request the slipway rules refuse to this user."""
    result = authenticate_request_basic_auth()
    if isinstance(result, Authorization) and refused(
        str(result.username), request.method, request.path
    ):
        return make_forbidden_response()
    return result
