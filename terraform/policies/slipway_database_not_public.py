"""CKV_SLIPWAY_3: databases say, literally, that they are not publicly accessible.

The provider's default is private, but a default is one edit away from changing unseen:
the rule asks for an explicit `publicly_accessible = false` on every RDS instance.
"""

from __future__ import annotations

from typing import Any

from _slipway_common import as_bool
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class DatabaseNotPublic(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databases set publicly_accessible = false explicitly",
            id="CKV_SLIPWAY_3",
            categories=[CheckCategories.NETWORKING],
            supported_resources=["aws_db_instance", "aws_rds_cluster_instance"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if as_bool(conf.get("publicly_accessible")) is False:
            return CheckResult.PASSED
        return CheckResult.FAILED

    def get_evaluated_keys(self) -> list[str]:
        return ["publicly_accessible"]


check = DatabaseNotPublic()
