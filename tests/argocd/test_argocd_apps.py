"""The Argo CD manifests: valid, restrictive, pinned, layered, and rendering what they promise."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from argocd_checks import (
    ARGOCD,
    ENVIRONMENTS,
    REPO,
    application_errors,
    application_set_errors,
    applications,
    effective_values,
    fake_cluster,
    gpu_agent_errors,
    image_reference_errors,
    load,
    manifests,
    off_gpu_errors,
    project_errors,
    render_application_set,
    sources,
    sync_options,
    upstream_image_values,
    value_files,
    wave,
)
from ruamel.yaml import YAML

from slipway.kube.manifests import validate_manifests

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(REPO / "tests" / "charts"))
CRD_HEAVY = {
    "cert-manager",
    "external-secrets",
    "knative-operator",
    "kserve-crd",
    "kube-prometheus-stack",
    "argo-workflows",
    "cluster-autoscaler",
}
GPU_AGENTS = ("nvidia-device-plugin", "dcgm-exporter")


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for objs in manifests().values() for o in objs if o["kind"] == kind]


def _projects() -> set[str]:
    return {p["metadata"]["name"] for p in _by_kind("AppProject")}


def _app(name: str, environment: str = "dev") -> dict[str, Any]:
    appset = next(a for a in _by_kind("ApplicationSet") if a["metadata"]["name"] == name)
    return render_application_set(appset, fake_cluster(environment))


def test_every_manifest_and_generated_application_is_schema_valid(crd_schema_dir: Path) -> None:
    errors = [
        f"{path.relative_to(REPO)}: {e}"
        for path, objs in manifests().items()
        for e in validate_manifests(objs, crd_schema_dir)
    ]
    errors += validate_manifests(applications(), crd_schema_dir)
    assert errors == []


def cluster_secret_store_errors(objects: list[dict[str, Any]]) -> list[str]:
    """No store shared by every namespace: a ClusterSecretStore (with one role that reads every
    secret) would let an ExternalSecret in ml-workflows fetch the database password."""
    return [
        f"ClusterSecretStore {o['metadata']['name']}"
        for o in objects
        if isinstance(o, dict) and o.get("kind") == "ClusterSecretStore"
    ]


def test_no_cluster_secret_store_anywhere() -> None:
    objects = [o for objs in manifests().values() for o in objs]
    for app in applications():
        objects += effective_values(app).get("extraObjects") or []
    assert cluster_secret_store_errors(objects) == []
    for project in _by_kind("AppProject"):
        kinds = {k["kind"] for k in project["spec"].get("clusterResourceWhitelist", [])}
        assert "ClusterSecretStore" not in kinds, project["metadata"]["name"]
    assert cluster_secret_store_errors(load(FIXTURES / "cluster-secret-store.yaml"))
    # the External Secrets controller has no AWS identity to lend a store
    values = effective_values(_app("external-secrets"))
    assert "eks.amazonaws.com/role-arn" not in str(values.get("serviceAccount"))


def test_each_namespace_store_gets_its_own_role() -> None:
    expected = {
        "mlflow": "mlflow-secrets",
        "ml-workflows": "workflows-secrets",
        "platform-monitoring": "monitoring-secrets",
    }
    for name, role in expected.items():
        for environment in ENVIRONMENTS:
            values = effective_values(_app(name, environment))
            arn = values["secretStore"]["roleArn"]
            assert arn.endswith(f"slipway-{environment}-{role}"), (name, arn)


def test_predictors_and_the_drift_step_share_the_datasets_bucket() -> None:
    """The predictors upload payloads to the cluster's datasets bucket, and the drift step's
    ConfigMap reads from the same one, under the same prefix."""
    for environment in ENVIRONMENTS:
        bucket = f"slipway-{environment}-datasets"
        serving = effective_values(_app("model-serving", environment))
        workflows = effective_values(_app("ml-workflows", environment))
        assert serving["payloads"]["bucket"] == bucket
        assert workflows["platform"]["datasetsBucket"] == bucket
        # neither overrides its chart's prefix, and the charts agree on it
        assert "prefix" not in serving["payloads"]
        assert "payloadsPrefix" not in workflows["platform"]


def test_every_application_is_consistent() -> None:
    apps = applications()
    assert len(apps) >= 2 * len(_by_kind("ApplicationSet"))
    errors = [e for app in apps for e in application_errors(app, _projects())]
    assert errors == []


def test_the_checks_catch_bad_applications() -> None:
    bad = {a["metadata"]["name"]: a for a in load(FIXTURES / "bad-applications.yaml")}
    expected = {
        "missing-path": "does not exist",
        "unpinned-revision": "not a pinned version",
        "default-project": "project 'default'",
        "missing-values-file": "value file",
        "head-revision": "not a pinned version",
    }
    for name, message in expected.items():
        errors = application_errors(bad[name], _projects())
        assert any(message in e for e in errors), f"{name}: {errors}"


def test_application_sets_share_one_shape() -> None:
    errors = [e for appset in _by_kind("ApplicationSet") for e in application_set_errors(appset)]
    assert errors == []


def test_the_shape_check_catches_a_drifted_copy() -> None:
    errors = "\n".join(application_set_errors(load(FIXTURES / "drifted-application-set.yaml")[0]))
    for expected in (
        "missingkey=error",
        "one cluster generator",
        "named '{{ .name }}-drifted'",
        "no slipway.io/tier label",
        "sync wave differs",
        "automated with prune and selfHeal",
        "retry differs",
        "no ServerSideApply=true",
        "release name 'mlflow' is not 'drifted'",
        "value files must be",
    ):
        assert expected in errors, expected


def test_projects_are_restrictive() -> None:
    assert _projects() == {"platform", "ml-workloads"}
    assert [e for p in _by_kind("AppProject") for e in project_errors(p)] == []
    errors = project_errors(load(FIXTURES / "open-project.yaml")[0])
    assert len(errors) == 3


def test_no_application_uses_the_default_project() -> None:
    for app in applications():
        assert app["spec"]["project"] in {"platform", "ml-workloads"}
    workloads = {a["spec"]["destination"]["namespace"] for a in applications()}
    assert {"mlflow", "model-serving", "ml-workflows"} <= workloads


def test_unknown_template_expressions_are_errors() -> None:
    appset = load(FIXTURES / "unknown-template.yaml")[0]
    with pytest.raises(ValueError, match="unsupported template expression"):
        render_application_set(appset, fake_cluster("dev"))


def test_root_application_owns_application_sets_and_bootstrap_owns_projects() -> None:
    root = load(ARGOCD / "bootstrap" / "root.yaml")[0]
    assert root["spec"]["project"] == "platform"
    include = root["spec"]["source"]["directory"]["include"]
    assert "applications/*.yaml" in include
    # Terraform's bootstrap Application syncs projects/ and bootstrap/; one owner each.
    assert "projects/" not in include
    # every Terraform variable that sets the bootstrap's include defaults to just those two
    # (the gitops-bridge module's, and any root's that passes it on)
    defaults = {}
    for path in sorted((REPO / "terraform").rglob("variables.tf")):
        found = re.findall(r"^\s*include\s*=\s*optional\(string, (.*)\)$", path.read_text(), re.M)
        if found and ".terraform" not in path.parts:
            defaults[path.relative_to(REPO)] = found
    module = Path("terraform/modules/gitops-bridge/variables.tf")
    assert module in defaults
    for path, found in defaults.items():
        assert found == ['"{projects/*.yaml,bootstrap/*.yaml}"'], path
    assert (REPO / root["spec"]["source"]["path"] / "projects").is_dir()


def test_sync_waves_put_namespaces_and_crds_first() -> None:
    waves = {a["metadata"]["name"]: wave(a) for a in _by_kind("ApplicationSet")}
    assert all(wave(p) < min(waves.values()) for p in _by_kind("AppProject"))
    assert waves["namespaces"] < min(waves[n] for n in CRD_HEAVY)
    assert max(waves[n] for n in CRD_HEAVY) < min(waves[n] for n in ("knative-serving", "kserve"))
    assert waves["kserve"] < waves["model-serving"]
    assert max(waves[n] for n in CRD_HEAVY) < waves["mlflow"] < waves["model-serving"]
    for appset in _by_kind("ApplicationSet"):
        template_wave = appset["spec"]["template"]["metadata"]["annotations"]
        assert int(template_wave["argocd.argoproj.io/sync-wave"]) == wave(appset)


def test_crd_heavy_charts_use_server_side_apply() -> None:
    for name in CRD_HEAVY:
        assert "ServerSideApply=true" in sync_options(_app(name)), name


def test_canary_field_is_ignored_and_respected() -> None:
    for environment in ENVIRONMENTS:
        app = _app("model-serving", environment)
        assert "RespectIgnoreDifferences=true" in sync_options(app)
        assert {
            "group": "serving.kserve.io",
            "kind": "InferenceService",
            "jsonPointers": ["/spec/predictor/canaryTrafficPercent"],
        } in app["spec"]["ignoreDifferences"]


def test_values_are_layered_default_then_environment() -> None:
    for app in applications():
        files = [str(p.relative_to(REPO)) for p in value_files(app)]
        if not files:
            continue
        environment = app["metadata"]["name"].split("-cluster-")[0]
        component = Path(files[0]).stem
        assert files == [
            f"argocd/values/default/{component}.yaml",
            f"argocd/values/{environment}/{component}.yaml",
        ]


def test_account_values_come_from_cluster_annotations() -> None:
    text = "\n".join(p.read_text() for p in sorted((ARGOCD / "applications").glob("*.yaml")))
    assert "123456789012" not in text and "arn:aws" not in text
    mlflow = _app("mlflow", "prod")["spec"]["sources"][0]["helm"]["valuesObject"]
    assert mlflow["serviceAccount"]["roleArn"].endswith("slipway-prod-mlflow")
    assert mlflow["server"]["artifactsDestination"] == "s3://slipway-prod-artifacts/mlflow"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_serving_values_file_has_the_shape_the_rollout_edits(environment: str) -> None:
    path = ARGOCD / "values" / environment / "model-serving.yaml"
    yaml_rt = YAML()
    data = yaml_rt.load(path.read_text())
    assert list(data) == ["models"]
    for model in data["models"]:
        assert {"name", "modelVersion", "runId", "storageUri"} <= set(model)
        assert isinstance(model["modelVersion"], str)
    # a comment-preserving edit, as promotion does it, keeps the comments
    data["models"][0]["modelVersion"] = "42"
    out = io.StringIO()
    yaml_rt.dump(data, out)
    assert out.getvalue().startswith("# model-serving")
    assert 'modelVersion: "42"' in out.getvalue() or "modelVersion: '42'" in out.getvalue()


OUR_CHARTS = ("mlflow", "model-serving", "ml-workflows", "platform-monitoring")


@pytest.fixture(scope="module")
def argo_rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[Any]]:
    """Our charts rendered as Argo CD renders them: dependencies built (slipway-common), then
    the value files, then the valuesObject."""
    from chart_render import build_charts, helm

    out = {}
    tmp = tmp_path_factory.mktemp("argo-values")
    charts = build_charts(tmp_path_factory.mktemp("argo-charts"))
    for name in OUR_CHARTS:
        for environment in ENVIRONMENTS:
            app = _app(name, environment)
            source = sources(app)[0]
            chart = charts / Path(source["path"]).relative_to("charts")
            args = [helm(), "template", source["helm"]["releaseName"], str(chart)]
            args += ["--namespace", app["spec"]["destination"]["namespace"]]
            for path in value_files(app):
                args += ["--values", str(path)]
            if "valuesObject" in source["helm"]:
                extra = tmp / f"{name}-{environment}.yaml"
                extra.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
                args += ["--values", str(extra)]
            result = subprocess.run(args, capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{name} ({environment}): {result.stderr}"
            out[name, environment] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out


def test_our_charts_render_as_argo_cd_renders_them(
    argo_rendered: dict[tuple[str, str], list[Any]], crd_schema_dir: Path
) -> None:
    from chart_contracts import contract_errors

    for (name, environment), objects in argo_rendered.items():
        assert validate_manifests(objects, crd_schema_dir) == [], (name, environment)
        assert contract_errors(objects) == [], (name, environment)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_mlflow_runs_with_auth_and_separate_identities_in_every_environment(
    argo_rendered: dict[tuple[str, str], list[Any]], environment: str
) -> None:
    """As Argo CD renders it: MLflow's basic-auth app with slipway's rules, every user's
    password from its own Secrets Manager entry (a cluster annotation), and the workflows'
    pipeline and rollout users each from their own store."""

    def one(objects: list[Any], kind: str, name: str) -> Any:
        found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, (kind, name)
        return found[0]

    mlflow = argo_rendered["mlflow", environment]
    server = one(mlflow, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    assert "--app-name=basic-auth" in server["args"]
    ini = one(mlflow, "ExternalSecret", "mlflow-server")["spec"]["target"]["template"]["data"]
    assert "authorization_function = slipway_mlflow_auth:authenticate" in ini["basic_auth.ini"]
    bootstrap = one(mlflow, "ExternalSecret", "mlflow-auth-bootstrap")["spec"]["data"]
    remote = {d["remoteRef"]["key"] for d in bootstrap}
    assert remote == {
        f"{environment}-mlflow-{who}-secret-name"
        for who in ("admin", "pipeline", "rollout", "metrics")
    }
    assert one(mlflow, "Job", "mlflow-auth-bootstrap")
    workflows = argo_rendered["ml-workflows", environment]
    for who, store in (
        ("pipeline", "aws-secrets-manager"),
        ("rollout", "aws-secrets-manager-rollout"),
    ):
        spec = one(workflows, "ExternalSecret", f"mlflow-{who}-credentials")["spec"]
        assert spec["secretStoreRef"]["name"] == store
        assert {d["remoteRef"]["key"] for d in spec["data"]} == {
            f"{environment}-mlflow-{who}-secret-name"
        }
    reader = one(workflows, "ServiceAccount", "rollout-secrets-reader")
    role = reader["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.endswith(f"slipway-{environment}-rollout-secrets")


RELEASE = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# Image references known to be by tag until their digest is resolved where the registry is
# reachable (`crane digest <ref>`), each with where the digest goes. This list may only
# shrink: the test fails on any other reference by tag, and on an entry no longer deployed.
AWAITING_DIGEST = {
    "ghcr.io/mlflow/mlflow:v3.17.2-full": "MLflow's upstream image: set the mlflow chart's "
    "image.digest and tests.image.digest (argocd/values/default/mlflow.yaml)",
}
UPSTREAM_AWAITING_DIGEST = {
    "cluster-autoscaler image: <chart default>:v1.35.0": "the autoscaler's image: its chart "
    "joins repository:tag, so set image.tag to v1.35.0@sha256:<digest>",
}


def _images(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["image"]} if isinstance(node.get("image"), str) else set()
        return found.union(*(_images(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_images(v) for v in node))
    return set()


def test_every_image_our_charts_deploy_is_pinned_by_digest_or_the_release(
    argo_rendered: dict[tuple[str, str], list[Any]],
) -> None:
    """Every container, init container and workflow step image of our charts, rendered as
    Argo CD renders them in every environment."""
    seen = set().union(*(_images(objects) for objects in argo_rendered.values()))
    assert any(i.startswith("ghcr.io/slipway-ml/") for i in seen)
    awaiting = frozenset(AWAITING_DIGEST)
    errors = [e for image in sorted(seen) for e in image_reference_errors(image, RELEASE, awaiting)]
    assert errors == []
    assert awaiting <= seen, f"no longer deployed, drop from AWAITING_DIGEST: {awaiting - seen}"


def test_upstream_charts_get_no_image_by_tag_from_our_values() -> None:
    """Where our Argo CD values override an upstream chart's image, they give a digest."""
    found = set()
    for path in sorted((ARGOCD / "values").glob("*/*.yaml")):
        if path.stem in OUR_CHARTS:
            continue
        values = yaml.safe_load(path.read_text()) or {}
        found |= {f"{path.stem} {entry}" for entry in upstream_image_values(values)}
    assert found == set(UPSTREAM_AWAITING_DIGEST)


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/slipway-ml/slipway-trainer@sha256:" + "a" * 64, None),
        ("ghcr.io/slipway-ml/slipway-trainer:" + RELEASE, None),
        ("ghcr.io/slipway-ml/slipway-trainer:0.0.9", "release tag"),
        ("ghcr.io/slipway-ml/slipway-predictor:latest", "release tag"),
        ("ghcr.io/mlflow/mlflow:v3.17.3-full", "mutable tag"),
        ("docker.io/library/nginx:1.27", "mutable tag"),
        ("nginx", "neither a digest nor a tag"),
        ("localhost:5000/x/y", "neither a digest nor a tag"),
        ("ghcr.io/x/y@sha256:abc", "malformed digest"),
    ],
)
def test_the_image_check_catches_tags(image: str, problem: str | None) -> None:
    errors = image_reference_errors(image, RELEASE, frozenset(AWAITING_DIGEST))
    assert (errors == []) if problem is None else (problem in " ".join(errors)), errors


def test_the_upstream_image_check_catches_a_tag_without_digest() -> None:
    assert upstream_image_values({"controller": {"image": {"repository": "r", "tag": "v1"}}}) == [
        "controller.image: r:v1"
    ]
    pinned = {"image": {"repository": "r", "tag": "v1", "digest": "sha256:" + "b" * 64}}
    assert upstream_image_values(pinned) == []
    assert upstream_image_values({"image": {"tag": "v1@sha256:" + "b" * 64}}) == []


def test_workload_charts_stay_within_the_ml_workloads_project(
    argo_rendered: dict[tuple[str, str], list[Any]],
) -> None:
    project = next(p for p in _by_kind("AppProject") if p["metadata"]["name"] == "ml-workloads")
    allowed = {(k["group"], k["kind"]) for k in project["spec"]["namespaceResourceWhitelist"]}
    namespaces = {d["namespace"] for d in project["spec"]["destinations"]}
    for (name, environment), objects in argo_rendered.items():
        if _app(name)["spec"]["project"] != "ml-workloads":
            continue
        for obj in objects:
            hook = (obj["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
            if hook == "test":
                continue  # Argo CD does not apply helm test hooks
            group = obj["apiVersion"].rpartition("/")[0]
            assert (group, obj["kind"]) in allowed, (name, environment, obj["kind"])
            assert obj["metadata"]["namespace"] in namespaces, (name, obj["metadata"]["name"])


def test_environment_model_versions_reach_the_inference_services(
    argo_rendered: dict[tuple[str, str], list[Any]],
) -> None:
    for environment in ENVIRONMENTS:
        values = yaml.safe_load(
            (ARGOCD / "values" / environment / "model-serving.yaml").read_text()
        )
        services = {
            o["metadata"]["name"]: o
            for o in argo_rendered["model-serving", environment]
            if o["kind"] == "InferenceService"
        }
        for model in values["models"]:
            annotations = services[model["name"]]["metadata"]["annotations"]
            assert annotations["slipway.io/model-version"] == model["modelVersion"]
            container = services[model["name"]]["spec"]["predictor"]["containers"][0]
            uri = next(e["value"] for e in container["env"] if e["name"] == "STORAGE_URI")
            assert uri.startswith(f"s3://slipway-{environment}-artifacts/")


# --- GPUs from zero -------------------------------------------------------------------


def test_gpu_add_ons_are_pinned_in_their_waves() -> None:
    waves = {a["metadata"]["name"]: wave(a) for a in _by_kind("ApplicationSet")}
    assert waves["cluster-autoscaler"] < waves["knative-serving"] < waves["model-serving"]
    assert waves["cluster-autoscaler"] < waves["ml-workflows"]
    assert waves["nvidia-device-plugin"] < waves["ml-workflows"]
    # the DCGM exporter's ServiceMonitor needs kube-prometheus-stack's CRDs first
    assert waves["kube-prometheus-stack"] < waves["dcgm-exporter"]
    assert "SkipDryRunOnMissingResource=true" in sync_options(_app("dcgm-exporter"))
    for name in ("cluster-autoscaler", *GPU_AGENTS):
        source = sources(_app(name))[0]
        assert source["chart"] == name and source["targetRevision"][0].isdigit(), name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_nothing_in_the_autoscalers_path_waits_for_a_gpu_node(environment: str) -> None:
    values = effective_values(_app("cluster-autoscaler", environment))
    assert off_gpu_errors("cluster-autoscaler", values) == []
    # what it needs before it can act: External Secrets is not among them; cert-manager and
    # the controllers of its wave must not sit on GPU nodes either
    for name in ("external-secrets",):
        assert "gpu" not in str(effective_values(_app(name, environment)).get("nodeSelector"))
    # Argo CD itself, which syncs it: the gitops-bridge module pins it to the system group
    bridge = (REPO / "terraform" / "modules" / "gitops-bridge" / "variables.tf").read_text()
    assert re.search(r'default\s*=\s*\{ "slipway.io/node-pool" = "system" \}', bridge)


def test_the_off_gpu_check_catches_an_autoscaler_on_gpu_nodes() -> None:
    bad = load(FIXTURES / "gpu-bound-values.yaml")[0]["autoscaler"]
    errors = "\n".join(off_gpu_errors("bad", bad))
    assert "is not the system node group" in errors
    assert "tolerates only the GPU taint" in errors
    assert "affinity requires a GPU node" in errors


def test_the_autoscaler_discovers_the_gpu_groups_of_its_cluster() -> None:
    values = effective_values(_app("cluster-autoscaler", "prod"))
    assert values["cloudProvider"] == "aws" and values["awsRegion"] == "eu-west-1"
    assert values["autoDiscovery"]["clusterName"] == "slipway-prod"
    assert (
        "k8s.io/cluster-autoscaler/node-template/label/slipway.io/node-pool=gpu"
        in (values["autoDiscovery"]["tags"])
    )
    role = values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.endswith("slipway-prod-cluster-autoscaler")
    # the name the IRSA role trusts (terraform/modules/iam: kube-system/cluster-autoscaler)
    assert values["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"
    assert _app("cluster-autoscaler")["spec"]["destination"]["namespace"] == "kube-system"


@pytest.mark.parametrize("name", GPU_AGENTS)
def test_gpu_agents_run_on_every_gpu_node_and_only_there(name: str) -> None:
    for environment in ENVIRONMENTS:
        assert gpu_agent_errors(name, effective_values(_app(name, environment))) == []
    assert effective_values(_app("dcgm-exporter"))["serviceMonitor"]["enabled"] is True


def test_the_gpu_agent_check_catches_an_agent_off_the_gpu_nodes() -> None:
    bad = load(FIXTURES / "gpu-bound-values.yaml")[0]["agent"]
    errors = "\n".join(gpu_agent_errors("bad", bad))
    assert "nodeSelector" in errors and "does not tolerate" in errors and "affinity" in errors


# --- Grafana's admin password ------------------------------------------------------------


def plain_admin_passwords(root: Path) -> list[str]:
    """Every `adminPassword` (Grafana's chart default is a fixed password) set in YAML below
    root (values and manifests; chart templates are not YAML), with its file."""
    found = []
    for path in sorted(root.rglob("*.yaml")):
        if "templates" in path.relative_to(root).parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            stack = [doc]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    if node.get("adminPassword") not in (None, ""):
                        found.append(str(path))
                    stack += list(node.values())
                elif isinstance(node, list):
                    stack += node
    return found


def test_grafana_admin_comes_from_the_secret_store(tmp_path: Path) -> None:
    for environment in ENVIRONMENTS:
        grafana = effective_values(_app("kube-prometheus-stack", environment))["grafana"]
        monitoring = effective_values(_app("platform-monitoring", environment))["grafanaAdmin"]
        assert grafana["admin"]["existingSecret"] == "grafana-admin"
        assert monitoring.get("enabled", True) is not False
        assert monitoring["secretName"] == f"{environment}-grafana-admin-secret-name"
        chart = yaml.safe_load((REPO / "charts/platform-monitoring/values.yaml").read_text())
        assert chart["grafanaAdmin"]["targetName"] == grafana["admin"]["existingSecret"]
        assert chart["grafanaAdmin"]["userKey"] == grafana["admin"]["userKey"]
        assert chart["grafanaAdmin"]["passwordKey"] == grafana["admin"]["passwordKey"]
    assert plain_admin_passwords(ARGOCD) == []
    assert plain_admin_passwords(REPO / "charts") == []
    (tmp_path / "values.yaml").write_text("grafana:\n  adminPassword: prom-operator\n")
    assert plain_admin_passwords(tmp_path) == [str(tmp_path / "values.yaml")]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_promotions_record_on_the_synced_repository_in_their_own_environment(
    environment: str,
) -> None:
    """A canary pod has no checkout: without the repository and the environment in the
    platform ConfigMap its promotion fails at the git stage."""
    root = load(ARGOCD / "bootstrap" / "root.yaml")[0]
    synced = root["spec"]["source"]["repoURL"].removeprefix("https://github.com/")
    layers = [
        load(ARGOCD / "values" / layer / "ml-workflows.yaml")[0]
        for layer in ("default", environment)
    ]
    gitops = {**layers[0].get("gitops", {}), **layers[1].get("gitops", {})}
    assert gitops["githubRepo"] == synced.removesuffix(".git")
    assert gitops["environment"] == environment
