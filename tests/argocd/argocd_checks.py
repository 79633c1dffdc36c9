"""Offline checks of the Argo CD manifests; each check returns error messages.

ApplicationSets are rendered for fake clusters by substituting the few Go-template forms the
manifests use (`.name`, `.server`, `index .metadata.annotations "<key>"`); any other template
expression is an error, so nothing passes unrendered.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "argocd"
OUR_REPO = "https://github.com/slipway-ml/slipway.git"
ENVIRONMENTS = ("dev", "prod")
PINNED = re.compile(r"^v?\d+\.\d+\.\d+$")
_EXPR = re.compile(r"\{\{(.*?)\}\}")
_ANNOTATION = re.compile(r'^\s*index \.metadata\.annotations "([^"]+)"\s*$')
ANNOTATIONS = (
    "aws-region",
    "artifacts-bucket",
    "datasets-bucket",
    "mlflow-role-arn",
    "workflows-role-arn",
    "kserve-role-arn",
    "cluster-autoscaler-role-arn",
    "mlflow-secrets-role-arn",
    "workflows-secrets-role-arn",
    "monitoring-secrets-role-arn",
    "rollout-secrets-role-arn",
    "mlflow-db-secret-name",
    "mlflow-flask-secret-name",
    "git-token-secret-name",
    "grafana-admin-secret-name",
    "mlflow-admin-secret-name",
    "mlflow-pipeline-secret-name",
    "mlflow-rollout-secret-name",
    "mlflow-metrics-secret-name",
    "cluster-name",
    "environment",
)
ROLES = (
    "mlflow",
    "workflows",
    "kserve",
    "cluster-autoscaler",
    "mlflow-secrets",
    "workflows-secrets",
    "monitoring-secrets",
    "rollout-secrets",
)

Obj = dict[str, Any]


def load(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> dict[Path, list[Obj]]:
    """Every Kubernetes manifest under argocd/ (values/ holds Helm values, not manifests)."""
    return {
        path: load(path)
        for path in sorted(ARGOCD.rglob("*.yaml"))
        if "values" not in path.relative_to(ARGOCD).parts
    }


def fake_cluster(environment: str) -> Obj:
    annotations = {f"slipway.io/{key}": f"{environment}-{key}" for key in ANNOTATIONS}
    annotations |= {
        "slipway.io/environment": environment,
        "slipway.io/aws-region": "eu-west-1",
        "slipway.io/artifacts-bucket": f"slipway-{environment}-artifacts",
        "slipway.io/datasets-bucket": f"slipway-{environment}-datasets",
    }
    annotations["slipway.io/cluster-name"] = f"slipway-{environment}"
    for role in ROLES:
        arn = f"arn:aws:iam::123456789012:role/slipway-{environment}-{role}"
        annotations[f"slipway.io/{role}-role-arn"] = arn
    return {
        "name": f"{environment}-cluster",
        "server": f"https://{environment}.example.com",
        "metadata": {"annotations": annotations, "labels": {}},
    }


def _substitute(text: str, cluster: Obj) -> str:
    def one(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        if expression in (".name", ".server"):
            return str(cluster[expression[1:]])
        annotation = _ANNOTATION.match(expression)
        if annotation:
            return str(cluster["metadata"]["annotations"][annotation.group(1)])
        raise ValueError(f"unsupported template expression: {{{{{match.group(1)}}}}}")

    return _EXPR.sub(one, text)


def _walk(value: Any, cluster: Obj) -> Any:
    if isinstance(value, str):
        return _substitute(value, cluster)
    if isinstance(value, list):
        return [_walk(v, cluster) for v in value]
    if isinstance(value, dict):
        return {_walk(k, cluster): _walk(v, cluster) for k, v in value.items()}
    return value


def render_application_set(appset: Obj, cluster: Obj) -> Obj:
    """The Application an ApplicationSet's cluster generator makes for one cluster."""
    template = copy.deepcopy(appset["spec"]["template"])
    app = _walk(template, cluster)
    app["metadata"]["namespace"] = appset["metadata"]["namespace"]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app}


def applications() -> list[Obj]:
    """Every Application: the plain ones and those each ApplicationSet makes for dev and prod."""
    out = []
    for objs in manifests().values():
        for obj in objs:
            if obj["kind"] == "Application":
                out.append(obj)
            elif obj["kind"] == "ApplicationSet":
                out += [render_application_set(obj, fake_cluster(e)) for e in ENVIRONMENTS]
    return out


def sources(app: Obj) -> list[Obj]:
    spec = app["spec"]
    return spec.get("sources") or [spec["source"]]


def value_files(app: Obj) -> list[Path]:
    """The value files of an Application, resolved to paths in this repository."""
    refs = {s["ref"] for s in sources(app) if "ref" in s}
    out = []
    for source in sources(app):
        for name in (source.get("helm") or {}).get("valueFiles", []):
            if name.startswith("$"):
                ref, _, rest = name[1:].partition("/")
                out.append(REPO / rest if ref in refs else Path(f"<no ref source {ref}>"))
            else:
                out.append(REPO / source.get("path", "") / name)
    return out


def application_errors(app: Obj, projects: set[str]) -> list[str]:
    """Project, source paths, pinned upstream versions, value files that exist."""
    name = app["metadata"]["name"]
    errors = []
    project = app["spec"].get("project")
    if project == "default" or project not in projects:
        errors.append(f"{name}: project {project!r} is not one of {sorted(projects)}")
    for source in sources(app):
        repo, revision = source.get("repoURL", ""), str(source.get("targetRevision", ""))
        if repo == OUR_REPO:
            if revision != "main":
                errors.append(f"{name}: our repository must track main, not {revision!r}")
            path = source.get("path")
            if path is not None and not (REPO / path).is_dir():
                errors.append(f"{name}: path {path} does not exist")
            if (
                path
                and (source.get("helm") is not None)
                and not (REPO / path / "Chart.yaml").is_file()
            ):
                errors.append(f"{name}: {path} is not a chart")
        else:
            if not source.get("chart"):
                errors.append(f"{name}: upstream source {repo} names no chart")
            if not PINNED.match(revision):
                errors.append(f"{name}: {repo} targetRevision {revision!r} is not a pinned version")
    for path in value_files(app):
        if not path.is_file():
            errors.append(f"{name}: value file {path} does not exist")
    return errors


# What every ApplicationSet shares: they are kept as one readable file per component (see
# argocd/README.md), and this check keeps the copies from drifting apart.
CLUSTER_GENERATOR = {
    "clusters": {"selector": {"matchLabels": {"argocd.argoproj.io/secret-type": "cluster"}}}
}
AUTOMATED = {"prune": True, "selfHeal": True}
RETRY = {"limit": 10, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"}}
ENV_ANNOTATION = '{{ index .metadata.annotations "slipway.io/environment" }}'


def application_set_errors(appset: Obj) -> list[str]:
    """An ApplicationSet has the shared shape: the cluster generator, strict Go templates,
    Applications named <cluster>-<name>, a tier label and the set's wave, automated sync with
    the common retry, and (for a chart) release name and layered value files named after it."""
    name, spec = appset["metadata"]["name"], appset["spec"]
    template = spec.get("template", {})
    meta, app = template.get("metadata", {}), template.get("spec", {})
    errors = []
    if spec.get("goTemplate") is not True or spec.get("goTemplateOptions") != ["missingkey=error"]:
        errors.append(f"{name}: templates must be Go templates with missingkey=error")
    if spec.get("generators") != [CLUSTER_GENERATOR]:
        errors.append(f"{name}: generators must be the one cluster generator")
    if meta.get("name") != f"{{{{ .name }}}}-{name}":
        errors.append(f"{name}: Applications must be named '{{{{ .name }}}}-{name}'")
    if not (meta.get("labels") or {}).get("slipway.io/tier"):
        errors.append(f"{name}: Applications carry no slipway.io/tier label")
    if wave(template) != wave(appset):
        errors.append(f"{name}: Applications' sync wave differs from the set's")
    policy = app.get("syncPolicy") or {}
    if policy.get("automated") != AUTOMATED:
        errors.append(f"{name}: sync must be automated with prune and selfHeal")
    if policy.get("retry") != RETRY:
        errors.append(f"{name}: retry differs from the common back-off {RETRY}")
    if "ServerSideApply=true" not in policy.get("syncOptions", []):
        errors.append(f"{name}: no ServerSideApply=true")
    for source in app.get("sources") or [app.get("source") or {}]:
        helm = source.get("helm")
        if helm is None:
            continue
        if helm.get("releaseName") != name:
            errors.append(f"{name}: release name {helm.get('releaseName')!r} is not {name!r}")
        layered = [
            f"$values/argocd/values/default/{name}.yaml",
            f"$values/argocd/values/{ENV_ANNOTATION}/{name}.yaml",
        ]
        if helm.get("valueFiles") != layered:
            errors.append(f"{name}: value files must be {layered}")
    return errors


def project_errors(project: Obj) -> list[str]:
    """An AppProject is restrictive: no wildcard repositories, namespaces or cluster kinds."""
    name, spec = project["metadata"]["name"], project["spec"]
    errors = []
    if name == "default":
        errors.append("the default project must not be defined here")
    if not spec.get("sourceRepos") or "*" in spec["sourceRepos"]:
        errors.append(f"{name}: sourceRepos must list repositories, not '*'")
    for destination in spec.get("destinations", []):
        if destination.get("namespace") in (None, "*", ""):
            errors.append(f"{name}: destination {destination} allows every namespace")
    for kind in spec.get("clusterResourceWhitelist", []):
        if "*" in (kind.get("group"), kind.get("kind")):
            errors.append(f"{name}: clusterResourceWhitelist allows {kind}")
    return errors


def sync_options(app: Obj) -> set[str]:
    return set((app["spec"].get("syncPolicy") or {}).get("syncOptions", []))


def wave(obj: Obj) -> int:
    return int((obj["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", 0))


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return over


def effective_values(app: Obj) -> Obj:
    """The values an Application gives its chart (above the chart's defaults): its value files
    in order, then its valuesObject, merged as Helm merges them."""
    values: Obj = {}
    for path in value_files(app):
        values = _merge(values, yaml.safe_load(path.read_text()) or {})
    for source in sources(app):
        values = _merge(values, copy.deepcopy((source.get("helm") or {}).get("valuesObject") or {}))
    return values


GPU_POOL = {"slipway.io/node-pool": "gpu"}
SYSTEM_POOL = {"slipway.io/node-pool": "system"}
GPU_TOLERATION = {
    "key": "nvidia.com/gpu",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}


def _is_gpu_toleration(toleration: Obj) -> bool:
    return toleration.get("key") == "nvidia.com/gpu"


def off_gpu_errors(name: str, values: Obj) -> list[str]:
    """A component in the autoscaler's path runs on the system node group and never waits for
    a GPU node: it selects the system pool, nothing of its placement names GPU nodes, and its
    tolerations (if any) are not only the GPU taint's."""
    errors = []
    selector = values.get("nodeSelector") or {}
    if selector != SYSTEM_POOL:
        errors.append(f"{name}: nodeSelector {selector} is not the system node group {SYSTEM_POOL}")
    if "gpu" in yaml.safe_dump(values.get("affinity") or {}).lower():
        errors.append(f"{name}: its affinity requires a GPU node")
    tolerations = values.get("tolerations") or []
    if tolerations and all(_is_gpu_toleration(t) for t in tolerations):
        errors.append(f"{name}: it tolerates only the GPU taint")
    return errors


def gpu_agent_errors(name: str, values: Obj) -> list[str]:
    """A GPU node agent runs on every GPU node and only there: it selects the GPU pool,
    tolerates the GPU taint, and no affinity of the chart's narrows it further."""
    errors = []
    if (values.get("nodeSelector") or {}) != GPU_POOL:
        errors.append(f"{name}: nodeSelector {values.get('nodeSelector')} is not {GPU_POOL}")
    if GPU_TOLERATION not in (values.get("tolerations") or []):
        errors.append(f"{name}: does not tolerate {GPU_TOLERATION}")
    if values.get("affinity"):
        errors.append(f"{name}: an affinity narrows the GPU nodes it runs on")
    return errors


# --- images by digest ---------------------------------------------------------------------

SLIPWAY_IMAGES = (
    "ghcr.io/slipway-ml/slipway-trainer",
    "ghcr.io/slipway-ml/slipway-trainer-cuda",
    "ghcr.io/slipway-ml/slipway-predictor",
)
_DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[a-f0-9]{64}$")


def image_reference_errors(
    image: str, release: str, awaiting_digest: frozenset[str] = frozenset()
) -> list[str]:
    """An image a chart or an Argo CD value deploys is pinned by digest, or is one of
    slipway's images at the release tag (images.yml's pull request then sets its digest in
    argocd/values/, scripts/bump_image_digests.py). ``awaiting_digest``: references known
    to be by tag until their digest is resolved (named in the test, each with its reason)."""
    if _DIGEST_REF.match(image):
        return []
    if "@" in image:
        return [f"image {image} has a malformed digest"]
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return [f"image {image} has neither a digest nor a tag"]
    if name in SLIPWAY_IMAGES:
        if tag == release:
            return []
        return [f"image {image}: slipway's images run the release tag {release} or a digest"]
    if image in awaiting_digest:
        return []
    return [f"image {image} is referenced by the mutable tag {tag!r}, not by digest"]


def upstream_image_values(values: Any, path: str = "") -> list[str]:
    """`image` mappings of an upstream chart's values that pin by tag and give no digest,
    as `path: repository:tag`."""
    found: list[str] = []
    if isinstance(values, dict):
        for key, value in values.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(value, dict) and value.get("tag"):
                # a digest field, or `tag: v1@sha256:...` for charts that join repository:tag
                if not value.get("digest") and "@sha256:" not in str(value["tag"]):
                    found.append(
                        f"{here}: {value.get('repository', '<chart default>')}:{value['tag']}"
                    )
            else:
                found += upstream_image_values(value, here)
    elif isinstance(values, list):
        for i, item in enumerate(values):
            found += upstream_image_values(item, f"{path}[{i}]")
    return found
