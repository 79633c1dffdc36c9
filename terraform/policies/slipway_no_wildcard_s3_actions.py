"""CKV_SLIPWAY_4: no IAM policy allows wildcard actions on the data buckets.

An Allow statement may not grant `*`, an `s3:` action containing `*` (`s3:*`, `s3:Get*`,
`s3:*Object`), or use NotAction (which allows everything it does not list). Deny
statements may use wildcards: that is how the buckets' TLS-only policies work.
Covers aws_iam_policy_document data sources and the policy resources that take a JSON
document (aws_iam_policy, aws_iam_role_policy, aws_iam_user_policy, aws_iam_group_policy,
aws_s3_bucket_policy).
"""

from __future__ import annotations

from typing import Any

from _slipway_common import as_list, as_mapping, first
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.data.base_check import BaseDataCheck
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

NAME = "IAM policies allow no wildcard actions on S3 data buckets"
ID = "CKV_SLIPWAY_4"


def is_wildcard_s3_action(action: Any) -> bool:
    if not isinstance(action, str) or "*" not in action:
        return False
    action = action.strip().lower()
    return action == "*" or action.startswith("s3:") or action.startswith("s3*")


def statement_allows_wildcard(effect: Any, actions: list[Any], not_actions: list[Any]) -> bool:
    if str(first(effect) or "Allow").lower() != "allow":
        return False
    return bool(not_actions) or any(is_wildcard_s3_action(a) for a in actions)


def document_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def json_document_allows_wildcard(document: dict[str, Any]) -> bool:
    for statement in document_statements(document):
        actions = as_list(statement.get("Action"))
        not_actions = as_list(statement.get("NotAction"))
        if statement_allows_wildcard(statement.get("Effect"), actions, not_actions):
            return True
    return False


class NoWildcardS3ActionsInPolicyDocument(BaseDataCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf: dict[str, Any]) -> CheckResult:
        for statement in as_list(conf.get("statement")):
            statement = as_mapping(statement)
            actions = as_list(statement.get("actions"))
            not_actions = as_list(statement.get("not_actions"))
            if statement_allows_wildcard(statement.get("effect"), actions, not_actions):
                return CheckResult.FAILED
        for key in ("source_policy_documents", "override_policy_documents"):
            for document in as_list(conf.get(key)):
                if json_document_allows_wildcard(as_mapping(document)):
                    return CheckResult.FAILED
        return CheckResult.PASSED


class NoWildcardS3ActionsInPolicyResource(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.IAM],
            supported_resources=[
                "aws_iam_policy",
                "aws_iam_role_policy",
                "aws_iam_user_policy",
                "aws_iam_group_policy",
                "aws_s3_bucket_policy",
            ],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        document = as_mapping(conf.get("policy"))
        return CheckResult.FAILED if json_document_allows_wildcard(document) else CheckResult.PASSED


data_check = NoWildcardS3ActionsInPolicyDocument()
resource_check = NoWildcardS3ActionsInPolicyResource()
