"""CKV_SLIPWAY_1: every GPU node group carries the taint nvidia.com/gpu=true:NoSchedule.

Without the taint, ordinary pods land on (and keep alive) the most expensive nodes of the
cluster. A node group counts as a GPU group when any of these says so: a GPU AMI type, a GPU
instance family (g*, p*), the label slipway.io/node-pool=gpu, or "gpu" in its name.
"""

from __future__ import annotations

import re
from typing import Any

from _slipway_common import as_list, as_mapping, first
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

GPU_AMI = re.compile(r"(NVIDIA|GPU)", re.IGNORECASE)
GPU_INSTANCE = re.compile(r"^(p[0-9]|g[0-9]|gr[0-9])[a-z0-9-]*\.", re.IGNORECASE)
TAINT_KEY = "nvidia.com/gpu"
TAINT_VALUE = "true"
TAINT_EFFECT = "NO_SCHEDULE"


def is_gpu_node_group(conf: dict[str, Any]) -> bool:
    ami_type = first(conf.get("ami_type"))
    if isinstance(ami_type, str) and GPU_AMI.search(ami_type):
        return True
    if any(
        isinstance(t, str) and GPU_INSTANCE.match(t) for t in as_list(conf.get("instance_types"))
    ):
        return True
    if as_mapping(conf.get("labels")).get("slipway.io/node-pool") == "gpu":
        return True
    name = first(conf.get("node_group_name")) or first(conf.get("node_group_name_prefix"))
    return isinstance(name, str) and "gpu" in name.lower()


def has_gpu_taint(conf: dict[str, Any]) -> bool:
    for taint in as_list(conf.get("taint")):
        taint = as_mapping(taint)
        if (
            first(taint.get("key")) == TAINT_KEY
            and str(first(taint.get("value"))).lower() == TAINT_VALUE
            and first(taint.get("effect")) == TAINT_EFFECT
        ):
            return True
    return False


class GpuNodeGroupTainted(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="GPU node groups carry the taint nvidia.com/gpu=true:NoSchedule",
            id="CKV_SLIPWAY_1",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_eks_node_group"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if not is_gpu_node_group(conf):
            return CheckResult.PASSED
        return CheckResult.PASSED if has_gpu_taint(conf) else CheckResult.FAILED


check = GpuNodeGroupTainted()
