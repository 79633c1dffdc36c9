"""In-process HTTP servers on loopback that stand in for services that cannot run here.

- ``FakeGitHub``: the GitHub REST API calls a promotion pull request makes (refs, contents,
  pulls) over an in-memory repository. GitHub is an external service; the real client code
  (httpx) talks HTTP to this fake.
- ``FakeKubernetes``: a Kubernetes API server for one resource, KServe InferenceServices
  (GET, POST, PATCH: JSON merge patch or server-side apply), with a tiny stand-in for the
  KServe controller that bumps ``metadata.generation``, marks the service Ready and computes
  the traffic split from ``canaryTrafficPercent``. A real API server (and KServe, Knative)
  cannot run here; the real ``kubernetes`` client is pointed at this fake.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class _Handler(BaseHTTPRequestHandler):
    fake: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        body = self._body() if method in ("POST", "PUT", "PATCH") else None
        with self.fake.lock:
            self.fake.calls.append((method, self.path, dict(self.headers), body))
            status, payload = self.fake.handle(method, self.path, dict(self.headers), body)
        self._send(status, payload)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")


class _Fake:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    @contextmanager
    def serving(self) -> Iterator[str]:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


class FakeGitHub(_Fake):
    """Branches, contents, refs and pulls of one repository, as GitHub's REST API answers
    them (404 for a missing ref, 422 for a ref that exists, ``GET /pulls`` filtered by
    ``state``, ``head`` as ``owner:branch`` and ``base``). ``fail_next`` answers the next
    calls with an error status (a 502 stands for GitHub being down)."""

    def __init__(self, repo: str, files: dict[str, str], base: str = "main") -> None:
        super().__init__()
        self.repo = repo
        self.branches = {base: {"sha": "base000", "files": dict(files)}}
        self.pulls: list[dict[str, Any]] = []
        self.token_seen: str | None = None
        self.fail_next: list[int] = []
        self.commits = 0

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        self.token_seen = headers.get("Authorization") or headers.get("authorization")
        if self.fail_next:
            return self.fail_next.pop(0), {"message": "injected failure"}
        prefix = f"/repos/{self.repo}"
        parts = urlsplit(path)
        path, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        path = path[len(prefix) :]
        if method == "GET" and (m := re.fullmatch(r"/git/ref/heads/(.+)", path)):
            branch = self.branches.get(m[1])
            return (200, {"object": {"sha": branch["sha"]}}) if branch else (404, {})
        if method == "GET" and (m := re.fullmatch(r"/contents/(.+)", path)):
            branch = self.branches.get(query.get("ref", "main"))
            if branch is None or m[1] not in branch["files"]:
                return 404, {"message": "Not Found"}
            text = branch["files"][m[1]]
            content = base64.b64encode(text.encode()).decode()
            return 200, {"content": content, "sha": _blob_sha(text)}
        if method == "POST" and path == "/git/refs":
            name = body["ref"].removeprefix("refs/heads/")
            if name in self.branches:
                return 422, {"message": "Reference already exists"}
            source = next(b for b in self.branches.values() if b["sha"] == body["sha"])
            self.branches[name] = {"sha": f"sha-{name}", "files": dict(source["files"])}
            return 201, {"ref": body["ref"]}
        if method == "PUT" and (m := re.fullmatch(r"/contents/(.+)", path)):
            branch = self.branches[body["branch"]]
            if body.get("sha") != _blob_sha(branch["files"].get(m[1], "")):
                return 409, {"message": f"{m[1]} does not match {body.get('sha')}"}
            branch["files"][m[1]] = base64.b64decode(body["content"]).decode()
            self.commits += 1
            branch["sha"] = f"{body['branch']}-{self.commits}"
            return 200, {"commit": {"sha": branch["sha"]}}
        if method == "GET" and path == "/pulls":
            owner = self.repo.split("/")[0]
            found = [
                self._pull_view(p)
                for p in self.pulls
                if p["state"] == query.get("state", "open")
                and ("head" not in query or f"{owner}:{p['head']}" == query["head"])
                and ("base" not in query or p["base"] == query["base"])
            ]
            return 200, found
        if method == "POST" and path == "/pulls":
            if any(p["head"] == body["head"] and p["state"] == "open" for p in self.pulls):
                return 422, {"message": "A pull request already exists"}
            number = len(self.pulls) + 1
            pull = {**body, "number": number, "state": "open",
                    "html_url": f"https://github.example/{self.repo}/pull/{number}"}  # fmt: skip
            self.pulls.append(pull)
            return 201, self._pull_view(pull)
        return 404, {"message": f"no route {method} {path}"}

    @staticmethod
    def _pull_view(pull: dict[str, Any]) -> dict[str, Any]:
        # GitHub's pull objects name their branches as objects, not strings.
        return {**pull, "head": {"ref": pull["head"]}, "base": {"ref": pull["base"]}}


def _blob_sha(text: str) -> str:
    return f"blob-{zlib.crc32(text.encode()):08x}"


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _leaves(doc: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The paths of the scalar and list values in ``doc`` (lists count as one value)."""
    if not isinstance(doc, dict):
        return {prefix}
    return {leaf for k, v in doc.items() if v is not None for leaf in _leaves(v, (*prefix, k))}


def _drop(doc: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        doc = doc.get(key) if isinstance(doc.get(key), dict) else {}
    doc.pop(path[-1], None)


class FakeKubernetes(_Fake):
    PATH = re.compile(
        r"/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices(?:/(?P<name>[^/?]+))?"
    )

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.revisions: dict[tuple[str, str], int] = {}
        self.history: list[dict[str, Any]] = []  # every stored object, after each write
        # Every PATCH as received: content type, fieldManager, force (server-side apply).
        self.patches: list[dict[str, Any]] = []
        self._owned: dict[tuple[tuple[str, str], str], set[tuple[str, ...]]] = {}

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        m = self.PATH.fullmatch(path.split("?")[0])
        if not m:
            return 404, {"kind": "Status", "code": 404, "message": f"no route {path}"}
        key = (m["ns"], m["name"] or (body or {}).get("metadata", {}).get("name", ""))
        if method == "POST":
            if key in self.objects:
                return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
            obj = copy.deepcopy(body)
            obj["metadata"].update({"namespace": key[0], "generation": 1, "uid": "u-1"})
            self._reconcile(key, obj, spec_changed=True)
            return 201, obj
        if key not in self.objects:
            return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
        if method == "GET":
            return 200, self.objects[key]
        if method == "PATCH":
            content_type = headers.get("Content-Type", headers.get("content-type"))
            query = parse_qs(urlsplit(path).query)
            manager = (query.get("fieldManager") or [""])[0]
            force = query.get("force") == ["true"]
            self.patches.append(
                {
                    "content_type": content_type,
                    "field_manager": manager,
                    "force": force,
                    "body": body,
                }
            )
            old = self.objects[key]
            if content_type == "application/apply-patch+yaml":
                if not manager:
                    return 422, {"kind": "Status", "code": 422, "message": "fieldManager required"}
                # Server-side apply, as far as the rollout needs it: the body's leaves become
                # the manager's; leaves it owned before and no longer lists are removed.
                leaves = _leaves(body)
                new = _merge(old, body)
                for gone in self._owned.get((key, manager), set()) - leaves:
                    _drop(new, gone)
                self._owned[(key, manager)] = leaves
            elif content_type == "application/merge-patch+json":
                new = _merge(old, body)
            else:
                return 415, {"kind": "Status", "code": 415, "message": "unsupported patch type"}
            new["status"] = old.get("status", {})
            changed = new.get("spec") != old.get("spec")
            if changed:
                new["metadata"]["generation"] = old["metadata"]["generation"] + 1
            self._reconcile(key, new, spec_changed=changed)
            return 200, new
        return 405, {"kind": "Status", "code": 405}

    def _reconcile(self, key: tuple[str, str], obj: dict[str, Any], spec_changed: bool) -> None:
        """What KServe and Knative would do: a new revision per spec change (unless only the
        canary percentage moved), and the split by canaryTrafficPercent."""
        predictor = obj["spec"]["predictor"]
        status = obj.setdefault("status", {})
        traffic = (status.get("components", {}).get("predictor", {}) or {}).get("traffic") or []
        latest = self.revisions.get(key, 0)
        previous_rolled = next(
            (t["revisionName"] for t in traffic if not t.get("latestRevision")), None
        )
        only_percent = {k: v for k, v in predictor.items() if k != "canaryTrafficPercent"}
        last_spec = getattr(self, "_last_spec", {}).get(key)
        if latest == 0 or (spec_changed and only_percent != last_spec):
            if latest:
                # The revision that had all the traffic becomes the one canaries split against.
                full = [t for t in traffic if t.get("percent") == 100]
                previous_rolled = full[0]["revisionName"] if full else previous_rolled
            latest += 1
            self.revisions[key] = latest
        self._last_spec = {**getattr(self, "_last_spec", {}), key: only_percent}
        name = f"{key[1]}-predictor-{latest:05d}"
        percent = predictor.get("canaryTrafficPercent")
        if percent is None or previous_rolled is None:
            split = [{"revisionName": name, "percent": 100, "latestRevision": True}]
        else:
            # At 100% the previous revision stays in the split (at 0%) until the field is
            # removed, so that a rollback from the last step still has it to go back to.
            split = [{"revisionName": name, "percent": percent, "latestRevision": True}]
            split.append({"revisionName": previous_rolled, "percent": 100 - percent,
                          "latestRevision": False, "tag": "prev"})  # fmt: skip
        status.update(
            {
                "observedGeneration": obj["metadata"]["generation"],
                "conditions": [{"type": "Ready", "status": "True"}],
                "components": {"predictor": {"latestCreatedRevision": name, "traffic": split}},
            }
        )
        self.objects[key] = obj
        self.history.append(copy.deepcopy(obj))
