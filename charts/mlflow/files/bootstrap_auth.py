"""Create or update slipway's MLflow identities and their roles (the chart's auth hook Job).

Runs after every install and upgrade, as MLflow's admin, against the tracking server:
  - each identity (IDENTITIES: JSON list of {name, role}) gets its user, with the password
    from its environment variables (rotated when the secret store's value changed);
  - each role (ROLES: JSON object role -> list of [resource_type, pattern, permission])
    exists in the workspace WORKSPACE with exactly those grants, and is assigned.
Idempotent: a second run changes nothing. It uses MLflow's own auth client only (it runs in
MLflow's image). Credentials come from the environment (an ExternalSecret's Secret).
"""

from __future__ import annotations

import json
import os
import sys
import time

import requests
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient


def _env_name(name: str, what: str) -> str:
    return f"MLFLOW_{name.upper().replace('-', '_')}_{what}"


def _wait_for(uri: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{uri}/health", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"MLflow at {uri} did not answer /health within {timeout:.0f}s")
        time.sleep(3)


def ensure_user(client: AuthServiceClient, username: str, password: str) -> str:
    try:
        client.get_user(username)
    except MlflowException:
        client.create_user(username, password)
        return "created"
    client.update_user_password(username, password)
    return "updated"


def ensure_role(
    client: AuthServiceClient, workspace: str, name: str, grants: list[list[str]]
) -> int:
    role = next((r for r in client.list_roles(workspace) if r.name == name), None)
    if role is None:
        role = client.create_role(workspace, name, "slipway: managed by the mlflow chart")
    wanted = {(t, p): permission for t, p, permission in grants}
    for existing in client.list_role_permissions(role.id):
        permission = wanted.pop((existing.resource_type, existing.resource_pattern), None)
        if permission is None:
            client.remove_role_permission(existing.id)
        elif permission != existing.permission:
            client.update_role_permission(existing.id, permission)
    for (resource_type, pattern), permission in wanted.items():
        client.add_role_permission(role.id, resource_type, pattern, permission)
    return int(role.id)


def main() -> int:
    uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    workspace = os.environ.get("WORKSPACE", "default")
    identities = json.loads(os.environ["IDENTITIES"])
    roles = json.loads(os.environ["ROLES"])
    _wait_for(uri, float(os.environ.get("WAIT_SECONDS", "600")))
    # The admin's own credentials: MLFLOW_TRACKING_USERNAME/PASSWORD, read by the client.
    client = AuthServiceClient(uri)
    role_ids = {name: ensure_role(client, workspace, name, g) for name, g in roles.items()}
    for identity in identities:
        username = os.environ[_env_name(identity["name"], "USERNAME")]
        password = os.environ[_env_name(identity["name"], "PASSWORD")]
        done = ensure_user(client, username, password)
        role_id = role_ids[identity["role"]]
        if all(r.id != role_id for r in client.list_user_roles(username)):
            client.assign_role(username, role_id)
        print(f"{identity['name']}: user {username} {done}, role {identity['role']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
