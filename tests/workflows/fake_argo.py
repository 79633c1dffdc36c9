"""A fake Argo Server: stands in for one (there is no Kubernetes API or Argo controller on
this machine) and checks every request it gets against Argo's API.

The API's shape is Argo's OpenAPI specification as the argo-workflows SDK was generated
from it: each endpoint's method, path and query parameters (the SDK's endpoint tables),
and the submit request's fields (its model's attribute map; a field Argo does not know
is a 400). What the request asks for is checked against what the cluster would hold:
the WorkflowTemplate must be one of the rendered files the chart installs, its
parameters declared there (required ones given, enums kept), and the Workflow the
server creates from it must validate against the Workflow CRD's schema. A request
without the bearer token is a 401, as Argo Server in ``--auth-mode client`` answers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from slipway.kube.manifests import validate_manifest


def _endpoints() -> list[tuple[str, re.Pattern[str], set[str], str]]:
    """(method, path pattern, query parameter names, operation) of every Workflow API call."""
    import argo_workflows
    from argo_workflows.api import workflow_service_api

    api = workflow_service_api.WorkflowServiceApi(
        argo_workflows.ApiClient(argo_workflows.Configuration(host="http://fake"))
    )
    found = []
    for attribute in dir(api):
        endpoint = getattr(api, attribute)
        if not attribute.endswith("_endpoint"):
            continue
        settings = endpoint.settings
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(settings["endpoint_path"]))
        query = {
            endpoint.attribute_map[name]
            for name, where in endpoint.location_map.items()
            if where == "query"
        }
        found.append((settings["http_method"], re.compile(pattern + "$"), query,
                      attribute.removesuffix("_endpoint")))  # fmt: skip
    return found


def _fields(model: str) -> set[str]:
    import importlib

    module = importlib.import_module(f"argo_workflows.model.{model}")
    cls = next(v for k, v in vars(module).items() if k.lower() == model.replace("_", ""))
    return set(cls.attribute_map.values())


@dataclass
class FakeArgo:
    templates_dir: Path
    crd_schema_dir: Path
    token: str
    namespace: str = "ml-workflows"
    requests: list[dict[str, Any]] = field(default_factory=list)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # name -> (pod, line)
    url: str = ""

    def __post_init__(self) -> None:
        self.endpoints = _endpoints()
        self.templates = {}
        for path in sorted(self.templates_dir.glob("*.yaml")):
            obj = yaml.safe_load(path.read_text(encoding="utf-8"))
            if obj["kind"] == "WorkflowTemplate":
                self.templates[obj["metadata"]["name"]] = obj
        self.submit_fields = _fields("io_argoproj_workflow_v1alpha1_workflow_submit_request")
        self.option_fields = _fields("io_argoproj_workflow_v1alpha1_submit_opts")

    # ---------------------------------------------------------------- dispatch

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        record = {"method": method, "path": parts.path, "query": query, "body": body}
        self.requests.append(record)
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"code": 16, "message": "token not valid"}
        for verb, pattern, allowed, operation in self.endpoints:
            match = pattern.match(parts.path)
            if verb != method or match is None:
                continue
            unknown = sorted(set(query) - allowed)
            if unknown:
                return 400, {"message": f"{operation}: unknown query parameters {unknown}"}
            if match["namespace"] != self.namespace:
                return 403, {"message": f"no access to namespace {match['namespace']}"}
            record["operation"] = operation
            handler = getattr(self, f"_{operation}", None)
            if handler is None:
                return 501, {"message": f"{operation} is not faked"}
            result: tuple[int, Any] = handler(match.groupdict(), query, body)
            return result
        return 404, {"message": f"no Argo API endpoint {method} {parts.path}"}

    # ---------------------------------------------------------------- operations

    def _submit_workflow(self, path: dict[str, str], query: Any, body: bytes) -> tuple[int, Any]:
        request = json.loads(body)
        extra = sorted(set(request) - self.submit_fields)
        options = request.get("submitOptions", {})
        extra += sorted(f"submitOptions.{k}" for k in set(options) - self.option_fields)
        if extra:
            return 400, {"message": f"unknown fields {extra}"}
        if request.get("resourceKind") != "WorkflowTemplate":
            return 400, {"message": f"resourceKind {request.get('resourceKind')!r}"}
        template = self.templates.get(request.get("resourceName", ""))
        if template is None:
            return 404, {"message": f"workflowtemplate {request.get('resourceName')!r} not found"}
        declared = {p["name"]: p for p in template["spec"]["arguments"]["parameters"]}
        given: dict[str, str] = {}
        for item in options.get("parameters", []):
            name, sep, value = str(item).partition("=")
            if not sep or name not in declared:
                return 400, {"message": f"parameter {item!r} is not declared"}
            enum = declared[name].get("enum")
            if enum is not None and value not in enum:
                return 400, {"message": f"{name}={value!r} not in {enum}"}
            given[name] = value
        missing = sorted(n for n, p in declared.items() if "value" not in p and n not in given)
        if missing:
            return 400, {"message": f"parameters {missing} are required"}
        name = f"{template['metadata']['name']}-{len(self.workflows) + 1:05d}"
        labels = dict(
            pair.split("=", 1) for pair in options.get("labels", "").split(",") if "=" in pair
        )
        workflow = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
            "spec": {
                "workflowTemplateRef": {"name": template["metadata"]["name"]},
                "arguments": {"parameters": [{"name": k, "value": v} for k, v in given.items()]},
            },
        }
        errors = validate_manifest(workflow, self.crd_schema_dir)
        if errors:
            return 400, {"message": "; ".join(errors)}
        workflow["status"] = {"phase": "Running", "nodes": {}}
        self.workflows[name] = workflow
        return 200, workflow

    def _get_workflow(self, path: dict[str, str], query: Any, body: bytes) -> tuple[int, Any]:
        workflow = self.workflows.get(path["name"])
        if workflow is None:
            return 404, {"message": f'workflows.argoproj.io "{path["name"]}" not found'}
        return 200, workflow

    def _workflow_logs(self, path: dict[str, str], query: Any, body: bytes) -> tuple[int, Any]:
        if path["name"] not in self.workflows:
            return 404, {"message": f'workflows.argoproj.io "{path["name"]}" not found'}
        grep = query.get("grep", [""])[0]
        lines = [
            json.dumps({"result": {"podName": pod, "content": content}})
            for pod, content in self.logs.get(path["name"], [])
            if grep in content
        ]
        return 200, "\n".join(lines) + "\n"


@contextmanager
def serve(fake: FakeArgo) -> Iterator[FakeArgo]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, answer = fake.handle(self.command, self.path, self.headers, body)
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
