"""The supported subset's edges: which fields of a spec, template or container are
ignored by design (where and how a pod runs, not what a step does), and the check that
refuses any other field with a WorkflowError naming where it is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hera.workflows import models as m

from slipway.errors import WorkflowError

IGNORED_SPEC = {
    "serviceAccountName", "securityContext", "podGC", "ttlStrategy", "activeDeadlineSeconds",
    "podMetadata", "workflowMetadata", "automountServiceAccountToken", "nodeSelector",
    "tolerations", "priority", "podPriorityClassName",
}  # fmt: skip
IGNORED_TEMPLATE = {
    "volumes", "nodeSelector", "tolerations", "affinity", "metadata", "securityContext",
    "serviceAccountName", "automountServiceAccountToken", "priorityClassName",
    "activeDeadlineSeconds",
}  # fmt: skip
IGNORED_CONTAINER = {
    "image", "imagePullPolicy", "resources", "securityContext", "volumeMounts", "workingDir",
}  # fmt: skip


def keys(model: Any) -> set[str]:
    """The fields set on a Hera model, by their Argo names."""
    dumped: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True)
    return set(dumped)


def reject_unknown(model: Any, allowed: set[str], where: str) -> None:
    """WorkflowError naming every field of ``model`` outside ``allowed``."""
    extra = sorted(keys(model) - allowed)
    if extra:
        raise WorkflowError(f"{where}: not supported by the local executor: {', '.join(extra)}")


def params(
    parameters: Iterable[m.Parameter] | None, allowed: set[str], where: str
) -> list[m.Parameter]:
    """``parameters`` as a list, each using only the ``allowed`` fields."""
    out = list(parameters or [])
    for param in out:
        reject_unknown(param, allowed, f"{where} parameter {param.name}")
    return out
