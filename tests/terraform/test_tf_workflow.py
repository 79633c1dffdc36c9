"""The GitHub workflow that runs what needs provider downloads or AWS: fmt, init + validate on
the minimum and newest Terraform, tflint, and a plan per environment on pull requests (the one
root with each environment's tfbackend and tfvars), with pinned actions."""

from __future__ import annotations

import re

from tf_helpers import (
    FIXTURES_DIR,
    TERRAFORM_DIR,
    WORKFLOW,
    env_names,
    lockfile_problems,
    minimum_terraform_version,
    workflow_env_problems,
    workflow_problems,
)


def test_workflow_is_complete_and_pinned() -> None:
    assert WORKFLOW.is_file()
    assert workflow_problems(WORKFLOW, minimum_terraform_version()) == []


def test_every_configuration_shares_one_minimum_terraform() -> None:
    assert minimum_terraform_version() == "1.11.0"


def test_workflow_validates_every_module_submodule_and_the_root() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    loop = re.search(r"for dir in ([^;]+); do\n(?:.*\n){0,3}.*validate", text)
    assert loop, "expected the validate loop"
    assert loop.group(1).split() == [
        "terraform/modules/*/",
        "terraform/modules/*/modules/*/",
        "terraform/platform/",
    ]


def test_workflow_plans_each_environment_with_its_own_files() -> None:
    assert workflow_env_problems(WORKFLOW, env_names()) == []


def test_workflow_runs_the_native_terraform_tests() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert list(TERRAFORM_DIR.glob("modules/*/tests/*.tftest.hcl")), "expected terraform test files"
    assert list(TERRAFORM_DIR.glob("modules/*/modules/*/tests/*.tftest.hcl")), (
        "expected the node-group submodule's tests"
    )
    assert re.search(r'terraform -chdir="\$dir" test\b', text)
    tests_loop = re.search(r"for dir in ([^;]+); do\n.*tests", text)
    assert tests_loop, "expected the terraform test loop"
    assert "terraform/modules/*/modules/*/" in tests_loop.group(1).split()


def test_tflint_config_is_the_one_the_workflow_uses() -> None:
    config = TERRAFORM_DIR / ".tflint.hcl"
    assert config.is_file()
    assert "terraform/.tflint.hcl" in WORKFLOW.read_text(encoding="utf-8")
    assert re.search(r'version\s*=\s*"\d+\.\d+\.\d+"', config.read_text(encoding="utf-8")), (
        "pin the aws ruleset"
    )


def test_bad_workflow_is_caught() -> None:
    problems = workflow_problems(FIXTURES_DIR / "workflows" / "unpinned.yml", "1.11.0")
    assert "action not pinned by commit SHA: - uses: actions/checkout@v4" in problems
    assert any(p.startswith("pinned action without its version tag") for p in problems)
    assert "no terraform fmt -check step" in problems
    assert "no terraform init -backend=false step" in problems
    assert any("minimum Terraform 1.11.0" in p for p in problems)
    assert "job plan plans outside pull requests" in problems
    assert "job plan does not request an OIDC token (permissions: id-token: write)" in problems
    assert "stored AWS keys are used" in problems


def test_workflow_without_environment_files_is_caught() -> None:
    problems = workflow_env_problems(FIXTURES_DIR / "workflows" / "unpinned.yml", ["dev", "prod"])
    assert "the root terraform/platform is not validated" in problems
    assert "tflint does not run on the root with the environments' tfvars" in problems
    assert "job plan plans [], terraform/envs/ has ['dev', 'prod']" in problems
    assert "job plan does not init with the environment's .tfbackend" in problems
    assert "job plan does not plan with the environment's .tfvars" in problems
    assert "job plan does not plan the root terraform/platform" in problems
    assert "workspaces are used: each environment has its own state key instead" in problems


def test_workflow_generates_the_lock_file_and_inits_readonly() -> None:
    assert lockfile_problems(WORKFLOW) == []


def test_workflow_without_a_lock_job_is_caught() -> None:
    problems = lockfile_problems(FIXTURES_DIR / "workflows" / "unpinned.yml")
    assert "no job runs terraform providers lock" in problems
    assert any("runs init without -lockfile=readonly" in p for p in problems)


def test_a_lock_job_with_wide_permissions_on_pull_requests_is_caught(tmp_path) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    bad = text.replace(
        "    if: github.event_name == 'push' || github.event_name == 'workflow_dispatch'\n", ""
    ).replace(
        "      pull-requests: write\n    concurrency:",
        "      pull-requests: write\n      actions: write\n    concurrency:",
    )
    bad = bad.replace("-platform=darwin_amd64 -platform=darwin_arm64", "-platform=darwin_amd64")
    assert bad != text
    path = tmp_path / "terraform.yml"
    path.write_text(bad, encoding="utf-8")
    problems = lockfile_problems(path)
    assert "job lock may run on pull requests" in problems
    assert "job lock permissions are not contents/pull-requests: write only" in problems
    assert "job lock does not lock for darwin_arm64" in problems
