"""The GitOps record of a promotion: the serving model version, written into git.

Git holds the desired state: which model version each environment serves lives in the
model-serving chart's values file ``argocd/values/<env>/model-serving.yaml`` (a top-level
``models:`` list; each item has ``name``, ``modelVersion``, ``runId``, ``storageUri``).
Promotion edits the item of the promoted model with a round-trip YAML edit (comments,
order and quoting kept) and records it by ``gitops.target``:

- ``local``: a commit on a branch of a local checkout, made with git's plumbing so that
  the working tree and the current branch are never touched;
- ``branch``: a commit straight onto ``base_branch`` through the GitHub REST API;
- ``pull_request``: a commit on the promotion branch and a pull request into
  ``base_branch``. A rerun finds the branch and the open pull request and opens no second.

A workflow pod has no checkout: it takes ``github_repo``, the target and the token's
variable and Secret from the platform settings (the ``slipway-platform`` ConfigMap). A
missing token is an error naming the variable and the Secret, not a quiet fallback. Every
failure raises (``GitHubUnavailable`` for what may pass: a 5xx, 429, a connection error,
which the promotion retries); the promotion is not done without its record.

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

log = logging.getLogger(__name__)


class GitHubUnavailable(GitOpsError):
    """GitHub did not answer, or answered 5xx or 429: trying again may work. ``response``
    (the HTTP answer, when there was one) lets a workflow step's runner see the status and
    exit as a transient failure, so that Argo retries the step too."""

    transient = True

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True)
class GitOpsRecord:
    kind: str  # "commit" | "branch_commit" | "pull_request" | "unchanged"
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

    Only ``modelVersion``, ``runId``, ``storageUri`` and, for a custom network or where the
    item has one, ``network`` of that item change; every other line, comment included,
    stays as it was.
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
    if model.network != "mlp" or "network" in item:  # the chart's default is mlp
        item["network"] = model.network
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
                network=str(item.get("network", "mlp")),
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

    def _call(self, method: str, path: str, missing_ok: bool = False, **kwargs: Any) -> Any:
        """The answer's JSON; None for a 404 when ``missing_ok``."""
        try:
            response = self._http.request(method, f"/repos/{self.repo}{path}", **kwargs)
        except httpx.TransportError as exc:
            raise GitHubUnavailable(f"GitHub {method} {path}: {exc}") from exc
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            message = f"GitHub {method} {path}: HTTP {response.status_code} {response.text[:300]}"
            if response.status_code >= 500 or response.status_code == 429:
                raise GitHubUnavailable(message, response)
            raise GitOpsError(message)
        return response.json()

    def _branch_sha(self, branch: str) -> str | None:
        ref = self._call("GET", f"/git/ref/heads/{branch}", missing_ok=True)
        return None if ref is None else str(ref["object"]["sha"])

    def _put_file(self, branch: str, path: str, edit: Any, message: str) -> bool:
        """Commit ``edit(text)`` at ``path`` on ``branch``; False when it changes nothing
        (a rerun after the commit went through)."""
        current = self._call("GET", f"/contents/{path}", params={"ref": branch})
        text = base64.b64decode(current["content"]).decode()
        new_text = edit(text)
        if new_text == text:
            return False
        self._call(
            "PUT",
            f"/contents/{path}",
            json={
                "message": message,
                "content": base64.b64encode(new_text.encode()).decode(),
                "sha": current["sha"],
                "branch": branch,
            },
        )
        return True

    def commit_on_branch(self, branch: str, path: str, edit: Any, message: str) -> bool:
        """Commit straight onto an existing ``branch`` (the ``branch`` target)."""
        if self._branch_sha(branch) is None:
            raise GitOpsError(f"GitHub {self.repo} has no branch {branch!r}")
        return self._put_file(branch, path, edit, message)

    def open_pull_requests(self, base: str, branch: str) -> list[dict[str, Any]]:
        owner = self.repo.split("/", 1)[0]
        pulls = self._call(
            "GET", "/pulls", params={"state": "open", "head": f"{owner}:{branch}", "base": base}
        )
        return [p for p in pulls if (p.get("head") or {}).get("ref", branch) == branch]

    def open_pull_request(
        self, base: str, branch: str, path: str, edit: Any, title: str, body: str
    ) -> str:
        """Branch from ``base``, commit ``edit(old_text)`` at ``path``, open a PR; its URL.
        Idempotent: an existing branch is reused (its file brought up to date) and an open
        pull request for it is returned instead of a second one."""
        if self._branch_sha(branch) is None:
            base_sha = self._branch_sha(base)
            if base_sha is None:
                raise GitOpsError(f"GitHub {self.repo} has no base branch {base!r}")
            self._call("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": base_sha})
        self._put_file(branch, path, edit, title)
        existing = self.open_pull_requests(base, branch)
        if existing:
            return str(existing[0]["html_url"])
        pull = self._call(
            "POST", "/pulls", json={"title": title, "head": branch, "base": base, "body": body}
        )
        return str(pull["html_url"])


# ---------------------------------------------------------------- the recorder


class GitOpsRecorder:
    """The GitOps record of a promotion: the promotion's ``git`` stage
    (slipway.rollout.promotion.PromotionRecord). Every failure raises; the promotion
    retries what may pass and otherwise stops, incomplete, to be resumed."""

    def __init__(self, settings: GitOpsSettings, repo_root: Path | None = None) -> None:
        self.settings = settings
        self.repo = (repo_root or settings.repo_dir).resolve()

    @property
    def values_path(self) -> str:
        return self.settings.values_file.format(environment=self.settings.environment)

    def branch_for(self, model: str, version: str) -> str:
        return self.settings.branch.format(model=model, version=version)

    def record(self, model: ModelVersion, reason: str) -> dict[str, str] | None:
        if not self.settings.enabled:
            return None
        return self.record_promotion(model, reason).to_dict()

    def _token(self) -> str:
        s = self.settings
        token = os.environ.get(s.github_token_env)
        if not token:
            raise GitOpsError(
                f"gitops.target {s.effective_target} needs a GitHub token in "
                f"${s.github_token_env} (in a workflow pod: the Secret {s.token_secret!r}, key "
                "`token`, in the workflow's namespace); the promotion is not recorded"
            )
        return token

    def record_promotion(self, model: ModelVersion, reason: str) -> GitOpsRecord:
        s = self.settings
        branch = self.branch_for(model.name, model.version)
        title = f"Promote {model.name} to version {model.version} ({s.environment})"
        body = f"{reason}\n\nrun id: {model.run_id}\nstorageUri: {model.storage_uri}\n"
        target = s.effective_target

        def edit(text: str) -> str:
            return set_serving_model(text, model)

        if target != "local":
            assert s.github_repo is not None  # the settings' validator makes sure
            github = GitHub(s.github_api_url, s.github_repo, self._token())
            try:
                if target == "branch":
                    changed = github.commit_on_branch(
                        s.base_branch, self.values_path, edit, f"{title}\n\n{body}"
                    )
                    return GitOpsRecord(
                        "branch_commit" if changed else "unchanged",
                        s.base_branch,
                        self.values_path,
                        "",
                    )
                url = github.open_pull_request(
                    s.base_branch, branch, self.values_path, edit, title, body
                )
            finally:
                github.close()
            return GitOpsRecord("pull_request", branch, self.values_path, url)
        if not (self.repo / ".git").exists() and not _is_checkout(self.repo):
            raise GitOpsError(
                f"{self.repo} is not a git checkout, so the promotion cannot be committed "
                "there; in a workflow pod set gitops.github_repo (the ml-workflows chart's "
                "`gitops.githubRepo`) to record it through GitHub"
            )
        sha = commit_file_on_branch(
            self.repo,
            branch,
            self.values_path,
            edit,
            f"{title}\n\n{body}",
            base=s.base_branch if _has_branch(self.repo, s.base_branch) else "HEAD",
        )
        if sha is None:
            return GitOpsRecord("unchanged", branch, self.values_path, "")
        return GitOpsRecord("commit", branch, self.values_path, sha)


def _is_checkout(repo: Path) -> bool:
    try:
        _git(repo, "rev-parse", "--git-dir")
    except GitOpsError:
        return False
    return True


def _has_branch(repo: Path, branch: str) -> bool:
    try:
        _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
    except GitOpsError:
        return False
    return True
