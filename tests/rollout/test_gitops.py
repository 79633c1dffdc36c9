"""The GitOps record of a promotion: a comment-preserving edit of the values file, as a
commit on a branch of a real (temporary) git repository, or as a pull request through the
GitHub REST API (a fake GitHub on loopback: the real service is external)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from slipway.config import GitOpsSettings
from slipway.registry.model_version import ModelVersion
from slipway.rollout.gitops import (
    GitOpsError,
    GitOpsRecorder,
    serving_model,
    set_serving_model,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeGitHub

VALUES = """\
# model-serving, dev. The rollout code edits this file on promotion.
models:
  - name: other-model   # untouched
    modelVersion: "4"
    runId: r4
    storageUri: s3://bucket/other/4
  - name: churn-classifier
    # the version in service; promotion rewrites the next three keys
    modelVersion: "0"
    runId: bootstrap
    storageUri: s3://{{ .Values.artifactsBucket }}/models/churn-classifier/bootstrap
    canaryTrafficPercent: 0
    minReplicas: 1
"""
PROMOTED = ModelVersion("churn-classifier", "10", "run-abc", "s3://bucket/models/churn/10")


def test_edit_changes_only_the_three_keys_and_keeps_comments() -> None:
    out = set_serving_model(VALUES, PROMOTED)
    before, after = VALUES.splitlines(), out.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [
        ('    modelVersion: "0"', '    modelVersion: "10"'),
        ("    runId: bootstrap", "    runId: run-abc"),
        (
            "    storageUri: s3://{{ .Values.artifactsBucket }}/models/churn-classifier/bootstrap",
            "    storageUri: s3://bucket/models/churn/10",
        ),
    ]
    # The version stays a string, as the chart's schema wants.
    assert YAML(typ="safe").load(out)["models"][1]["modelVersion"] == "10"
    assert serving_model(out, "churn-classifier") == PROMOTED


def test_the_real_dev_values_file_is_editable(repo_root: Path) -> None:
    path = repo_root / "argocd" / "values" / "dev" / "model-serving.yaml"
    if not path.is_file():
        pytest.skip("argocd/values/dev/model-serving.yaml is not in this checkout")
    text = path.read_text()
    out = set_serving_model(text, PROMOTED)
    assert serving_model(out, "churn-classifier") == PROMOTED
    assert [line for line in text.splitlines() if line.lstrip().startswith("#")] == [
        line for line in out.splitlines() if line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("models: []\n", "no model named"), ("other: 1\n", "no top-level `models:` list")],
)
def test_edit_refuses_files_without_the_model(text: str, message: str) -> None:
    with pytest.raises(GitOpsError, match=message):
        set_serving_model(text, PROMOTED)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "gitops"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "Test")
    _git(repo, "config", "user.email", "test@localhost")
    values = repo / "argocd" / "values" / "dev" / "model-serving.yaml"
    values.parent.mkdir(parents=True)
    values.write_text(VALUES)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "bootstrap")
    return repo


def test_promotion_commits_on_a_branch_without_touching_the_checkout(repo: Path) -> None:
    (repo / "scratch.txt").write_text("uncommitted work")
    head = _git(repo, "rev-parse", "HEAD")
    recorder = GitOpsRecorder(GitOpsSettings(repo_dir=repo, environment="dev"))
    record = recorder.record_promotion(PROMOTED, "canary analysis passed")
    assert record.kind == "commit"
    assert record.branch == "slipway/promote-churn-classifier-v10"
    # The checkout is as it was: same HEAD, same branch, same files, untracked work kept.
    assert _git(repo, "rev-parse", "HEAD") == head
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert (repo / "argocd/values/dev/model-serving.yaml").read_text() == VALUES
    assert (repo / "scratch.txt").read_text() == "uncommitted work"
    assert _git(repo, "status", "--porcelain") == "?? scratch.txt"
    # The branch has one commit on top of main, changing only the values file.
    assert _git(repo, "rev-parse", f"{record.branch}~1") == head
    assert _git(repo, "diff", "--name-only", "main", record.branch) == (
        "argocd/values/dev/model-serving.yaml"
    )
    committed = _git(repo, "show", f"{record.branch}:argocd/values/dev/model-serving.yaml")
    assert serving_model(committed, "churn-classifier") == PROMOTED
    assert "canary analysis passed" in _git(repo, "log", "-1", "--format=%B", record.branch)
    # Recording the same promotion again changes nothing.
    assert recorder.record_promotion(PROMOTED, "again").kind == "unchanged"


def test_promotion_opens_a_pull_request_when_a_token_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    github = FakeGitHub("acme/platform", {"argocd/values/prod/model-serving.yaml": VALUES})
    monkeypatch.setenv("SLIPWAY_TEST_GH_TOKEN", "t0ken")
    with github.serving() as url:
        settings = GitOpsSettings(
            environment="prod",
            github_repo="acme/platform",
            github_api_url=url,
            github_token_env="SLIPWAY_TEST_GH_TOKEN",
        )
        record = GitOpsRecorder(settings).record_promotion(PROMOTED, "passed")
    assert record.kind == "pull_request"
    assert record.ref.endswith("/pull/1")
    assert github.token_seen == "Bearer t0ken"
    pull = github.pulls[0]
    assert (pull["head"], pull["base"]) == ("slipway/promote-churn-classifier-v10", "main")
    branch_file = github.branches[pull["head"]]["files"]["argocd/values/prod/model-serving.yaml"]
    assert serving_model(branch_file, "churn-classifier") == PROMOTED
    # main itself is untouched: the change waits for review.
    assert github.branches["main"]["files"]["argocd/values/prod/model-serving.yaml"] == VALUES


def test_without_the_token_a_github_target_fails_naming_the_variable_and_secret(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a missing token fell back to a local commit in the pod's (absent) checkout,
    # and the failure was only logged. Now the record fails, saying what to fix.
    monkeypatch.delenv("SLIPWAY_TEST_GH_TOKEN", raising=False)
    settings = GitOpsSettings(
        repo_dir=repo,
        github_repo="acme/platform",
        github_token_env="SLIPWAY_TEST_GH_TOKEN",
        token_secret="gitops-token",
    )
    with pytest.raises(GitOpsError, match=r"\$SLIPWAY_TEST_GH_TOKEN.*'gitops-token'"):
        GitOpsRecorder(settings).record_promotion(PROMOTED, "passed")
    assert _git(repo, "branch", "--list", "slipway/*") == ""  # nothing written anywhere


def _github_settings(url: str, **extra: object) -> GitOpsSettings:
    return GitOpsSettings(
        environment="prod", github_repo="acme/platform", github_api_url=url,
        github_token_env="SLIPWAY_TEST_GH_TOKEN", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_rerun_finds_the_open_pull_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the fake GitHub (fakes.FakeGitHub stands in for GitHub, an external
    service): the second record, as a retried step makes, opens no second pull request."""
    github = FakeGitHub("acme/platform", {"argocd/values/prod/model-serving.yaml": VALUES})
    monkeypatch.setenv("SLIPWAY_TEST_GH_TOKEN", "t0ken")
    with github.serving() as url:
        recorder = GitOpsRecorder(_github_settings(url))
        first = recorder.record_promotion(PROMOTED, "passed")
        commits = github.commits
        again = recorder.record_promotion(PROMOTED, "passed")
    assert again == first
    assert len(github.pulls) == 1
    assert github.commits == commits  # the branch already says so: nothing committed again


def test_a_rerun_after_the_branch_but_before_the_pull_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first try died after pushing the branch: the rerun reuses it and opens the PR.
    github = FakeGitHub("acme/platform", {"argocd/values/prod/model-serving.yaml": VALUES})
    monkeypatch.setenv("SLIPWAY_TEST_GH_TOKEN", "t0ken")
    with github.serving() as url:
        recorder = GitOpsRecorder(_github_settings(url))
        branch = recorder.branch_for(PROMOTED.name, PROMOTED.version)
        github.branches[branch] = {
            "sha": "sha-partial",
            "files": dict(github.branches["main"]["files"]),
        }
        record = recorder.record_promotion(PROMOTED, "passed")
    assert record.kind == "pull_request"
    assert [p["head"] for p in github.pulls] == [branch]
    branch_file = github.branches[branch]["files"]["argocd/values/prod/model-serving.yaml"]
    assert serving_model(branch_file, "churn-classifier") == PROMOTED


def test_github_down_is_transient_and_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from slipway.config import RolloutSettings
    from slipway.rollout.gitops import GitHubUnavailable
    from slipway.rollout.promotion import is_transient, retrying

    github = FakeGitHub("acme/platform", {"argocd/values/prod/model-serving.yaml": VALUES})
    monkeypatch.setenv("SLIPWAY_TEST_GH_TOKEN", "t0ken")
    with github.serving() as url:
        recorder = GitOpsRecorder(_github_settings(url))
        github.fail_next = [502]
        with pytest.raises(GitHubUnavailable) as caught:
            recorder.record(PROMOTED, "passed")
        assert is_transient(caught.value)
        github.fail_next = [502, 503]
        retry = retrying(
            RolloutSettings(promotion_attempts=3, promotion_backoff_seconds=0), sleep=lambda s: None
        )
        record = retry(lambda: recorder.record(PROMOTED, "passed"))
    assert record is not None
    assert record["kind"] == "pull_request"
    assert len(github.pulls) == 1
    # A refusal that retrying cannot fix is not retried.
    assert not is_transient(GitOpsError("the values file lists no model named 'x'"))


def test_the_branch_target_commits_onto_the_base_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    github = FakeGitHub("acme/platform", {"argocd/values/prod/model-serving.yaml": VALUES})
    monkeypatch.setenv("SLIPWAY_TEST_GH_TOKEN", "t0ken")
    with github.serving() as url:
        recorder = GitOpsRecorder(_github_settings(url, target="branch"))
        assert recorder.record_promotion(PROMOTED, "passed").kind == "branch_commit"
        assert recorder.record_promotion(PROMOTED, "passed").kind == "unchanged"
    main = github.branches["main"]["files"]["argocd/values/prod/model-serving.yaml"]
    assert serving_model(main, "churn-classifier") == PROMOTED
    assert github.pulls == []


def test_a_github_target_needs_a_repository() -> None:
    with pytest.raises(ValueError, match=r"needs gitops\.github_repo"):
        GitOpsSettings(target="pull_request")


def test_an_incomplete_promotion_after_github_5xx_reads_as_transient_to_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The canary step's runner (slipway.workflow.transient) exits 75 for it, so Argo's
    # retryStrategy reruns the step, whose recovery finishes the promotion.
    from slipway.rollout.promotion import PromotionIncomplete
    from slipway.workflow.transient import is_transient as step_is_transient

    github = FakeGitHub("acme/platform", {"argocd/values/prod/model-serving.yaml": VALUES})
    monkeypatch.setenv("SLIPWAY_TEST_GH_TOKEN", "t0ken")
    with github.serving() as url:
        github.fail_next = [502]
        with pytest.raises(GitOpsError) as caught:
            GitOpsRecorder(_github_settings(url)).record(PROMOTED, "passed")
    with pytest.raises(PromotionIncomplete) as incomplete:
        raise PromotionIncomplete("churn-classifier", "git", caught.value) from caught.value
    assert step_is_transient(incomplete.value)
    assert not step_is_transient(GitOpsError("the values file lists no model named 'x'"))
