"""The GitOps record of a promotion: the serving model version, written into git.

Git holds the desired state: which model version each environment serves lives in the
model-serving chart's values file ``argocd/values/<env>/model-serving.yaml`` (a top-level
``models:`` list; each item has ``name``, ``modelVersion``, ``runId``, ``storageUri``).
Promotion edits the item of the promoted model with a round-trip YAML edit (comments,
order and quoting kept) and records it either

- as a commit on a branch of a local checkout, made with git's plumbing so that the
  working tree and the current branch are never touched; or
- as a pull request through the GitHub REST API, when ``gitops.github_repo`` is set and
  the token variable it names is present in the environment.

Rollback writes nothing here: it must work without git access, and the values file
still names the champion.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from slipway.config import GitOpsSettings
from slipway.errors import GitOpsError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.outcome import RolloutOutcome
from slipway.rollout.records import BaseRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GitOpsRecord:
    kind: str  # "commit" | "pull_request" | "unchanged"
    branch: str
    path: str
    ref: str  # commit sha, or the pull request's URL

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "branch": self.branch, "path": self.path, "ref": self.ref}


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def set_serving_model(text: str, model: ModelVersion) -> str:
    """``text`` (a values file) with the item named ``model.name`` pointing at the model.

    Only ``modelVersion``, ``runId`` and ``storageUri`` of that item change; every other
    line, comment included, stays as it was.
    """
    yaml = _yaml()
    data = yaml.load(text)
    if not isinstance(data, CommentedMap) or not isinstance(data.get("models"), CommentedSeq):
        raise GitOpsError("the values file has no top-level `models:` list")
    items = [
        m for m in data["models"] if isinstance(m, CommentedMap) and m.get("name") == model.name
    ]
    if not items:
        raise GitOpsError(f"the values file lists no model named {model.name!r}")
    item = items[0]
    # The version is a string in the chart's schema; quoting keeps YAML from reading 10 as int.
    item["modelVersion"] = DoubleQuotedScalarString(model.version)
    item["runId"] = model.run_id
    item["storageUri"] = model.storage_uri
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def serving_model(text: str, name: str) -> ModelVersion | None:
    """What the values file says about the served model ``name``."""
    data = YAML(typ="safe").load(text) or {}
    for item in data.get("models") or []:
        if isinstance(item, dict) and item.get("name") == name:
            return ModelVersion(
                name,
                str(item.get("modelVersion", "")),
                str(item.get("runId", "")),
                str(item.get("storageUri", "")),
            )
    return None


# ---------------------------------------------------------------- local git


def _git(
    repo: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise GitOpsError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode().strip()


def _identity(repo: Path) -> dict[str, str]:
    # A machine (a workflow pod, CI) may have no git identity; commits then carry slipway's.
    env = {}
    for var, key, default in (
        ("GIT_AUTHOR_NAME", "user.name", "slipway-rollout"),
        ("GIT_AUTHOR_EMAIL", "user.email", "slipway-rollout@localhost"),
    ):
        try:
            value = _git(repo, "config", key)
        except GitOpsError:
            value = ""
        value = os.environ.get(var) or value or default
        env[var] = value
        env[var.replace("AUTHOR", "COMMITTER")] = value
    return env


def commit_file_on_branch(
    repo: Path,
    branch: str,
    path: str,
    edit: Callable[[str], str],
    message: str,
    base: str = "HEAD",
) -> str | None:
    """Commit ``edit(current text)`` at ``path`` on ``branch`` (created from ``base`` when
    missing) without touching the working tree, the index or HEAD. Returns the commit sha,
    or None when the edit changes nothing."""
    ref = f"refs/heads/{branch}"
    try:
        parent = _git(repo, "rev-parse", "--verify", "--quiet", ref)
        old = parent
    except GitOpsError:
        parent = _git(repo, "rev-parse", "--verify", base)
        old = "0" * 40
    current = read_file_at(repo, path, parent)
    content = edit(current)
    if content == current:
        return None
    index = Path(_git(repo, "rev-parse", "--absolute-git-dir")) / f"slipway-index-{os.getpid()}"
    env = {"GIT_INDEX_FILE": str(index), **_identity(repo)}
    try:
        _git(repo, "read-tree", parent, env=env)
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=content.encode())
        _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = _git(repo, "write-tree", env=env)
        commit = _git(repo, "commit-tree", tree, "-p", parent, "-m", message, env=env)
        _git(repo, "update-ref", ref, commit, old)
    finally:
        index.unlink(missing_ok=True)
    return commit


def read_file_at(repo: Path, path: str, rev: str = "HEAD") -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise GitOpsError(f"{path} at {rev}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode()


# ---------------------------------------------------------------- GitHub


class GitHub:
    """The few GitHub REST API calls a pull request needs (contents API, refs, pulls)."""

    def __init__(self, api_url: str, repo: str, token: str, timeout: float = 30.0) -> None:
        self.repo = repo
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"/repos/{self.repo}{path}", **kwargs)
        if response.status_code >= 400:
            raise GitOpsError(
                f"GitHub {method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json()

    def open_pull_request(
        self, base: str, branch: str, path: str, edit: Any, title: str, body: str
    ) -> str:
        """Branch from ``base``, commit ``edit(old_text)`` at ``path``, open a PR; its URL."""
        base_sha = self._call("GET", f"/git/ref/heads/{base}")["object"]["sha"]
        current = self._call("GET", f"/contents/{path}", params={"ref": base})
        text = base64.b64decode(current["content"]).decode()
        new_text = edit(text)
        self._call("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": base_sha})
        self._call(
            "PUT",
            f"/contents/{path}",
            json={
                "message": title,
                "content": base64.b64encode(new_text.encode()).decode(),
                "sha": current["sha"],
                "branch": branch,
            },
        )
        pull = self._call(
            "POST", "/pulls", json={"title": title, "head": branch, "base": base, "body": body}
        )
        return str(pull["html_url"])


# ---------------------------------------------------------------- the recorder


class GitOpsRecorder(BaseRecorder):
    """The GitOps record of a promotion, as a rollout recorder (``promoted``) when
    ``gitops.enabled``. On failure (no git, a refused push or pull request): the error is
    kept on the outcome (``gitops: {"kind": "error", ...}``, tagged on the version) and
    logged; the promotion stands, and git is told separately."""

    def __init__(self, settings: GitOpsSettings, repo_root: Path | None = None) -> None:
        self.settings = settings
        self.repo = (repo_root or settings.repo_dir).resolve()

    @property
    def values_path(self) -> str:
        return self.settings.values_file.format(environment=self.settings.environment)

    def branch_for(self, model: str, version: str) -> str:
        return self.settings.branch.format(model=model, version=version)

    def promoted(self, outcome: RolloutOutcome, canary: ModelVersion) -> None:
        if not self.settings.enabled:
            return
        try:
            outcome.gitops = self.record_promotion(canary, outcome.reason).to_dict()
        except Exception as exc:
            log.warning("promotion not recorded in git: %s", exc)
            outcome.gitops = {"kind": "error", "error": str(exc)}

    def record_promotion(self, model: ModelVersion, reason: str) -> GitOpsRecord:
        s = self.settings
        branch = self.branch_for(model.name, model.version)
        title = f"Promote {model.name} to version {model.version} ({s.environment})"
        body = f"{reason}\n\nrun id: {model.run_id}\nstorageUri: {model.storage_uri}\n"
        token = os.environ.get(s.github_token_env) if s.github_repo else None
        if s.github_repo and token:
            github = GitHub(s.github_api_url, s.github_repo, token)
            try:
                url = github.open_pull_request(
                    s.base_branch, branch, self.values_path,
                    lambda text: set_serving_model(text, model), title, body,
                )  # fmt: skip
            finally:
                github.close()
            return GitOpsRecord("pull_request", branch, self.values_path, url)
        sha = commit_file_on_branch(
            self.repo,
            branch,
            self.values_path,
            lambda text: set_serving_model(text, model),
            f"{title}\n\n{body}",
            base=s.base_branch if _has_branch(self.repo, s.base_branch) else "HEAD",
        )
        if sha is None:
            return GitOpsRecord("unchanged", branch, self.values_path, "")
        return GitOpsRecord("commit", branch, self.values_path, sha)


def _has_branch(repo: Path, branch: str) -> bool:
    try:
        _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
    except GitOpsError:
        return False
    return True
