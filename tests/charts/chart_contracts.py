"""Contracts every rendered workload must keep; each function returns error messages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

_POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "InferenceService"}


@dataclass
class Workload:
    """The pods an object makes: where, their labels, pod-level settings and containers."""

    obj: Obj
    labels: dict[str, str]
    pod: Obj
    containers: list[Obj] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.obj['kind']}/{self.obj['metadata']['name']}"

    @property
    def is_helm_test(self) -> bool:
        hook = self.obj["metadata"].get("annotations", {}).get("helm.sh/hook", "")
        return "test" in hook.split(",")


def _workflow_containers(spec: Obj) -> Iterator[Obj]:
    for template in spec.get("templates", []):
        for key in ("container", "script"):
            if key in template:
                yield {"name": template["name"], **template[key]}
        yield from template.get("containerSet", {}).get("containers", [])
        yield from template.get("initContainers", [])
        yield from template.get("sidecars", [])


def workloads(obj: Obj) -> Iterator[Workload]:
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind in _POD_TEMPLATE_KINDS:
        template = spec["template"]
        pod = template["spec"]
        containers = pod.get("initContainers", []) + pod["containers"]
        yield Workload(obj, template.get("metadata", {}).get("labels", {}), pod, containers)
    elif kind == "CronJob":
        template = spec["jobTemplate"]["spec"]["template"]
        pod = template["spec"]
        yield Workload(obj, template.get("metadata", {}).get("labels", {}), pod, pod["containers"])
    elif kind == "Pod":
        yield Workload(obj, obj["metadata"].get("labels", {}), spec, spec["containers"])
    elif kind == "InferenceService":
        predictor = spec["predictor"]
        labels = {"serving.kserve.io/inferenceservice": obj["metadata"]["name"]}
        labels |= predictor.get("labels", {})
        if "model" in predictor:
            containers = [{"name": "kserve-container", **predictor["model"], "runtime": True}]
        else:
            containers = predictor.get("containers", [])
        yield Workload(obj, labels, predictor, containers)
    elif kind in {"WorkflowTemplate", "CronWorkflow"}:
        wf = spec["workflowSpec"] if kind == "CronWorkflow" else spec
        labels = {"workflows.argoproj.io/workflow": "any"}
        yield Workload(obj, labels, wf, list(_workflow_containers(wf)))


def _security_errors(pod: Obj, container: Obj) -> list[str]:
    psc, csc = pod.get("securityContext") or {}, container.get("securityContext") or {}

    def setting(key: str) -> Any:
        return csc.get(key, psc.get(key))

    errors = []
    if setting("runAsNonRoot") is not True:
        errors.append("runAsNonRoot is not true")
    if setting("runAsUser") == 0:
        errors.append("runs as UID 0")
    if csc.get("allowPrivilegeEscalation") is not False:
        errors.append("allowPrivilegeEscalation is not false")
    if csc.get("readOnlyRootFilesystem") is not True:
        errors.append("root filesystem is not read-only")
    if csc.get("privileged"):
        errors.append("privileged")
    if "ALL" not in (csc.get("capabilities") or {}).get("drop", []):
        errors.append("capabilities: ALL is not dropped")
    if (csc.get("capabilities") or {}).get("add"):
        errors.append("adds capabilities")
    if (setting("seccompProfile") or {}).get("type") != "RuntimeDefault":
        errors.append("seccompProfile is not RuntimeDefault")
    return errors


def _resource_errors(container: Obj) -> list[str]:
    resources = container.get("resources") or {}
    return [
        f"no {kind} {resource}"
        for kind in ("requests", "limits")
        for resource in ("cpu", "memory")
        if resource not in (resources.get(kind) or {})
    ]


def image_errors(image: str) -> list[str]:
    if "@sha256:" in image:
        return []
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return [f"image {image} has no tag"]
    if tag == "latest":
        return [f"image {image} uses latest"]
    return []


def workload_errors(workload: Workload) -> list[str]:
    """Restricted security context, requests and limits, pinned images, probes."""
    errors = []
    pod = workload.pod
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        errors.append(f"{workload.name}: uses host namespaces")
    for container in workload.containers:
        where = f"{workload.name} container {container.get('name')}"
        problems = _security_errors(pod, container) + _resource_errors(container)
        if not container.get("runtime"):
            problems += image_errors(container.get("image", ""))
        long_running = workload.obj["kind"] in LONG_RUNNING and not container.get("runtime")
        if long_running and container in pod.get("containers", workload.containers):
            problems += [
                f"no {probe}"
                for probe in ("readinessProbe", "livenessProbe")
                if probe not in container
            ]
        errors += [f"{where}: {problem}" for problem in problems]
    return errors


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects these labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def network_policy_errors(objects: list[Obj]) -> list[str]:
    """Every workload (helm tests aside) is selected by a NetworkPolicy of its namespace."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    errors = []
    for obj in objects:
        for workload in workloads(obj):
            if workload.is_helm_test:
                continue
            namespace = obj["metadata"].get("namespace")
            if not any(
                p["metadata"].get("namespace") == namespace
                and selects(p["spec"]["podSelector"], workload.labels)
                for p in policies
            ):
                errors.append(f"{workload.name}: no NetworkPolicy selects its pods")
    return errors


def _replicas(obj: Obj, objects: list[Obj]) -> int:
    if obj["kind"] == "InferenceService":
        return int(obj["spec"]["predictor"].get("minReplicas", 1))
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if target["kind"] == obj["kind"] and target["name"] == obj["metadata"]["name"]:
            return int(hpa["spec"].get("minReplicas", 1))
    return int(obj["spec"].get("replicas", 1))


def disruption_budget_errors(objects: list[Obj]) -> list[str]:
    """A long-running workload with more than one replica has a PodDisruptionBudget."""
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    errors = []
    for obj in objects:
        if obj["kind"] not in LONG_RUNNING:
            continue
        for workload in workloads(obj):
            covered = any(selects(b["spec"]["selector"], workload.labels) for b in budgets)
            if _replicas(obj, objects) > 1 and not covered:
                errors.append(f"{workload.name}: more than one replica and no PodDisruptionBudget")
    return errors


def contract_errors(objects: list[Obj]) -> list[str]:
    errors = [e for obj in objects for w in workloads(obj) for e in workload_errors(w)]
    return errors + network_policy_errors(objects) + disruption_budget_errors(objects)
