"""The Argo Workflows objects, defined once with Hera: rendered for the cluster, walked locally.

- WorkflowTemplate ``slipway-train-and-promote``: validate-data -> propose-trials ->
  tune-trial (a fan-out, one child MLflow run a trial, ``tuning-trials`` of them, at most
  ``TUNING_PARALLELISM`` at once; none by default) -> pick-best -> train (on the best
  trial's parameters, else the config's) -> evaluate -> register -> canary. ``canary``
  runs only when register produced a challenger that has a champion to be compared with:
  nothing after register runs when the gate failed, and a first model is champion
  already. Steps that do I/O retry transient errors; an exit handler marks the MLflow
  run failed with the reason and rolls back a canary that did not finish; the canary and
  the handler hold the model's mutex.
- CronWorkflow ``slipway-drift-monitor``: checks the latest data against the reference and,
  on drift, submits ``slipway-train-and-promote`` on the latest data.

``slipway workflow render`` writes these to ``workflows/rendered/`` and the ml-workflows
chart; ``slipway workflow run-local`` runs the training template with the local executor.
"""

from __future__ import annotations

from typing import Any

import yaml
from hera.workflows import (
    DAG,
    CronWorkflow,
    Parameter,
    Resource,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import models as m

from slipway.workflow.templates import common, drift, exit_handler, pipeline, tuning

TRAIN_AND_PROMOTE = "slipway-train-and-promote"
DRIFT_MONITOR = "slipway-drift-monitor"
SERVICE_ACCOUNT = "ml-workflows"  # the ml-workflows chart's ServiceAccount (IRSA, RBAC)
DEFAULT_MODEL = "churn-classifier"
DEFAULT_PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
LABELS = {"app.kubernetes.io/part-of": "slipway"}
TUNING_PARALLELISM = 4  # trials running at once (the DAG's parallelism: GPU nodes cost)

# What every run of either workflow shares: identity, pod security, housekeeping.
_COMMON: dict[str, Any] = {
    "service_account_name": SERVICE_ACCOUNT,
    "security_context": common.pod_security(),
    # Failed pods stay for their logs; finished workflows go after a week.
    "pod_gc": m.PodGC(strategy="OnPodSuccess"),
    "ttl_strategy": m.TTLStrategy(seconds_after_completion=7 * 24 * 3600),
}


def _param(
    name: str, value: str | None, description: str, enum: list[str] | None = None
) -> Parameter:
    # A parameter without a value is required: `argo submit -p name=...` must give it.
    # (Hera writes an explicit value=None as the string "null", so it is left out.)
    if value is None:
        return Parameter(name=name, description=description, enum=enum)
    return Parameter(name=name, value=value, description=description, enum=enum)


def _common_parameters() -> list[Parameter]:
    return [
        _param("config", "", "slipway config YAML in the image; empty: the packaged one."),
        _param("model-name", DEFAULT_MODEL, "Registered model name."),
    ]


def train_and_promote() -> WorkflowTemplate:
    """validate-data -> train -> evaluate -> register -> canary (analyse, promote or roll back)."""
    wf = "{{workflow.parameters.%s}}"
    template = WorkflowTemplate(
        name=TRAIN_AND_PROMOTE,
        labels=LABELS | {"app.kubernetes.io/component": "training"},
        annotations={
            "workflows.argoproj.io/description": "Train a model, gate it, register it and "
            "roll it out as a canary (promote or roll back on Prometheus metrics).",
        },
        entrypoint="pipeline",
        # Training waits for a GPU node, the canary for its analysis windows: bounded anyway.
        active_deadline_seconds=12 * 3600,
        arguments=[
            _param("data", None, "Training data: s3://bucket/key or a path in the step pods."),
            _param("reference", "", "Reference data for drift checks; empty skips them."),
            *_common_parameters(),
            _param(
                "gpus", "1", "GPUs for training, one torchrun process each.", ["1", "2", "4", "8"]
            ),
            _param("rollout-backend", "kserve", "Where the canary runs.", ["kserve", "local"]),
            _param("prometheus-url", DEFAULT_PROMETHEUS, "Prometheus for the canary analysis."),
            _param("tuning-trials", "0", "Hyperparameter trials before training; 0: none."),
        ],
        on_exit="exit-handler",
        **_COMMON,
    )
    with template, DAG(name="pipeline", parallelism=TUNING_PARALLELISM):
        validate = pipeline.validate_data(
            arguments={
                "data": wf % "data",
                "reference": wf % "reference",
                "config": wf % "config",
            }
        )
        run_id = validate.get_parameter("run-id")
        propose = tuning.propose_trials(
            name="propose-trials",
            arguments={"trials": wf % "tuning-trials", "config": wf % "config"},
        )
        trials = tuning.tune_trial(
            name="tune-trial",
            arguments={
                "run-id": run_id,
                "data": wf % "data",
                "config": wf % "config",
                "trial": "{{item.trial}}",
                "params": "{{item.params}}",
            },
            with_param=propose.get_parameter("trials"),
        )
        best = tuning.pick_best(
            name="pick-best", arguments={"run-id": run_id, "config": wf % "config"}
        )
        train = pipeline.train(
            arguments={
                "run-id": run_id,
                "data": wf % "data",
                "config": wf % "config",
                "gpus": wf % "gpus",
                "hyperparameters": best.get_parameter("hyperparameters"),
            }
        )
        evaluate = pipeline.evaluate(
            arguments={"run-id": run_id, "data": wf % "data", "config": wf % "config"}
        )
        register = pipeline.register(arguments={"run-id": run_id, "config": wf % "config"})
        version = register.get_parameter("model-version")
        first = register.get_parameter("became-champion")
        canary = pipeline.canary(
            arguments={"model-version": version, "config": wf % "config"},
            # Quoted: an empty version must compare as "" rather than vanish.
            when=f'"{version}" != "" && "{first}" == "false"',
        )
        validate >> propose >> trials >> best >> train >> evaluate >> register >> canary
    with template, DAG(name="exit-handler"):
        exit_handler.on_exit(
            name="on-exit",
            arguments={
                "status": "{{workflow.status}}",
                "failures": "{{workflow.failures}}",
                "config": wf % "config",
            },
        )
    return template


def retraining_manifest() -> str:
    """The Workflow the drift monitor creates: the training template on the latest data."""
    submitted = Workflow(
        generate_name=f"{TRAIN_AND_PROMOTE}-drift-",
        labels=LABELS | {"slipway.io/trigger": "drift"},
        workflow_template_ref=m.WorkflowTemplateRef(name=TRAIN_AND_PROMOTE),
        arguments=[
            Parameter(name="data", value="{{inputs.parameters.data}}"),
            # No reference: the data drifted from it by definition, and the training's own
            # drift check would refuse exactly the data it is meant to learn.
            Parameter(name="reference", value=""),
            Parameter(name="config", value="{{inputs.parameters.config}}"),
            Parameter(name="model-name", value="{{inputs.parameters.model-name}}"),
        ],
    )
    return yaml.safe_dump(submitted.to_dict(), sort_keys=False)


def drift_monitor() -> CronWorkflow:
    """Daily: the latest data against the reference; on drift, submit retraining."""
    wf = "{{workflow.parameters.%s}}"
    submit = Resource(
        name="submit-retraining",
        action="create",
        manifest=retraining_manifest(),
        inputs=[Parameter(name="data"), Parameter(name="config"), Parameter(name="model-name")],
    )
    with (
        CronWorkflow(
            name=DRIFT_MONITOR,
            labels=LABELS | {"app.kubernetes.io/component": "drift-monitor"},
            annotations={
                "workflows.argoproj.io/description": "Check the latest data for drift against "
                "the reference; on drift, start slipway-train-and-promote on it.",
            },
            schedules=["0 6 * * *"],
            timezone="UTC",
            concurrency_policy="Forbid",
            starting_deadline_seconds=3600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            entrypoint="monitor",
            active_deadline_seconds=3600,
            arguments=[
                # Empty: judge what the champion served (the payloads the predictors upload
                # to the slipway-platform ConfigMap's SLIPWAY_MONITORING__PAYLOADS__UPLOAD_URI).
                _param(
                    "data",
                    "",
                    "The latest data (s3://bucket/key or a path); empty: the served payloads.",
                ),
                _param(
                    "reference", "/data/churn/reference.parquet", "The data the champion learnt."
                ),
                # Apart from `data`: with `data` empty the check judges what was served, and a
                # retraining still needs a table to learn from.
                _param(
                    "retrain-data",
                    "/data/churn/latest.parquet",
                    "What a retraining learns from on drift (s3://bucket/key or a path).",
                ),
                *_common_parameters(),
            ],
            **_COMMON,
        ) as cron,
        DAG(name="monitor"),
    ):
        check = drift.check_drift(
            arguments={
                "data": wf % "data",
                "reference": wf % "reference",
                "config": wf % "config",
            }
        )
        retrain = submit(
            name="retrain",
            arguments={
                "data": wf % "retrain-data",
                "config": wf % "config",
                "model-name": wf % "model-name",
            },
            when=f'"{check.get_parameter("drift")}" == "true"',
        )
        check >> retrain
    return cron


def all_workflows() -> list[Workflow]:
    """Every workflow object, built afresh (Hera objects are mutable)."""
    return [train_and_promote(), drift_monitor()]
