"""What the workflows say: the DAG's order and conditions, GPUs, security, no credentials."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest

import slipway
from slipway.workflow import definitions
from slipway.workflow.executor import evaluate_when, substitute

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def train() -> Obj:
    obj: Obj = definitions.train_and_promote().to_dict()
    return obj


@pytest.fixture(scope="module")
def cron() -> Obj:
    obj: Obj = definitions.drift_monitor().to_dict()
    return obj


def _spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"].get("workflowSpec", obj["spec"])
    return spec


def _tasks(obj: Obj) -> dict[str, Obj]:
    spec = _spec(obj)
    dag = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])["dag"]
    return {t["name"]: t for t in dag["tasks"]}


def _template(obj: Obj, name: str) -> Obj:
    template: Obj = next(t for t in _spec(obj)["templates"] if t["name"] == name)
    return template


def _args(task: Obj) -> dict[str, str]:
    return {p["name"]: p["value"] for p in task["arguments"]["parameters"]}


CHAIN = [
    "validate-data", "propose-trials", "tune-trial", "pick-best", "train", "evaluate", "register",
    "canary",
]  # fmt: skip


def test_training_dag_is_a_chain_from_validation_to_canary(train: Obj) -> None:
    tasks = _tasks(train)
    assert list(tasks) == CHAIN
    assert "depends" not in tasks["validate-data"]
    for before, after in [
        ("validate-data", "propose-trials"),
        ("propose-trials", "tune-trial"),
        ("tune-trial", "pick-best"),
        ("pick-best", "train"),
        ("train", "evaluate"),
        ("evaluate", "register"),
        ("register", "canary"),
    ]:
        assert tasks[after]["depends"] == before
    run_id = "{{tasks.validate-data.outputs.parameters.run-id}}"
    for name in ("tune-trial", "pick-best", "train", "evaluate", "register"):
        assert _args(tasks[name])["run-id"] == run_id  # steps hand over through the run id
    assert _args(tasks["canary"])["model-version"] == (
        "{{tasks.register.outputs.parameters.model-version}}"
    )


@pytest.mark.parametrize(
    ("version", "became_champion", "canary_runs"),
    [
        ("", "false", False),  # the gate failed: nothing registered, nothing after register
        ("1", "true", False),  # a first model is champion already: nothing to compare with
        ("7", "false", True),  # a challenger beside a champion: canary, analyse, decide
    ],
)
def test_canary_runs_only_for_a_challenger_with_a_champion(
    train: Obj, version: str, became_champion: str, canary_runs: bool
) -> None:
    when = _tasks(train)["canary"]["when"]
    values = {
        "tasks.register.outputs.parameters.model-version": version,
        "tasks.register.outputs.parameters.became-champion": became_champion,
    }
    assert evaluate_when(substitute(when, values, "canary")) is canary_runs
    assert all(
        set(t) <= {"name", "template", "arguments", "depends"}
        for name, t in _tasks(train).items()
        if name not in ("tune-trial", "canary")
    )


def test_tuning_is_a_fan_out_whose_best_trial_feeds_train(train: Obj) -> None:
    tasks = _tasks(train)
    pipeline = _template(train, _spec(train)["entrypoint"])
    assert pipeline["parallelism"] == definitions.TUNING_PARALLELISM
    fan_out = tasks["tune-trial"]
    assert fan_out["withParam"] == "{{tasks.propose-trials.outputs.parameters.trials}}"
    assert _args(fan_out)["trial"] == "{{item.trial}}"
    assert _args(fan_out)["params"] == "{{item.params}}"
    assert _args(tasks["propose-trials"])["trials"] == "{{workflow.parameters.tuning-trials}}"
    assert _args(tasks["train"])["hyperparameters"] == (
        "{{tasks.pick-best.outputs.parameters.hyperparameters}}"
    )
    params = {p["name"]: p for p in _spec(train)["arguments"]["parameters"]}
    assert params["tuning-trials"]["value"] == "0"  # off unless asked for


IO_STEPS = ["validate-data", "tune-trial", "pick-best", "train", "evaluate", "register", "canary"]


@pytest.mark.parametrize("name", IO_STEPS)
def test_steps_that_do_io_retry_transient_errors_with_backoff(train: Obj, name: str) -> None:
    retry = _template(train, name)["retryStrategy"]
    assert retry == {
        "limit": "3",
        "retryPolicy": "OnFailure",
        "expression": "asInt(lastRetry.exitCode) == 75",
        "backoff": {"duration": "5s", "factor": "2", "cap": "1m"},
    }
    assert "retryStrategy" not in _template(train, "propose-trials")  # no I/O to retry


def test_the_exit_handler_gets_the_status_and_failures_and_holds_the_model_mutex(
    train: Obj,
) -> None:
    spec = _spec(train)
    assert spec["onExit"] == "exit-handler"
    handler = _template(train, "exit-handler")["dag"]["tasks"]
    assert [t["name"] for t in handler] == ["on-exit"]
    assert _args(handler[0])["status"] == "{{workflow.status}}"
    assert _args(handler[0])["failures"] == "{{workflow.failures}}"
    mutex = {"mutexes": [{"name": "slipway-rollout-{{workflow.parameters.model-name}}"}]}
    assert _template(train, "on-exit")["synchronization"] == mutex
    assert _template(train, "canary")["synchronization"] == mutex
    # Nothing else holds it: the training steps of two runs may overlap.
    holders = [t["name"] for t in spec["templates"] if "synchronization" in t]
    assert sorted(holders) == ["canary", "on-exit"]


def test_steps_with_side_effects_are_never_cached(train: Obj) -> None:
    for template in _script_templates(train):
        annotations = template.get("metadata", {}).get("annotations", {})
        never = annotations.get("slipway.io/cache") == "never"
        assert never is (template["name"] in {"register", "canary", "on-exit"}), template["name"]
        assert never or "slipway.io/cache-config" in annotations


def test_drift_monitor_retrains_only_on_drift(cron: Obj) -> None:
    assert cron["spec"]["schedules"] == ["0 6 * * *"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    tasks = _tasks(cron)
    assert list(tasks) == ["check-drift", "retrain"]
    assert tasks["retrain"]["depends"] == "check-drift"
    when = tasks["retrain"]["when"]
    for drift, retrains in (("true", True), ("false", False)):
        values = {"tasks.check-drift.outputs.parameters.drift": drift}
        assert evaluate_when(substitute(when, values, "retrain")) is retrains


def test_retraining_submits_the_training_template_on_the_latest_data(cron: Obj) -> None:
    resource = _template(cron, "submit-retraining")["resource"]
    assert resource["action"] == "create"
    assert "setOwnerReference" not in resource  # the retraining outlives the monitor's run
    manifest = resource["manifest"]
    assert "workflowTemplateRef:\n    name: slipway-train-and-promote" in manifest
    assert "value: '{{inputs.parameters.data}}'" in manifest
    # not `data`, which is empty when the check judges the served payloads
    assert _args(_tasks(cron)["retrain"])["data"] == "{{workflow.parameters.retrain-data}}"


def test_training_runs_under_torchrun_on_gpu_nodes(train: Obj) -> None:
    template = _template(train, "train")
    assert template["script"]["command"] == [
        "torchrun", "--standalone", "--nproc-per-node", "{{inputs.parameters.gpus}}",
    ]  # fmt: skip
    assert template["script"]["args"] == [
        "-m", "hera.workflows.runner", "-e", "slipway.workflow.templates.pipeline:train",
    ]  # fmt: skip
    assert template["nodeSelector"] == {"slipway.io/node-pool": "gpu"}
    assert template["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    patch = json.loads(template["podSpecPatch"])
    assert patch == {
        "containers": [
            {
                "name": "main",
                "resources": {"limits": {"nvidia.com/gpu": "{{inputs.parameters.gpus}}"}},
            }
        ]
    }
    assert _args(_tasks(train)["train"])["gpus"] == "{{workflow.parameters.gpus}}"
    mounts = {v["name"]: v["mountPath"] for v in template["script"]["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "dshm": "/dev/shm"}


def test_parameters_have_defaults_except_the_training_data(train: Obj, cron: Obj) -> None:
    params = {p["name"]: p for p in train["spec"]["arguments"]["parameters"]}
    assert set(params) == {
        "data", "reference", "config", "model-name", "gpus", "rollout-backend", "prometheus-url",
        "tuning-trials",
    }  # fmt: skip
    assert "value" not in params["data"]  # required: `argo submit -p data=...`
    assert params["gpus"]["value"] == "1"
    assert params["model-name"]["value"] == "churn-classifier"
    assert params["rollout-backend"]["enum"] == ["kserve", "local"]
    for p in _spec(cron)["arguments"]["parameters"]:
        assert "value" in p, p["name"]  # a cron run has nobody to ask


def _script_templates(obj: Obj) -> list[Obj]:
    return [t for t in _spec(obj)["templates"] if "script" in t]


@pytest.mark.parametrize("which", ["train", "cron"])
def test_every_step_container_is_restricted_limited_and_pinned(
    which: str, train: Obj, cron: Obj
) -> None:
    obj = train if which == "train" else cron
    spec = _spec(obj)
    assert spec["serviceAccountName"] == "ml-workflows"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    templates = _script_templates(obj)
    assert templates
    for template in templates:
        container = template["script"]
        # the release tag of the trainer image; the chart swaps in its `image` value
        assert container["image"] == f"ghcr.io/slipway-ml/slipway-trainer:{slipway.__version__}"
        assert container["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
            "privileged": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }  # fmt: skip
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        assert container["envFrom"][0] == {"configMapRef": {"name": "slipway-platform"}}
        # then the step's MLflow user (tests/workflows/test_workflow_identities.py)
        assert [s["secretRef"]["optional"] for s in container["envFrom"][1:]] == [True]
        tmp = {v["name"]: v for v in template["volumes"]}["tmp"]
        assert "emptyDir" in tmp
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_no_credentials_anywhere(train: Obj, cron: Obj) -> None:
    text = json.dumps([train, cron])
    # No credential-shaped text: passwords, access keys (AWS, GitHub), S3 key settings.
    assert not re.search(r"(?i)password|access_?key|aws_secret|AKIA[0-9A-Z]{16}|gh[pousr]_", text)
    for obj in (train, cron):
        for template in _script_templates(obj):
            for env in template["script"].get("env", []):
                if "valueFrom" in env:  # only references to Secrets, never values
                    assert env["valueFrom"]["secretKeyRef"]["optional"] is True
                    assert env["name"] == "GITHUB_TOKEN"
                else:
                    assert not re.search(r"(?i)token|password", env["name"]), env["name"]
                    assert not re.search(r"(?i)token|password", env.get("value", ""))


def test_each_step_is_a_function_in_slipway_workflow_templates(train: Obj, cron: Obj) -> None:
    for obj in (train, cron):
        for template in _script_templates(obj):
            module, _, function = template["script"]["args"][-1].partition(":")
            assert module.startswith("slipway.workflow.templates."), module
            assert callable(getattr(importlib.import_module(module), function))
            assert template["script"]["source"] == "{{inputs.parameters}}"
