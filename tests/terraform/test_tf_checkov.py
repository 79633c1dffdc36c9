"""checkov on terraform/: zero unsuppressed failures, every skip in place with a reason, and
the organisation rules (custom policies in terraform/policies/) proven on fixtures."""

from __future__ import annotations

from typing import Any

import pytest
from tf_helpers import (
    FIXTURES_DIR,
    TERRAFORM_DIR,
    all_tf_files,
    custom_policy_ids,
    outcomes,
    report_results,
    skip_reason_problems,
    suppression_problems,
    suppressions,
    unsuppressed_failures,
)

CUSTOM_POLICIES = {
    "CKV_SLIPWAY_1": "GPU node groups tainted nvidia.com/gpu=true:NoSchedule",
    "CKV2_SLIPWAY_2": "buckets versioned and encrypted with a KMS key",
    "CKV_SLIPWAY_3": "databases not publicly accessible",
    "CKV_SLIPWAY_4": "no wildcard IAM actions on S3 data buckets",
}

# (policy, fixture resource, expected outcome): each policy passes a good fixture and fails
# every bad one.
FIXTURE_EXPECTATIONS = [
    ("CKV_SLIPWAY_1", "aws_eks_node_group.good_gpu_tainted", "PASSED"),
    ("CKV_SLIPWAY_1", "aws_eks_node_group.good_system_untainted", "PASSED"),
    ("CKV_SLIPWAY_1", "aws_eks_node_group.bad_gpu_untainted", "FAILED"),
    ("CKV_SLIPWAY_1", "aws_eks_node_group.bad_gpu_wrong_effect", "FAILED"),
    ("CKV_SLIPWAY_1", "aws_eks_node_group.bad_gpu_label_wrong_key", "FAILED"),
    # The same rule through the real node-group submodule and its dynamic taint block.
    ("CKV_SLIPWAY_1", "module.good_gpu_node_group_tainted.aws_eks_node_group.this", "PASSED"),
    ("CKV_SLIPWAY_1", "module.bad_gpu_node_group_untainted.aws_eks_node_group.this", "FAILED"),
    ("CKV_SLIPWAY_1", "module.bad_gpu_node_group_wrong_effect.aws_eks_node_group.this", "FAILED"),
    ("CKV2_SLIPWAY_2", "aws_s3_bucket.good_versioned_kms", "PASSED"),
    ("CKV2_SLIPWAY_2", "aws_s3_bucket.bad_unversioned", "FAILED"),
    ("CKV2_SLIPWAY_2", "aws_s3_bucket.bad_versioning_suspended", "FAILED"),
    ("CKV2_SLIPWAY_2", "aws_s3_bucket.bad_sse_s3", "FAILED"),
    ("CKV2_SLIPWAY_2", "aws_s3_bucket.bad_kms_without_key", "FAILED"),
    ("CKV_SLIPWAY_3", "aws_db_instance.good_private", "PASSED"),
    ("CKV_SLIPWAY_3", "aws_db_instance.bad_public", "FAILED"),
    ("CKV_SLIPWAY_3", "aws_db_instance.bad_implicit", "FAILED"),
    ("CKV_SLIPWAY_4", "aws_iam_policy_document.good_exact_actions", "PASSED"),
    ("CKV_SLIPWAY_4", "aws_iam_policy.good_json_exact", "PASSED"),
    ("CKV_SLIPWAY_4", "aws_iam_policy_document.bad_s3_star", "FAILED"),
    ("CKV_SLIPWAY_4", "aws_iam_policy_document.bad_s3_get_star", "FAILED"),
    ("CKV_SLIPWAY_4", "aws_iam_policy_document.bad_not_actions", "FAILED"),
    ("CKV_SLIPWAY_4", "aws_iam_role_policy.bad_json_star", "FAILED"),
]


################################################################################
# The scan of terraform/
################################################################################


def test_checkov_parses_everything(checkov_report: dict[str, Any]) -> None:
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["resource_count"] > 50


def test_checkov_has_no_unsuppressed_failures(checkov_report: dict[str, Any]) -> None:
    failures = unsuppressed_failures(checkov_report)
    assert failures == [], (
        "checkov failures (fix them, or skip in place with a reason):\n" + "\n".join(failures)
    )


def test_every_checkov_skip_has_a_reason(checkov_report: dict[str, Any]) -> None:
    assert report_results(checkov_report, "skipped_checks"), "expected the documented suppressions"
    assert skip_reason_problems(checkov_report) == []


def test_suppressions_sit_in_their_resource_with_a_reason() -> None:
    found = suppressions(all_tf_files())
    assert found, "expected the documented suppressions"
    assert suppression_problems(found) == []


def test_every_suppression_is_used(checkov_report: dict[str, Any]) -> None:
    """A skip whose check no longer fires is stale and hides nothing: remove it."""
    skipped = {
        (
            r["check_id"],
            r["file_abs_path"],
            r["resource"].split(".")[-2] + "." + r["resource"].split(".")[-1],
        )
        for r in report_results(checkov_report, "skipped_checks")
    }
    for s in suppressions(all_tf_files()):
        address = ".".join(s.block.split(".")[1:])
        assert any(
            cid == s.check_id and path == str(s.path) and addr.split("[")[0] == address
            for cid, path, addr in skipped
        ), (
            f"{s.path.relative_to(TERRAFORM_DIR)}:{s.line}: {s.check_id} on {address} "
            "is never skipped by checkov"
        )


def test_custom_policies_are_the_documented_ones() -> None:
    assert custom_policy_ids() == set(CUSTOM_POLICIES)


@pytest.mark.parametrize("check_id", sorted(CUSTOM_POLICIES))
def test_custom_policy_ran_and_passed_on_the_platform(
    checkov_report: dict[str, Any], check_id: str
) -> None:
    results = outcomes(checkov_report, check_id)
    assert "PASSED" in results.values(), (
        f"{check_id} ({CUSTOM_POLICIES[check_id]}) did not run on terraform/"
    )
    assert "FAILED" not in results.values()


def test_gpu_node_groups_of_the_platform_are_checked(checkov_report: dict[str, Any]) -> None:
    results = outcomes(checkov_report, "CKV_SLIPWAY_1")
    assert results.get("module.gpu_cluster.module.gpu_node_group.aws_eks_node_group.this") == (
        "PASSED"
    )
    assert results.get("module.gpu_cluster.module.system_node_group.aws_eks_node_group.this") == (
        "PASSED"
    )


@pytest.mark.parametrize("group", ["system_node_group", "gpu_node_group"])
def test_launch_templates_of_the_platform_require_imdsv2(
    checkov_report: dict[str, Any], group: str
) -> None:
    """CKV_AWS_79: IMDSv1 disabled, on both of the submodule's instances."""
    results = outcomes(checkov_report, "CKV_AWS_79")
    assert results.get(f"module.gpu_cluster.module.{group}.aws_launch_template.this") == "PASSED"


def test_data_buckets_of_the_platform_are_checked(checkov_report: dict[str, Any]) -> None:
    results = outcomes(checkov_report, "CKV2_SLIPWAY_2")
    assert results.get("module.object_storage.aws_s3_bucket.data") == "PASSED"
    # The access-log bucket cannot use SSE-KMS (S3 log delivery); skipped with that reason.
    assert results.get("module.object_storage.aws_s3_bucket.logs") == "SKIPPED"


################################################################################
# The negative fixtures: each checker can fail
################################################################################


@pytest.mark.parametrize(("check_id", "resource", "expected"), FIXTURE_EXPECTATIONS)
def test_custom_policy_on_fixture(
    checkov_fixture_report: dict[str, Any], check_id: str, resource: str, expected: str
) -> None:
    assert outcomes(checkov_fixture_report, check_id).get(resource) == expected


def test_each_custom_policy_has_a_failing_fixture() -> None:
    failing = {check_id for check_id, _, expected in FIXTURE_EXPECTATIONS if expected == "FAILED"}
    assert failing == set(CUSTOM_POLICIES)


def test_failure_gate_fails_on_the_fixtures(checkov_fixture_report: dict[str, Any]) -> None:
    failures = unsuppressed_failures(checkov_fixture_report)
    assert any("CKV_SLIPWAY_3 aws_db_instance.bad_public" in f for f in failures)
    assert any(f.startswith("CKV_AWS_") or f.startswith("CKV2_AWS_") for f in failures), (
        "built-in checks ran too"
    )


def test_skip_without_reason_is_caught_in_the_report(
    checkov_fixture_report: dict[str, Any],
) -> None:
    problems = skip_reason_problems(checkov_fixture_report)
    assert any("bad_skip_without_reason" in p for p in problems)
    assert any("bad_skip_placeholder_reason" in p for p in problems)


def test_skip_without_reason_is_caught_in_source(tmp_path: Any) -> None:
    found = suppressions([FIXTURES_DIR / "checkov" / "unsuppressed.tf"])
    problems = suppression_problems(found)
    assert len(problems) == 2
    outside = tmp_path / "outside.tf"
    outside.write_text(
        "#checkov:skip=CKV_AWS_18:This skip floats outside any resource, "
        "so it suppresses nothing here\n"
        'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n',
        encoding="utf-8",
    )
    assert any("not inside a resource" in p for p in suppression_problems(suppressions([outside])))
