"""What each chart promises, asserted on its rendered output."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import CHARTS, Rendered, render

from slipway.config import load_settings, step_environment

Rendered_ = dict[tuple[str, str], Rendered]


def _values(chart: str, profile: str) -> dict[str, Any]:
    return yaml.safe_load((CHARTS / chart / "ci" / f"{profile}-values.yaml").read_text()) or {}


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# --- mlflow -----------------------------------------------------------------------------


def test_mlflow_proxies_artifacts_and_reads_secrets_from_external_secrets(
    rendered: Rendered_,
) -> None:
    for profile in ("minimal", "production"):
        item = rendered["mlflow", profile]
        server = item.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
        args = server["args"]
        assert "--serve-artifacts" in args
        destination = _values("mlflow", profile)["server"]["artifactsDestination"]
        assert f"--artifacts-destination={destination}" in args
        env = _env(server)
        for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
            assert env[name]["secretKeyRef"]["name"] == "mlflow-server", name
        secret = item.one("ExternalSecret", "mlflow-server")
        assert secret["spec"]["target"]["name"] == "mlflow-server"
        assert "postgresql://" in secret["spec"]["target"]["template"]["data"]["backend-store-uri"]
        # no credential is in the rendered output, only references to Secrets Manager: every
        # password-like key holds an External Secrets template reference or a Secret reference
        # (the auth hook's code, a ConfigMap, is left out: its `password: str` is Python)
        text = yaml.safe_dump_all(o for o in item.objects if o["kind"] != "ConfigMap")
        values = re.findall(r"password\w*:[ \t]*(\S.*)$", text.lower(), re.MULTILINE)
        assert values and all(v.startswith(("'{{ .", '"{{ .', "{{ .")) for v in values), values


def test_mlflow_db_upgrade_hook_runs_after_the_secret_exists(rendered: Rendered_) -> None:
    item = rendered["mlflow", "minimal"]
    job = item.one("Job", "mlflow-db-upgrade")
    secret = item.one("ExternalSecret", "mlflow-server")
    job_hook, secret_hook = job["metadata"]["annotations"], secret["metadata"]["annotations"]
    assert job_hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert secret_hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret_hook["helm.sh/hook-weight"]) < int(job_hook["helm.sh/hook-weight"])
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "mlflow db upgrade" in " ".join(container["args"])


def test_mlflow_production_has_irsa_auth_hpa_ingress_and_monitoring(rendered: Rendered_) -> None:
    item = rendered["mlflow", "production"]
    pod = item.one("Deployment")["spec"]["template"]["spec"]
    account = item.one("ServiceAccount", pod["serviceAccountName"])
    role = _values("mlflow", "production")["serviceAccount"]["roleArn"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    server = item.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--app-name=basic-auth" in server["args"]
    server_secret = item.one("ExternalSecret", "mlflow-server")
    assert "basic_auth.ini" in server_secret["spec"]["target"]["template"]["data"]
    assert item.one("HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
    assert item.one("PodDisruptionBudget")
    assert item.one("ServiceMonitor")["spec"]["endpoints"][0]["path"] == "/metrics"
    host = item.one("Ingress")["spec"]["rules"][0]["host"]
    assert host in _env(server)["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert "mlflow.mlflow.svc.cluster.local:*" in _env(server)["MLFLOW_SERVER_ALLOWED_HOSTS"]


def test_mlflow_image_digest_pins_every_container(built_charts: Path, tmp_path: Path) -> None:
    """Once MLflow's image digest is set, the server, both hook Jobs and the helm test run it
    by digest (the way the tag-only reference in tests/argocd's AWAITING_DIGEST is closed)."""
    digest = "sha256:" + "c" * 64
    extra = tmp_path / "digest.yaml"
    extra.write_text(
        yaml.safe_dump({"image": {"digest": digest}, "tests": {"image": {"digest": digest}}})
    )
    minimal = CHARTS / "mlflow" / "ci" / "minimal-values.yaml"
    result = render(built_charts / "mlflow", "mlflow", minimal, extra)
    assert result.returncode == 0, result.stderr
    images = re.findall(r"image: \"?([^\"\s]+)", result.stdout)
    assert len(images) >= 4  # server, db upgrade, auth bootstrap, helm test
    assert all(i == f"ghcr.io/mlflow/mlflow@{digest}" for i in images), images


def test_mlflow_minimal_is_one_replica_without_pdb(rendered: Rendered_) -> None:
    item = rendered["mlflow", "minimal"]
    assert item.one("Deployment")["spec"]["replicas"] == 1
    assert item.of_kind("PodDisruptionBudget") == []
    assert item.of_kind("Ingress") == []


# --- model-serving ----------------------------------------------------------------------


def test_inference_services_follow_the_values(rendered: Rendered_) -> None:
    for profile in ("minimal", "production"):
        item = rendered["model-serving", profile]
        models = _values("model-serving", profile)["models"]
        services = {o["metadata"]["name"]: o for o in item.of_kind("InferenceService")}
        assert sorted(services) == sorted(m["name"] for m in models)
        for model in models:
            isvc = services[model["name"]]
            annotations = isvc["metadata"]["annotations"]
            assert annotations["serving.kserve.io/deploymentMode"] == "Knative"
            assert annotations["slipway.io/model-name"] == model["name"]
            assert annotations["slipway.io/model-version"] == model["modelVersion"]
            assert annotations["slipway.io/run-id"] == model["runId"]
            predictor = isvc["spec"]["predictor"]
            assert predictor.get("canaryTrafficPercent") == model.get("canaryTrafficPercent")
            assert predictor["serviceAccountName"] == "kserve-predictor"


def test_canary_zero_is_rendered_not_dropped(rendered: Rendered_) -> None:
    item = rendered["model-serving", "production"]
    isvc = item.one("InferenceService", "image-embedder")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_predictor_runs_slipway_serve(rendered: Rendered_) -> None:
    item = rendered["model-serving", "minimal"]
    container = item.one("InferenceService")["spec"]["predictor"]["containers"][0]
    assert container["image"] == "ghcr.io/slipway-ml/slipway-predictor:0.1.0"
    # the image's entrypoint is `python -m slipway.serving`
    assert container["args"] == [
        "--model-dir",
        "/mnt/models",
        "--model-name",
        "churn-classifier",
        "--http-port",
        "8080",
    ]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    # storageUri goes through tpl: the bucket comes from values, not from git
    assert _env(container)["STORAGE_URI"] == "s3://example-artifacts/models/churn-classifier/1"


PAYLOAD_ENV = (
    "SLIPWAY_MONITORING__PAYLOADS__SAMPLE_RATE",
    "SLIPWAY_MONITORING__PAYLOADS__UPLOAD_URI",
)


def _predictor_envs(item: Rendered) -> dict[str, dict[str, Any]]:
    """Each slipway predictor's env by model (KServe runtime models have no containers)."""
    return {
        o["metadata"]["name"]: _env(o["spec"]["predictor"]["containers"][0])
        for o in item.of_kind("InferenceService")
        if "containers" in o["spec"]["predictor"]
    }


def test_predictors_record_payloads_when_a_bucket_is_set(rendered: Rendered_) -> None:
    """With `payloads.bucket`, every slipway predictor samples what it serves to the bucket's
    prefix, in the variables slipway's own settings read (the same URI as the drift step's)."""
    envs = _predictor_envs(rendered["model-serving", "production"])
    assert set(envs) == {"churn-classifier", "image-embedder"}
    for env in envs.values():
        assert env["SLIPWAY_MONITORING__PAYLOADS__SAMPLE_RATE"] == "0.05"
        assert env["SLIPWAY_MONITORING__PAYLOADS__UPLOAD_URI"] == (
            "s3://example-prod-datasets/payloads"
        )
        assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
        with step_environment({k: env[k] for k in PAYLOAD_ENV}):
            payloads = load_settings().monitoring.payloads
        assert payloads.sample_rate == 0.05
        assert payloads.upload_uri == "s3://example-prod-datasets/payloads"


def test_predictors_record_nothing_without_a_bucket(rendered: Rendered_) -> None:
    envs = _predictor_envs(rendered["model-serving", "minimal"])
    assert envs
    for env in envs.values():
        assert not set(PAYLOAD_ENV) & set(env), env


def test_a_zero_sample_rate_turns_recording_off_and_the_prefix_is_kept(
    built_charts: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "off.yaml"
    extra.write_text(yaml.safe_dump({"payloads": {"bucket": "example-datasets", "sampleRate": 0}}))
    minimal = CHARTS / "model-serving" / "ci" / "minimal-values.yaml"
    result = render(built_charts / "model-serving", "model-serving", minimal, extra)
    assert result.returncode == 0, result.stderr
    assert "SLIPWAY_MONITORING__PAYLOADS" not in result.stdout
    extra.write_text(
        yaml.safe_dump({"payloads": {"bucket": "example-datasets", "prefix": "served/v1"}})
    )
    result = render(built_charts / "model-serving", "model-serving", minimal, extra)
    assert result.returncode == 0, result.stderr
    assert 'value: "s3://example-datasets/served/v1"' in result.stdout


def test_the_drift_step_reads_the_predictors_payload_prefix(rendered: Rendered_) -> None:
    """The slipway-platform ConfigMap (the drift step's envFrom) names the URI the predictors
    upload to: the same bucket and the model-serving chart's own prefix."""
    serving = yaml.safe_load((CHARTS / "model-serving" / "values.yaml").read_text())
    for profile in ("minimal", "production"):
        data = rendered["ml-workflows", profile].one("ConfigMap", "slipway-platform")["data"]
        bucket = _values("ml-workflows", profile)["platform"]["datasetsBucket"]
        uri = data["SLIPWAY_MONITORING__PAYLOADS__UPLOAD_URI"]
        assert uri == f"s3://{bucket}/{serving['payloads']['prefix']}"
        with step_environment({"SLIPWAY_MONITORING__PAYLOADS__UPLOAD_URI": uri}):
            assert load_settings().monitoring.payloads.upload_uri == uri


def test_no_datasets_bucket_no_payload_uri(built_charts: Path, tmp_path: Path) -> None:
    extra = tmp_path / "no-bucket.yaml"
    extra.write_text(yaml.safe_dump({"platform": {"datasetsBucket": ""}}))
    minimal = CHARTS / "ml-workflows" / "ci" / "minimal-values.yaml"
    result = render(built_charts / "ml-workflows", "ml-workflows", minimal, extra)
    assert result.returncode == 0, result.stderr
    assert "SLIPWAY_DATASETS_BUCKET" in result.stdout
    assert "SLIPWAY_MONITORING__PAYLOADS__UPLOAD_URI" not in result.stdout


def test_gpu_model_gets_gpu_toleration_and_node_selector(rendered: Rendered_) -> None:
    item = rendered["model-serving", "production"]
    gpu = item.one("InferenceService", "image-embedder")["spec"]["predictor"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in (gpu["tolerations"])
    assert gpu["nodeSelector"] == {"slipway.io/node-pool": "gpu"}
    cpu = item.one("InferenceService", "churn-classifier")["spec"]["predictor"]
    assert "tolerations" not in cpu
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"]


def test_runtime_model_uses_the_kserve_model_spec(rendered: Rendered_) -> None:
    item = rendered["model-serving", "production"]
    predictor = item.one("InferenceService", "fraud-sklearn")["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    assert predictor["model"]["storageUri"].startswith("s3://")
    assert "containers" not in predictor


def test_serving_monitoring_per_model(rendered: Rendered_) -> None:
    item = rendered["model-serving", "production"]
    models = [m["name"] for m in _values("model-serving", "production")["models"]]
    rule = item.one("PrometheusRule")
    assert [g["name"] for g in rule["spec"]["groups"]] == [f"slipway-model-{m}" for m in models]
    monitor = item.one("PodMonitor")
    assert monitor["spec"]["selector"]["matchExpressions"][0]["values"] == models
    assert "slipway.io/model-version" in monitor["spec"]["podTargetLabels"]
    assert [o["metadata"]["name"] for o in item.of_kind("PodDisruptionBudget")] == [
        "churn-classifier-predictor"
    ]


def test_no_models_renders_only_the_service_account(rendered: Rendered_) -> None:
    item = rendered["model-serving", "no-models"]
    assert [o["kind"] for o in item.objects] == ["ServiceAccount"]


# --- ml-workflows -----------------------------------------------------------------------


def test_workflow_rbac_is_least_privilege(rendered: Rendered_) -> None:
    item = rendered["ml-workflows", "production"]
    roles = {o["metadata"]["name"]: o for o in item.of_kind("Role")}
    assert item.of_kind("ClusterRole") == [] and item.of_kind("ClusterRoleBinding") == []
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "secrets" not in rule["resources"]
            dangerous = {"delete", "deletecollection", "escalate", "bind"} & set(rule["verbs"])
            # The one delete: the shadow phase's own InferenceServices, by name.
            if dangerous == {"delete"} and rule["resources"] == ["inferenceservices"]:
                assert rule["resourceNames"] == ["churn-classifier-shadow"]
                continue
            assert not dangerous, rule
    serving = [
        r for r in roles.values() if any("inferenceservices" in x["resources"] for x in r["rules"])
    ]
    assert len(serving) == 1
    assert serving[0]["metadata"]["namespace"] == "model-serving"
    assert "patch" in serving[0]["rules"][0]["verbs"]
    # the rollout's account (ml-rollout, which the canary and exit-handler templates run as)
    # alone may patch InferenceServices; both accounts report their step results
    workflows = {"kind": "ServiceAccount", "name": "ml-workflows", "namespace": "ml-workflows"}
    rollout = {"kind": "ServiceAccount", "name": "ml-rollout", "namespace": "ml-workflows"}
    bindings = {b["roleRef"]["name"]: b["subjects"] for b in item.of_kind("RoleBinding")}
    assert bindings == {
        next(n for n in roles if n.endswith("-executor")): [workflows, rollout],
        serving[0]["metadata"]["name"]: [rollout],
    }
    assert "annotations" not in item.one("ServiceAccount", "ml-rollout")["metadata"]


def test_artifact_repository_uses_irsa_not_keys(rendered: Rendered_) -> None:
    item = rendered["ml-workflows", "production"]
    config = item.one("ConfigMap", "artifact-repositories")
    repository = yaml.safe_load(config["data"]["default-v1-s3-artifact-repository"])["s3"]
    assert repository["useSDKCreds"] is True
    assert repository["bucket"] == "example-prod-artifacts"
    assert not {"accessKeySecret", "secretKeySecret"} & set(repository)
    annotation = config["metadata"]["annotations"][
        "workflows.argoproj.io/default-artifact-repository"
    ]
    assert annotation in config["data"]


def test_workflow_secrets_come_from_external_secrets(rendered: Rendered_) -> None:
    names = {
        o["metadata"]["name"]
        for o in rendered["ml-workflows", "production"].of_kind("ExternalSecret")
    }
    assert names == {"git-token", "mlflow-pipeline-credentials", "mlflow-rollout-credentials"}
    account = rendered["ml-workflows", "production"].one("ServiceAccount", "ml-workflows")
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]


@pytest.mark.parametrize("profile", ["minimal", "production"])
def test_pipeline_and_rollout_mlflow_users_come_from_separate_stores(
    rendered: Rendered_, profile: str
) -> None:
    """The pipeline's MLflow user through the namespace's store, the rollout's (it moves
    `champion`) through the rollout's own store, whose IRSA role reads only that secret."""
    item = rendered["ml-workflows", profile]
    values = _values("ml-workflows", profile)["mlflowCredentials"]
    stores = {o["metadata"]["name"]: o for o in item.of_kind("SecretStore")}
    assert set(stores) == {"aws-secrets-manager", "aws-secrets-manager-rollout"}
    expected = {
        "mlflow-pipeline-credentials": ("aws-secrets-manager", values["pipeline"]["secretName"]),
        "mlflow-rollout-credentials": (
            "aws-secrets-manager-rollout",
            values["rollout"]["secretName"],
        ),
    }
    for name, (store, remote) in expected.items():
        spec = item.one("ExternalSecret", name)["spec"]
        assert spec["secretStoreRef"] == {"kind": "SecretStore", "name": store}
        assert [d["secretKey"] for d in spec["data"]] == [
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
        ]
        assert {d["remoteRef"]["key"] for d in spec["data"]} == {remote}
    rollout_store = stores["aws-secrets-manager-rollout"]["spec"]["provider"]["aws"]
    reader = rollout_store["auth"]["jwt"]["serviceAccountRef"]["name"]
    assert reader == "rollout-secrets-reader"
    assert item.one("ServiceAccount", reader)
    # no other ExternalSecret reads through the rollout's store
    readers = [
        o["metadata"]["name"]
        for o in item.of_kind("ExternalSecret")
        if o["spec"]["secretStoreRef"]["name"] == "aws-secrets-manager-rollout"
    ]
    assert readers == ["mlflow-rollout-credentials"]


def test_chart_installs_each_rendered_workflow_in_the_release_namespace(
    rendered: Rendered_,
) -> None:
    """One object per file of files/workflows/ (the rendered YAML's one copy), unchanged
    but for the namespace, the chart's labels and the steps' image (see below)."""
    files = {}
    for path in sorted((CHARTS / "ml-workflows" / "files" / "workflows").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        files[obj["metadata"]["name"]] = obj
    assert {o["kind"] for o in files.values()} == {"WorkflowTemplate", "CronWorkflow"}
    for profile in ("minimal", "production"):
        item = rendered["ml-workflows", profile]
        installed = item.of_kind("WorkflowTemplate") + item.of_kind("CronWorkflow")
        assert sorted(o["metadata"]["name"] for o in installed) == sorted(files), item.name
        for obj in installed:
            source = files[obj["metadata"]["name"]]
            assert (obj["apiVersion"], obj["kind"]) == (source["apiVersion"], source["kind"])
            assert _without_images(obj["spec"]) == _without_images(source["spec"])
            assert obj["metadata"]["namespace"] == "ml-workflows"
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == "ml-workflows"
            assert labels["app.kubernetes.io/part-of"] == "slipway"


def _templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"].get("workflowSpec", obj["spec"])
    return list(spec["templates"])


def _without_images(spec: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = yaml.safe_load(yaml.safe_dump(spec))
    for template in copy.get("workflowSpec", copy)["templates"]:
        for key in ("script", "container"):
            if key in template:
                template[key].pop("image", None)
    return copy


def _step_images(item: Rendered) -> dict[str, str]:
    return {
        f"{obj['metadata']['name']}/{t['name']}": t["script"]["image"]
        for obj in item.of_kind("WorkflowTemplate") + item.of_kind("CronWorkflow")
        for t in _templates(obj)
        if "script" in t
    }


def test_workflow_steps_run_the_images_of_the_values(
    rendered: Rendered_, built_charts: Path, tmp_path: Path
) -> None:
    """Hera renders the trainer's release tag; the chart puts `image` (or `gpuImage` on the
    GPU node pool) in its place, by digest once argocd/values/ sets one."""
    default = _step_images(rendered["ml-workflows", "minimal"])
    gpu = {"slipway-train-and-promote/train"}
    assert {k for k, v in default.items() if "slipway-trainer-cuda:" in v} == gpu
    assert {v for k, v in default.items() if k not in gpu} == {
        "ghcr.io/slipway-ml/slipway-trainer:0.1.0"
    }
    digest, gpu_digest = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    values = tmp_path / "digests.yaml"
    values.write_text(
        yaml.safe_dump({"image": {"digest": digest}, "gpuImage": {"digest": gpu_digest}})
    )
    done = render(
        built_charts / "ml-workflows", "ml-workflows",
        CHARTS / "ml-workflows" / "ci" / "minimal-values.yaml", values,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    item = Rendered("ml-workflows", "digests", "ml-workflows", done.stdout, objects)
    pinned = _step_images(item)
    assert set(pinned) == set(default)
    for step, image in pinned.items():
        wanted = (
            f"ghcr.io/slipway-ml/slipway-trainer-cuda@{gpu_digest}"
            if step in gpu
            else f"ghcr.io/slipway-ml/slipway-trainer@{digest}"
        )
        assert image == wanted, step


# --- platform-monitoring ----------------------------------------------------------------


def test_dashboards_carry_the_grafana_sidecar_label(rendered: Rendered_) -> None:
    item = rendered["platform-monitoring", "minimal"]
    dashboards = item.of_kind("ConfigMap")
    assert len(dashboards) == len(
        list((CHARTS / "platform-monitoring/files/dashboards").glob("*.json"))
    )
    for config in dashboards:
        assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert item.of_kind("PrometheusRule")
    assert rendered["platform-monitoring", "disabled"].objects == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_rendered_rules_pass_promtool(rendered: Rendered_, tmp_path: Path) -> None:
    rules = [
        rule
        for key in (("model-serving", "production"), ("platform-monitoring", "production"))
        for rule in rendered[key].of_kind("PrometheusRule")
    ]
    assert rules
    for i, rule in enumerate(rules):
        path = tmp_path / f"rules-{i}.yaml"
        path.write_text(yaml.safe_dump(rule["spec"]))
        result = subprocess.run(
            ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


# --- lockdown: per-namespace secret stores, cluster-local predictors, Grafana's admin ----


def store_errors(objects: list[dict[str, Any]]) -> list[str]:
    """Every ExternalSecret reads through a SecretStore of its own namespace that this render
    creates, authenticating as a ServiceAccount of that namespace; no ClusterSecretStore."""
    stores = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "SecretStore"
    }
    accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    errors = [
        f"ClusterSecretStore {o['metadata']['name']}"
        for o in objects
        if o["kind"] == "ClusterSecretStore"
    ]
    for obj in objects:
        if obj["kind"] != "ExternalSecret":
            continue
        ref, namespace = obj["spec"]["secretStoreRef"], obj["metadata"]["namespace"]
        name = obj["metadata"]["name"]
        if ref.get("kind") != "SecretStore":
            errors.append(f"{name}: reads through a {ref.get('kind')}")
        store = stores.get((namespace, ref["name"]))
        if store is None:
            errors.append(f"{name}: no SecretStore {ref['name']} in {namespace}")
            continue
        account = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]
        if "namespace" in account or (namespace, account["name"]) not in accounts:
            errors.append(f"{name}: the store's identity is not a ServiceAccount of {namespace}")
    return errors


@pytest.mark.parametrize("chart", ["mlflow", "ml-workflows", "platform-monitoring"])
def test_secrets_are_read_through_the_namespace_store(rendered: Rendered_, chart: str) -> None:
    item = rendered[chart, "production"]
    assert item.of_kind("ExternalSecret")
    assert store_errors(item.objects) == []
    store = item.one("SecretStore", "aws-secrets-manager")
    account = item.one("ServiceAccount", "secrets-reader")
    role = _values(chart, "production")["secretStore"]["roleArn"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    assert store["spec"]["provider"]["aws"]["region"] == "eu-west-1"


def test_the_store_check_catches_a_cluster_store(rendered: Rendered_) -> None:
    objects = [dict(o) for o in rendered["ml-workflows", "production"].objects]
    wide = []
    for obj in objects:
        if obj["kind"] == "ExternalSecret":
            obj = {
                **obj,
                "spec": {
                    **obj["spec"],
                    "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"},
                },
            }
        wide.append(obj)
    errors = store_errors(wide)
    assert any("reads through a ClusterSecretStore" in e for e in errors)
    no_store = [o for o in objects if o["kind"] != "SecretStore"]
    assert any("no SecretStore" in e for e in store_errors(no_store))


def test_mlflow_store_exists_before_its_external_secret(rendered: Rendered_) -> None:
    item = rendered["mlflow", "minimal"]
    store = item.one("SecretStore")["metadata"]["annotations"]
    secret = item.one("ExternalSecret", "mlflow-server")["metadata"]["annotations"]
    assert store["helm.sh/hook"] == secret["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(store["helm.sh/hook-weight"]) < int(secret["helm.sh/hook-weight"])


VISIBILITY = "networking.knative.dev/visibility"


def test_predictors_are_cluster_local_by_default(rendered: Rendered_) -> None:
    for profile in ("minimal", "production"):
        services = rendered["model-serving", profile].of_kind("InferenceService")
        assert services, profile
        for service in services:
            assert service["metadata"]["labels"][VISIBILITY] == "cluster-local", profile


def test_exposed_predictors_carry_their_auth_mode(rendered: Rendered_) -> None:
    services = rendered["model-serving", "exposed"].of_kind("InferenceService")
    assert services
    for service in services:
        assert VISIBILITY not in service["metadata"]["labels"]
        assert service["metadata"]["annotations"]["slipway.io/auth-mode"] == "jwt"


def test_grafana_admin_secret_comes_from_the_store(rendered: Rendered_) -> None:
    item = rendered["platform-monitoring", "production"]
    secret = item.one("ExternalSecret", "grafana-admin")
    assert secret["spec"]["target"]["name"] == "grafana-admin"
    keys = {d["secretKey"]: d["remoteRef"] for d in secret["spec"]["data"]}
    assert set(keys) == {"admin-user", "admin-password"}
    assert {r["key"] for r in keys.values()} == {"slipway/prod/grafana/admin"}
