"""``slipway workflow submit|status|logs``: the WorkflowTemplates on an Argo Server, through
the argo-workflows SDK (Argo's own OpenAPI client).

- submit: ``POST /api/v1/workflows/{namespace}/submit`` with a WorkflowSubmitRequest (kind
  WorkflowTemplate, the template's name, ``parameters`` as ``name=value``); the parameters
  are checked against the rendered template first (unknown or missing ones are refused
  here, naming them, before anything is sent);
- status: ``GET /api/v1/workflows/{namespace}/{name}``: the phase and each step's node;
- logs: ``GET /api/v1/workflows/{namespace}/{name}/log`` for the ``main`` container of every
  pod (Argo's stream of ``{"result": {"podName", "content"}}`` lines).

The bearer token comes from the environment (``argo.token_env``, ``ARGO_TOKEN`` by default,
what ``argo auth token`` prints), never from config files; the server from ``argo.server``
or ``ARGO_SERVER``. Responses are read as JSON, not into the SDK's models, whose strict
types break on fields newer servers add.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hera.workflows import models as m

from slipway.config import ArgoSettings, environ
from slipway.errors import SlipwayError, WorkflowError
from slipway.workflow import definitions


class ArgoError(SlipwayError):
    """The Argo Server refused a request or cannot be reached."""


@dataclass(frozen=True)
class NodeStatus:
    name: str
    template: str
    phase: str
    message: str = ""


@dataclass(frozen=True)
class WorkflowStatus:
    name: str
    phase: str
    message: str = ""
    nodes: list[NodeStatus] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"{self.name}: {self.phase or 'Pending'}"
            + (f" ({self.message})" if self.message else "")
        ]
        lines += [f"  {n.name:<28} {n.phase:<10} {n.message}".rstrip() for n in self.nodes]
        return "\n".join(lines)


def check_parameters(template: str, parameters: Mapping[str, str]) -> list[str]:
    """``name=value`` for Argo, after checking them against the rendered template."""
    known = {w.name or "": w for w in definitions.all_workflows()}
    if template not in known:
        raise WorkflowError(f"no WorkflowTemplate {template!r} (one of {sorted(known)})")
    built = known[template].build()
    spec = built.spec.workflow_spec if isinstance(built, m.CronWorkflow) else built.spec
    declared = {p.name: p for p in (spec.arguments.parameters if spec.arguments else None) or []}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise WorkflowError(f"{template}: unknown parameters {unknown} (it has {sorted(declared)})")
    missing = sorted(n for n, p in declared.items() if p.value is None and n not in parameters)
    if missing:
        raise WorkflowError(f"{template}: parameters {missing} are required (-p NAME=VALUE)")
    for name, value in parameters.items():
        enum = declared[name].enum
        if enum is not None and value not in [str(e) for e in enum]:
            raise WorkflowError(f"{template}: {name}={value!r} is not one of {enum}")
    return [f"{k}={v}" for k, v in parameters.items()]


class ArgoClient:
    """The SDK's WorkflowServiceApi for ``settings`` (server, namespace, token)."""

    def __init__(self, settings: ArgoSettings) -> None:
        import argo_workflows  # type: ignore[import-untyped]
        from argo_workflows.api import workflow_service_api  # type: ignore[import-untyped]

        env = environ()
        server = settings.server or env.get("ARGO_SERVER")
        if not server:
            raise ArgoError("no Argo Server: set argo.server in the config, or ARGO_SERVER")
        if "://" not in server:
            server = f"https://{server}"  # ARGO_SERVER is host:port, as the argo CLI takes it
        token = env.get(settings.token_env, "").strip()
        if not token:
            raise ArgoError(
                f"no token in ${settings.token_env}: set it to `argo auth token`'s output "
                "(a service account's token)"
            )
        config = argo_workflows.Configuration(host=server.rstrip("/"))
        config.api_key["BearerToken"] = token.removeprefix("Bearer ").strip()
        config.api_key_prefix["BearerToken"] = "Bearer"
        config.verify_ssl = settings.verify_tls
        if settings.ca_file is not None:
            config.ssl_ca_cert = str(settings.ca_file)
        self.namespace = settings.namespace
        self._client = argo_workflows.ApiClient(config)
        self.api = workflow_service_api.WorkflowServiceApi(self._client)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ArgoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        from argo_workflows.exceptions import ApiException  # type: ignore[import-untyped]

        try:
            response = method(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            raise ArgoError(f"Argo Server refused {what}: {exc.status} {_reason(exc)}") from exc
        except OSError as exc:  # urllib3 wraps connection errors in OSError subclasses
            raise ArgoError(f"cannot reach the Argo Server for {what}: {exc}") from exc
        return response

    def submit(self, template: str, parameters: Mapping[str, str]) -> str:
        """Submit a Workflow from the WorkflowTemplate; the Workflow's name."""
        from argo_workflows.model.io_argoproj_workflow_v1alpha1_submit_opts import (  # type: ignore[import-untyped]
            IoArgoprojWorkflowV1alpha1SubmitOpts as SubmitOpts,
        )
        from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_submit_request import (  # type: ignore[import-untyped]
            IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest as SubmitRequest,
        )

        body = SubmitRequest(
            namespace=self.namespace,
            resource_kind="WorkflowTemplate",
            resource_name=template,
            submit_options=SubmitOpts(
                parameters=check_parameters(template, parameters),
                labels="slipway.io/submitted-by=slipway",
            ),
        )
        response = self._call(f"submitting {template}", self.api.submit_workflow,
                              self.namespace, body)  # fmt: skip
        return str(_json(response)["metadata"]["name"])

    def status(self, name: str) -> WorkflowStatus:
        response = self._call(f"workflow {name}", self.api.get_workflow, self.namespace, name)
        workflow = _json(response)
        status = workflow.get("status") or {}
        nodes = sorted(
            (n for n in (status.get("nodes") or {}).values() if n.get("type") == "Pod"),
            key=lambda n: str(n.get("startedAt") or ""),
        )
        return WorkflowStatus(
            workflow["metadata"]["name"],
            str(status.get("phase", "")),
            str(status.get("message", "")),
            [
                NodeStatus(
                    str(n.get("displayName", n.get("name", ""))),
                    str(n.get("templateName", "")),
                    str(n.get("phase", "")),
                    str(n.get("message", "")),
                )
                for n in nodes
            ],
        )

    def logs(self, name: str, grep: str | None = None) -> Iterator[str]:
        """Each log line of the workflow's steps, prefixed by its pod's name."""
        extra = {"grep": grep} if grep else {}
        response = self._call(
            f"the logs of {name}", self.api.workflow_logs, self.namespace, name,
            log_options_container="main", **extra,
        )  # fmt: skip
        for raw in response.data.decode("utf-8").splitlines():
            if not raw.strip():
                continue
            entry = json.loads(raw)
            if "error" in entry:
                raise ArgoError(f"the logs of {name}: {entry['error'].get('message', entry)}")
            result = entry.get("result", {})
            yield f"{result.get('podName', '?')}: {result.get('content', '')}"


def _json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data.decode("utf-8"))
    return data


def _reason(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.reason))
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)
