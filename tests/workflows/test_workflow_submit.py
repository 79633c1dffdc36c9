"""``slipway workflow submit|status|logs`` through the argo-workflows SDK, against a fake
Argo Server (fake_argo.py: it stands in for a real one, which cannot run here, and checks
each request against Argo's API and the Workflow CRD's schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_argo import FakeArgo, serve
from typer.testing import CliRunner

from slipway.cli.workflow import workflow_app
from slipway.workflow import render

TOKEN = "fake-token-for-tests"


@pytest.fixture
def argo(
    repo_root: Path, crd_schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeArgo]:
    fake = FakeArgo(repo_root / render.RENDERED_DIR, crd_schema_dir, TOKEN)
    with serve(fake) as running:
        monkeypatch.setenv("SLIPWAY_ARGO__SERVER", running.url)
        monkeypatch.setenv("ARGO_TOKEN", TOKEN)
        yield running


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(workflow_app, list(args))
    return result.exit_code, result.output


def test_submit_status_and_logs_round_trip(argo: FakeArgo) -> None:
    code, out = _cli("submit", "-p", "data=s3://datasets/churn/train.parquet",
                     "-p", "tuning-trials=4", "-p", "gpus=2")  # fmt: skip
    assert code == 0, out
    name = out.strip()
    assert name == "slipway-train-and-promote-00001"
    submitted = next(r for r in argo.requests if r.get("operation") == "submit_workflow")
    body = json.loads(submitted["body"])
    assert body["resourceKind"] == "WorkflowTemplate"
    assert body["resourceName"] == "slipway-train-and-promote"
    assert body["submitOptions"]["parameters"] == [
        "data=s3://datasets/churn/train.parquet", "tuning-trials=4", "gpus=2",
    ]  # fmt: skip
    workflow = argo.workflows[name]
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "slipway-train-and-promote"}

    workflow["status"] = {
        "phase": "Failed",
        "message": "child failed",
        "nodes": {
            "a": {"type": "Pod", "displayName": "validate-data", "templateName": "validate-data",
                  "phase": "Succeeded", "startedAt": "2026-01-01T00:00:01Z"},
            "b": {"type": "Pod", "displayName": "train", "templateName": "train",
                  "phase": "Failed", "message": "Error (exit code 1)",
                  "startedAt": "2026-01-01T00:00:09Z"},
            "c": {"type": "DAG", "displayName": name, "phase": "Failed"},
        },
    }  # fmt: skip
    code, out = _cli("status", name)
    assert code == 0, out
    assert out.splitlines() == [
        f"{name}: Failed (child failed)",
        "  validate-data                Succeeded",
        "  train                        Failed     Error (exit code 1)",
    ]

    argo.logs[name] = [("validate-data-1", "rows: 3000"), ("train-2", "epoch 1 loss 0.6")]
    code, out = _cli("logs", name)
    assert code == 0, out
    assert out.splitlines() == ["validate-data-1: rows: 3000", "train-2: epoch 1 loss 0.6"]
    logs = next(r for r in argo.requests if r.get("operation") == "workflow_logs")
    assert logs["query"]["logOptions.container"] == ["main"]
    code, out = _cli("logs", name, "--grep", "epoch")
    assert out.splitlines() == ["train-2: epoch 1 loss 0.6"]


def test_parameters_are_checked_before_anything_is_sent(argo: FakeArgo) -> None:
    for args, message in [
        (["-p", "tuning-trials=2"], "parameters ['data'] are required"),
        (["-p", "data=x", "-p", "dat=y"], "unknown parameters ['dat']"),
        (["-p", "data=x", "-p", "gpus=3"], "gpus='3' is not one of"),
        (["-p", "data"], "expected NAME=VALUE"),
    ]:
        code, out = _cli("submit", *args)
        assert code == 1
        assert message in out
    assert argo.requests == []


def test_the_fake_server_refuses_what_argo_would(argo: FakeArgo) -> None:
    """The fake's own checks can fail: a request Argo would refuse is refused."""
    from types import SimpleNamespace

    headers = {"Authorization": f"Bearer {TOKEN}"}
    submit = "/api/v1/workflows/ml-workflows/submit"

    def post(body: object, path: str = submit, auth: dict[str, str] = headers) -> int:
        status, _ = argo.handle("POST", path, SimpleNamespace(get=auth.get),
                                json.dumps(body).encode())  # fmt: skip
        return status

    ok = {"resourceKind": "WorkflowTemplate", "resourceName": "slipway-train-and-promote",
          "submitOptions": {"parameters": ["data=x"]}}  # fmt: skip
    assert post(ok) == 200
    assert post(ok, auth={}) == 401
    assert post(ok | {"resourceKnd": "x"}) == 400  # a field Argo does not know
    assert post(ok | {"submitOptions": {"parameter": ["data=x"]}}) == 400
    assert post(ok | {"resourceName": "nope"}) == 404
    assert post(ok | {"submitOptions": {"parameters": ["gpus=2"]}}) == 400  # data missing
    assert post(ok, path="/api/v1/workflows/other/submit") == 403
    status, _ = argo.handle("GET", "/api/v1/workflows/ml-workflows/x/log?logOption.container=m",
                            SimpleNamespace(get=headers.get), b"")  # fmt: skip
    assert status == 400


def test_without_a_token_or_a_server_nothing_is_sent(
    argo: FakeArgo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARGO_TOKEN")
    code, out = _cli("status", "x")
    assert code == 1
    assert "no token in $ARGO_TOKEN" in out
    monkeypatch.setenv("ARGO_TOKEN", "wrong")
    code, out = _cli("status", "x")
    assert code == 1
    assert "401" in out
    monkeypatch.delenv("SLIPWAY_ARGO__SERVER")
    monkeypatch.delenv("ARGO_SERVER", raising=False)
    code, out = _cli("status", "x")
    assert "no Argo Server" in out


def test_an_unknown_workflow_is_the_servers_404(argo: FakeArgo) -> None:
    code, out = _cli("status", "missing")
    assert code == 1
    assert "404" in out
    assert "not found" in out
