"""What the Terraform builds: read from the parsed code, the way a reviewer would check it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tf_helpers import (
    ENVS_DIR,
    MODULES_DIR,
    REPO_ROOT,
    ROOT_DIR,
    Config,
    env_names,
    expression,
    load_config,
    parse_file,
    strings,
    unquote,
)

ANNOTATION_KEYS = {
    "slipway.io/aws-region",
    "slipway.io/artifacts-bucket",
    "slipway.io/datasets-bucket",
    "slipway.io/mlflow-role-arn",
    "slipway.io/workflows-role-arn",
    "slipway.io/kserve-role-arn",
    "slipway.io/mlflow-db-secret-name",
    "slipway.io/mlflow-flask-secret-name",
    "slipway.io/git-token-secret-name",
    "slipway.io/grafana-admin-secret-name",
    "slipway.io/cluster-name",
    "slipway.io/cluster-autoscaler-role-arn",
    "slipway.io/mlflow-secrets-role-arn",
    "slipway.io/workflows-secrets-role-arn",
    "slipway.io/monitoring-secrets-role-arn",
    "slipway.io/rollout-secrets-role-arn",
    "slipway.io/mlflow-admin-secret-name",
    "slipway.io/mlflow-pipeline-secret-name",
    "slipway.io/mlflow-rollout-secret-name",
    "slipway.io/mlflow-metrics-secret-name",
    "slipway.io/environment",
}

SERVICE_ACCOUNTS = {
    "mlflow": ("mlflow", "mlflow"),
    "workflows": ("ml-workflows", "ml-workflows"),
    "kserve": ("model-serving", "kserve-predictor"),
    "cluster_autoscaler": ("kube-system", "cluster-autoscaler"),
    "mlflow_secrets": ("mlflow", "secrets-reader"),
    "workflows_secrets": ("ml-workflows", "secrets-reader"),
    "monitoring_secrets": ("monitoring", "secrets-reader"),
    "rollout_secrets": ("ml-workflows", "rollout-secrets-reader"),
}


def module(name: str) -> Config:
    return load_config(MODULES_DIR / name)


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a parsed body."""
    blocks = body.get(name)
    assert isinstance(blocks, list), f"no {name} block"
    assert len(blocks) == 1, f"expected one {name} block"
    return dict(blocks[0])


def tfvars(env: str) -> dict[str, Any]:
    return parse_file(ENVS_DIR / f"{env}.tfvars")


def keys(mapping: dict[str, Any]) -> set[str]:
    return {unquote(k) for k in mapping}


################################################################################
# gpu-cluster
################################################################################


NODE_GROUP = "gpu-cluster/modules/node-group"


def node_group_calls() -> dict[str, dict[str, Any]]:
    """gpu-cluster's calls of its node-group submodule, by name."""
    calls = module("gpu-cluster").modules
    assert {unquote(c["source"]) for c in calls.values()} == {"./modules/node-group"}
    return calls


def test_every_node_group_comes_from_the_submodule() -> None:
    config = module("gpu-cluster")
    assert set(node_group_calls()) == {"system_node_group", "gpu_node_group"}
    assert expression(node_group_calls()["gpu_node_group"]["for_each"]) == "var.gpu_node_groups"
    assert not {
        rtype
        for rtype, _ in config.resources
        if rtype in {"aws_eks_node_group", "aws_launch_template"}
    }, "node groups and launch templates live in the submodule only"
    submodule = module(NODE_GROUP)
    assert set(submodule.resources) == {
        ("aws_eks_node_group", "this"),
        ("aws_launch_template", "this"),
    }


def test_gpu_node_groups_scale_from_zero_to_their_cap() -> None:
    gpu = node_group_calls()["gpu_node_group"]
    assert gpu["min_size"] == 0
    assert gpu["desired_size"] == 0
    assert expression(gpu["max_size"]) == "each.value.max_size"
    node_group = module(NODE_GROUP).resources[("aws_eks_node_group", "this")]
    scaling = block(node_group, "scaling_config")
    assert {k: expression(v) for k, v in scaling.items()} == {
        "min_size": "var.min_size",
        "desired_size": "var.desired_size",
        "max_size": "var.max_size",
    }
    ignored = str(block(node_group, "lifecycle")["ignore_changes"])
    assert "desired_size" in ignored, "the autoscaler owns the current size"


def test_gpu_node_groups_get_their_settings_from_gpu_node_groups() -> None:
    gpu = node_group_calls()["gpu_node_group"]
    for name in ("ami_type", "capacity_type", "instance_types", "disk_size_gb"):
        assert expression(gpu[name]) == f"each.value.{name}"
    assert unquote(gpu["name"]) == "gpu-${each.key}"


def test_gpu_node_groups_are_tainted_and_labelled() -> None:
    config = module("gpu-cluster")
    gpu = node_group_calls()["gpu_node_group"]
    assert [expression(t) for t in gpu["taints"]] == ["local.gpu_taint"]
    taint = config.locals["gpu_taint"]
    assert (unquote(taint["key"]), unquote(taint["value"]), unquote(taint["effect"])) == (
        "nvidia.com/gpu",
        "true",
        "NO_SCHEDULE",
    )
    assert expression(gpu["labels"]) == "local.gpu_labels[each.key]"
    assert {unquote(k): unquote(v) for k, v in config.locals["gpu_pool_label"].items()} == {
        "slipway.io/node-pool": "gpu"
    }
    labels = expression(config.locals["gpu_labels"])
    assert "local.gpu_pool_label" in labels
    assert labels.index("g.labels") < labels.index("local.gpu_pool_label"), (
        "users cannot override the pool label"
    )


def test_the_submodule_sets_every_taint_and_label_it_is_given() -> None:
    node_group = module(NODE_GROUP).resources[("aws_eks_node_group", "this")]
    assert expression(node_group["labels"]) == "var.labels"
    dynamic = {unquote(k): v for d in node_group["dynamic"] for k, v in d.items()}
    taint = dynamic["taint"]
    assert expression(taint["for_each"]) == "var.taints"
    assert {k: expression(v) for k, v in taint["content"][0].items()} == {
        "key": "taint.value.key",
        "value": "taint.value.value",
        "effect": "taint.value.effect",
    }


def test_system_node_group_is_untainted_and_labelled_system() -> None:
    system = node_group_calls()["system_node_group"]
    assert "taints" not in system
    assert {unquote(k): unquote(v) for k, v in system["labels"].items()} == {
        "slipway.io/node-pool": "system"
    }
    assert unquote(system["ami_type"]) == "AL2023_x86_64_STANDARD"
    for name in ("instance_types", "min_size", "max_size", "desired_size", "disk_size_gb"):
        assert expression(system[name]) == f"var.system_node_group.{name}"


def test_state_moves_to_the_submodule() -> None:
    """Existing clusters keep their node groups: every old address moves to the submodule's."""
    assert module("gpu-cluster").moves == [
        ("aws_launch_template.system", "module.system_node_group.aws_launch_template.this"),
        ("aws_eks_node_group.system", "module.system_node_group.aws_eks_node_group.this"),
    ]
    moves = load_config(ROOT_DIR).moves
    expected = [
        (
            f'module.gpu_cluster.{rtype}.gpu["{key}"]',
            f'module.gpu_cluster.module.gpu_node_group["{key}"].{rtype}.this',
        )
        for key in ("a10g", "l40s")  # every GPU group dev and prod had before the move
        for rtype in ("aws_launch_template", "aws_eks_node_group")
    ]
    assert moves == expected


def test_gpu_cap_is_required_and_bounded() -> None:
    variable = module("gpu-cluster").variables["gpu_node_groups"]
    assert "default" not in variable
    assert "max_size = number" in str(variable["type"])
    conditions = [str(v["condition"]) for v in variable["validation"]]
    assert any("g.max_size >= 1" in c and "g.max_size <= 64" in c for c in conditions)


def test_autoscaler_can_scale_gpu_groups_up_from_zero() -> None:
    config = module("gpu-cluster")
    assert ("aws_autoscaling_group_tag", "gpu_node_template") in config.resources
    template = " ".join(strings(config.locals["gpu_asg_tags"]))
    assert "k8s.io/cluster-autoscaler/node-template/taint/" in template
    assert "k8s.io/cluster-autoscaler/node-template/label/" in template
    assert "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" in template


def vpc_cni_configuration(config: Config) -> dict[str, Any]:
    """The configuration the vpc-cni add-on is created with (decoded from jsonencode)."""
    addon = config.resources[("aws_eks_addon", "this")]
    assert expression(addon["addon_name"]) == "each.key"
    assert "jsonencode(each.value)" in expression(addon["configuration_values"])
    addons = {unquote(k): v for k, v in config.locals["addon_configuration"].items()}
    assert set(addons) >= {"vpc-cni", "kube-proxy", "coredns"}
    vpc_cni = addons["vpc-cni"]
    return {unquote(k): v for k, v in vpc_cni.items()} if isinstance(vpc_cni, dict) else {}


def test_vpc_cni_enforces_network_policies() -> None:
    configuration = vpc_cni_configuration(module("gpu-cluster"))
    assert unquote(configuration.get("enableNetworkPolicy")) == "true"


def test_the_cni_check_fails_without_network_policy_support(tmp_path: Path) -> None:
    text = (MODULES_DIR / "gpu-cluster" / "main.tf").read_text(encoding="utf-8")
    disabled = text.replace('enableNetworkPolicy = "true"', 'enableNetworkPolicy = "false"')
    assert disabled != text
    (tmp_path / "main.tf").write_text(disabled, encoding="utf-8")
    configuration = vpc_cni_configuration(load_config(tmp_path))
    assert unquote(configuration["enableNetworkPolicy"]) != "true"


def test_cluster_logs_encrypts_secrets_and_supports_irsa() -> None:
    config = module("gpu-cluster")
    cluster = config.resources[("aws_eks_cluster", "this")]
    assert expression(cluster["enabled_cluster_log_types"]) == "var.control_plane_log_types"
    assert [unquote(t) for t in config.variables["control_plane_log_types"]["default"]] == [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]
    encryption = block(cluster, "encryption_config")
    assert [unquote(r) for r in encryption["resources"]] == ["secrets"]
    assert expression(block(encryption, "provider")["key_arn"]) == "var.kms_key_arn"
    oidc = config.resources[("aws_iam_openid_connect_provider", "this")]
    assert [unquote(c) for c in oidc["client_id_list"]] == ["sts.amazonaws.com"]
    log_group = config.resources[("aws_cloudwatch_log_group", "cluster")]
    assert expression(log_group["kms_key_id"]) == "var.kms_key_arn"


def test_api_endpoint_is_private_by_default_and_never_open_to_the_world() -> None:
    config = module("gpu-cluster")
    vpc = block(config.resources[("aws_eks_cluster", "this")], "vpc_config")
    assert vpc["endpoint_private_access"] is True
    assert config.variables["endpoint_public_access"]["default"] is False
    validation = str(config.variables["endpoint_public_access_cidrs"]["validation"])
    assert "0.0.0.0/0" in validation
    precondition = str(
        block(config.resources[("aws_eks_cluster", "this")], "lifecycle")["precondition"]
    )
    assert "length(var.endpoint_public_access_cidrs) > 0" in precondition


def test_nodes_require_imdsv2_and_encrypt_their_disks() -> None:
    template = module(NODE_GROUP).resources[("aws_launch_template", "this")]
    metadata = block(template, "metadata_options")
    assert unquote(metadata["http_tokens"]) == "required"
    assert metadata["http_put_response_hop_limit"] == 1
    assert block(block(template, "block_device_mappings"), "ebs")["encrypted"] is True
    node_group = module(NODE_GROUP).resources[("aws_eks_node_group", "this")]
    launch_template = block(node_group, "launch_template")
    assert expression(launch_template["id"]) == "aws_launch_template.this.id"


################################################################################
# object-storage
################################################################################


def test_data_buckets_are_versioned_kms_encrypted_private_and_logged() -> None:
    config = module("object-storage")
    assert set(keys(config.locals["data_buckets"])) == {"datasets", "artifacts"}
    versioning = block(
        config.resources[("aws_s3_bucket_versioning", "data")], "versioning_configuration"
    )
    assert unquote(versioning["status"]) == "Enabled"
    sse = block(
        block(
            config.resources[("aws_s3_bucket_server_side_encryption_configuration", "data")], "rule"
        ),
        "apply_server_side_encryption_by_default",
    )
    assert unquote(sse["sse_algorithm"]) == "aws:kms"
    assert expression(sse["kms_master_key_id"]) == "var.kms_key_arn"
    pab = config.resources[("aws_s3_bucket_public_access_block", "data")]
    assert all(
        pab[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    logging = config.resources[("aws_s3_bucket_logging", "data")]
    assert expression(logging["target_bucket"]) == "aws_s3_bucket.logs.id"
    ownership = block(config.resources[("aws_s3_bucket_ownership_controls", "data")], "rule")
    assert unquote(ownership["object_ownership"]) == "BucketOwnerEnforced"


def test_data_buckets_deny_requests_without_tls() -> None:
    document = module("object-storage").data[("aws_iam_policy_document", "data")]
    deny = [s for s in document["statement"] if unquote(s.get("effect")) == "Deny"]
    conditions = [block(s, "condition") for s in deny]
    assert any(
        unquote(c["variable"]) == "aws:SecureTransport"
        and [unquote(v) for v in c["values"]] == ["false"]
        for c in conditions
    )
    assert module("object-storage").resources[("aws_s3_bucket_policy", "data")]


def test_data_buckets_have_lifecycle_rules() -> None:
    rules = module("object-storage").resources[("aws_s3_bucket_lifecycle_configuration", "data")][
        "rule"
    ]
    ids = {unquote(r["id"]) for r in rules}
    assert ids == {
        "abort-incomplete-multipart-uploads",
        "expire-noncurrent-versions",
        "transition-to-infrequent-access",
    }
    assert all(unquote(r["status"]) == "Enabled" for r in rules)


################################################################################
# secrets and mlflow-db
################################################################################


def test_kms_key_rotates_and_secrets_use_it() -> None:
    config = module("secrets")
    key = config.resources[("aws_kms_key", "this")]
    assert key["enable_key_rotation"] is True
    secrets = [
        body
        for (rtype, _), body in config.resources.items()
        if rtype == "aws_secretsmanager_secret"
    ]
    assert len(secrets) == 5  # db, flask, grafana, git token; the MLflow users (for_each)
    assert all(expression(s["kms_key_id"]) == "aws_kms_key.this.arn" for s in secrets)


def test_generated_credentials_come_from_random_password() -> None:
    config = module("secrets")
    assert {name for rtype, name in config.resources if rtype == "random_password"} == {
        "mlflow_db",
        "mlflow_flask",
        "grafana_admin",
        "mlflow_user",
    }
    users = config.resources[("aws_secretsmanager_secret_version", "mlflow_user")]
    assert "random_password.mlflow_user[each.key].result" in " ".join(strings(users))
    default = str(config.variables["mlflow_users"]["default"])
    assert all(role in default for role in ("admin", "pipeline", "rollout", "metrics"))
    db = " ".join(strings(config.resources[("aws_secretsmanager_secret_version", "mlflow_db")]))
    assert "random_password.mlflow_db.result" in db
    grafana = config.resources[("aws_secretsmanager_secret_version", "grafana_admin")]
    assert "random_password.grafana_admin.result" in " ".join(strings(grafana))
    # The git token's value never passes through Terraform.
    assert ("aws_secretsmanager_secret_version", "git_token") not in config.resources


def test_database_is_encrypted_private_backed_up_and_switchable() -> None:
    config = module("mlflow-db")
    db = config.resources[("aws_db_instance", "this")]
    assert db["storage_encrypted"] is True
    assert db["publicly_accessible"] is False
    assert expression(db["kms_key_id"]) == "var.kms_key_arn"
    assert expression(db["multi_az"]) == "var.multi_az"
    assert expression(db["deletion_protection"]) == "var.deletion_protection"
    assert expression(db["backup_retention_period"]) == "var.backup_retention_days"
    assert db["skip_final_snapshot"] is False
    assert "backup_retention_days >= 1" in str(
        config.variables["backup_retention_days"]["validation"]
    )
    assert config.variables["password"]["sensitive"] is True
    parameters = {
        unquote(p["name"]): unquote(p["value"])
        for p in config.resources[("aws_db_parameter_group", "this")]["parameter"]
    }
    assert parameters["rds.force_ssl"] == "1"


################################################################################
# iam
################################################################################


def iam_documents() -> dict[str, dict[str, Any]]:
    config = module("iam")
    return {
        name: body
        for (rtype, name), body in config.data.items()
        if rtype == "aws_iam_policy_document" and name != "assume"
    }


def test_irsa_roles_trust_exactly_one_service_account_each() -> None:
    config = module("iam")
    type_text = str(config.variables["service_accounts"]["type"])
    for component, (namespace, name) in SERVICE_ACCOUNTS.items():
        default = re.escape(f'{{namespace = "{namespace}", name = "{name}"}}')
        shape = re.escape("optional(object({namespace = string, name = string}), ")
        pattern = rf"{component} = {shape}{default}\)"
        assert re.search(pattern, type_text), f"{component} should trust {namespace}/{name}"
    statement = block(config.data[("aws_iam_policy_document", "assume")], "statement")
    assert [unquote(a) for a in statement["actions"]] == ["sts:AssumeRoleWithWebIdentity"]
    conditions = {
        unquote(c["variable"]): [unquote(v) for v in c["values"]] for c in statement["condition"]
    }
    assert conditions == {
        "${var.oidc_issuer}:sub": [
            "system:serviceaccount:${each.value.namespace}:${each.value.name}"
        ],
        "${var.oidc_issuer}:aud": ["sts.amazonaws.com"],
    }
    assert all(unquote(c["test"]) == "StringEquals" for c in statement["condition"])


def test_iam_policies_name_exact_actions_on_exact_resources() -> None:
    documents = iam_documents()
    assert set(documents) == {"mlflow", "workflows", "kserve", "secrets", "cluster_autoscaler"}
    for name, document in documents.items():
        for statement in document["statement"]:
            actions = [unquote(a) for a in statement["actions"]]
            assert all("*" not in a for a in actions), f"{name}: wildcard action in {actions}"
            resources = [expression(unquote(r)) for r in strings(statement["resources"])]
            assert resources, f"{name}: statement without resources"
            if resources == ["*"]:
                # only calls that take no resource ARN: the autoscaler's discovery
                assert name == "cluster_autoscaler", f"{name}: wildcard resource"
                assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in actions)
                continue
            assert all("var." in r or "each.value" in r or "local." in r for r in resources), (
                f"{name}: resources must be the ARNs passed in: {resources}"
            )


def resources_of(document: dict[str, Any]) -> set[str]:
    return {expression(unquote(r)) for s in document["statement"] for r in strings(s["resources"])}


def actions_of(document: dict[str, Any]) -> set[str]:
    return {unquote(a) for s in document["statement"] for a in s["actions"]}


def test_mlflow_reaches_the_artifacts_bucket_only() -> None:
    document = iam_documents()["mlflow"]
    assert resources_of(document) == {
        "var.artifacts_bucket_arn",
        "${var.artifacts_bucket_arn}/*",
        "var.kms_key_arn",
    }


def test_workflows_read_datasets_write_artifacts_and_read_the_git_token() -> None:
    document = iam_documents()["workflows"]
    assert resources_of(document) == {
        "var.datasets_bucket_arn",
        "var.artifacts_bucket_arn",
        "${var.datasets_bucket_arn}/*",
        "${var.artifacts_bucket_arn}/*",
        "var.git_token_secret_arn",
        "var.kms_key_arn",
    }
    datasets = [
        s
        for s in document["statement"]
        if "${var.datasets_bucket_arn}/*" in resources_of({"statement": [s]})
    ]
    assert all(unquote(a).startswith(("s3:Get", "s3:List")) for s in datasets for a in s["actions"])


PAYLOADS = "${var.datasets_bucket_arn}/${var.payloads_prefix}/*"


def statements_on(document: dict[str, Any], resource: str) -> list[dict[str, Any]]:
    return [s for s in document["statement"] if resource in resources_of({"statement": [s]})]


def test_kserve_reads_artifacts_and_only_puts_payloads() -> None:
    document = iam_documents()["kserve"]
    assert resources_of(document) == {
        "var.artifacts_bucket_arn",
        "${var.artifacts_bucket_arn}/*",
        PAYLOADS,
        "var.kms_key_arn",
    }
    assert actions_of(document) == {
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    # the payload prefix: put only (no read back, no delete); nothing else of the datasets bucket
    assert [unquote(a) for s in statements_on(document, PAYLOADS) for a in s["actions"]] == [
        "s3:PutObject"
    ]
    for s in statements_on(document, "${var.artifacts_bucket_arn}/*"):
        assert {unquote(a) for a in s["actions"]} == {"s3:GetObject"}
    kms = statements_on(document, "var.kms_key_arn")
    assert all(unquote(c["variable"]) == "kms:ViaService" for s in kms for c in s["condition"])


def test_the_payload_prefix_is_the_charts_default() -> None:
    """The role's prefix and the one the predictors and the drift step use must agree."""
    variable = module("iam").variables["payloads_prefix"]
    root = Path(__file__).resolve().parents[2]
    serving = yaml.safe_load((root / "charts/model-serving/values.yaml").read_text())
    workflows = yaml.safe_load((root / "charts/ml-workflows/values.yaml").read_text())
    assert unquote(variable["default"]) == serving["payloads"]["prefix"]
    assert unquote(variable["default"]) == workflows["platform"]["payloadsPrefix"]


def test_workflows_may_read_the_served_payloads() -> None:
    """The drift step (the workflows role) reads the payloads: all of the datasets bucket."""
    document = iam_documents()["workflows"]
    reads = statements_on(document, "${var.datasets_bucket_arn}/*")
    assert "s3:GetObject" in {unquote(a) for s in reads for a in s["actions"]}
    lists = statements_on(document, "var.datasets_bucket_arn")
    assert "s3:ListBucket" in {unquote(a) for s in lists for a in s["actions"]}


def namespace_secret_arns(config: Config) -> dict[str, set[str]]:
    """The secrets each namespace's secret reader role may read, as Terraform expressions."""
    document = config.data[("aws_iam_policy_document", "secrets")]
    assert expression(document["for_each"]) == "local.namespace_secret_arns"
    read = [s for s in document["statement"] if unquote(s["sid"]) == "ReadNamespaceSecrets"]
    assert [expression(unquote(r)) for r in strings(read[0]["resources"])] == ["each.value"]
    out = {}
    for key, value in config.locals["namespace_secret_arns"].items():
        out[unquote(key)] = {expression(unquote(v)) for v in strings(value)}
    return out


def roles_by_account(config: Config) -> dict[tuple[str, str], str]:
    """Which service account (namespace, name) each secret reader role trusts (from the
    service_accounts defaults)."""
    type_text = str(config.variables["service_accounts"]["type"])
    out = {}
    for key in namespace_secret_arns(config):
        component = key.replace("-", "_")
        pattern = rf'{component} = optional\(.*?namespace = "([a-z-]+)", name = "([a-z-]+)"'
        match = re.search(pattern, type_text)
        assert match, key
        out[match.group(1), match.group(2)] = key
    return out


def test_each_namespace_store_reads_only_its_own_secrets() -> None:
    config = module("iam")
    arns = namespace_secret_arns(config)
    readers = roles_by_account(config)
    assert set(readers) == {
        ("mlflow", "secrets-reader"),
        ("ml-workflows", "secrets-reader"),
        ("ml-workflows", "rollout-secrets-reader"),
        ("monitoring", "secrets-reader"),
    }
    assert arns[readers["mlflow", "secrets-reader"]] == {"var.mlflow_secret_arns"}
    # the pipeline's store: the git token and the pipeline's MLflow identity, never the
    # rollout's (which moves `champion`): that one has its own reader
    assert arns[readers["ml-workflows", "secrets-reader"]] == {
        "var.git_token_secret_arn",
        "var.mlflow_pipeline_secret_arn",
    }
    assert arns[readers["ml-workflows", "rollout-secrets-reader"]] == {
        "var.mlflow_rollout_secret_arn"
    }
    assert arns[readers["monitoring", "secrets-reader"]] == {"var.grafana_admin_secret_arn"}
    document = config.data[("aws_iam_policy_document", "secrets")]
    assert not {
        a
        for a in actions_of(document)
        if not a.startswith(
            ("secretsmanager:Get", "secretsmanager:Describe", "secretsmanager:List", "kms:Decrypt")
        )
    }
    root = load_config(ROOT_DIR)
    assert expression(root.modules["iam"]["mlflow_secret_arns"]) == (
        "module.secrets.mlflow_secret_arns"
    )
    mlflow = " ".join(strings(module("secrets").outputs["mlflow_secret_arns"]["value"]))
    assert "mlflow_db" in mlflow and "mlflow_flask" in mlflow and "git_token" not in mlflow
    assert "mlflow_user" in mlflow  # the users the mlflow chart's bootstrap hook creates
    iam = root.modules["iam"]
    assert expression(iam["mlflow_pipeline_secret_arn"]) == (
        'module.secrets.mlflow_user_secret_arns["pipeline"]'
    )
    assert expression(iam["mlflow_rollout_secret_arn"]) == (
        'module.secrets.mlflow_user_secret_arns["rollout"]'
    )


def ml_workflows_can_read_the_database_secret(config: Config) -> bool:
    """Whether the role ml-workflows' SecretStore authenticates as may read the MLflow DB
    credentials (directly, or through the list that holds them)."""
    arns = namespace_secret_arns(config)
    readable = {
        a for (namespace, _), role in roles_by_account(config).items()
        if namespace == "ml-workflows" for a in arns[role]
    }  # fmt: skip
    return any("mlflow_secret_arns" in a or "mlflow_db" in a for a in readable)


def test_ml_workflows_store_cannot_read_the_database_secret(tmp_path: Path) -> None:
    assert not ml_workflows_can_read_the_database_secret(module("iam"))
    # the check fails on one wide reader, which is what the ClusterSecretStore's role was
    for path in (MODULES_DIR / "iam").glob("*.tf"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    main = tmp_path / "main.tf"
    text = main.read_text(encoding="utf-8")
    wide = text.replace(
        "workflows-secrets  = [var.git_token_secret_arn, var.mlflow_pipeline_secret_arn]",
        "workflows-secrets  = concat([var.git_token_secret_arn], var.mlflow_secret_arns)",
    )
    assert wide != text
    main.write_text(wide, encoding="utf-8")
    assert ml_workflows_can_read_the_database_secret(load_config(tmp_path))


def test_no_role_reads_every_platform_secret() -> None:
    config = module("iam")
    assert "external-secrets" not in str(config.locals["roles"])
    assert "platform_secret_arns" not in config.variables


def test_cluster_autoscaler_resizes_only_this_clusters_gpu_groups() -> None:
    config = module("iam")
    document = iam_documents()["cluster_autoscaler"]
    writes = [
        s
        for s in document["statement"]
        if any(not unquote(a).split(":")[1].startswith(("Describe", "Get")) for a in s["actions"])
    ]
    assert {unquote(a) for s in writes for a in s["actions"]} == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }
    for statement in writes:
        resources = [expression(unquote(r)) for r in strings(statement["resources"])]
        assert resources == ["local.gpu_autoscaling_group_arns"]
        condition = block(statement, "condition")
        assert unquote(condition["variable"]) == (
            "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
        )
        assert [unquote(v) for v in condition["values"]] == ["owned"]
    arns = " ".join(strings(config.locals["gpu_autoscaling_group_arns"]))
    assert "var.gpu_autoscaling_group_names" in arns and "autoScalingGroupName/" in arns
    root = load_config(ROOT_DIR)
    assert expression(root.modules["iam"]["gpu_autoscaling_group_names"]) == (
        "module.gpu_cluster.gpu_autoscaling_group_names"
    )


def test_kms_use_goes_through_the_service_only() -> None:
    for name, document in iam_documents().items():
        if name == "cluster_autoscaler":
            assert not any("kms:" in a for a in actions_of(document))
            continue
        kms = [
            s
            for s in document["statement"]
            if any(unquote(a).startswith("kms:") for a in s["actions"])
        ]
        assert kms, name
        for statement in kms:
            condition = block(statement, "condition")
            assert unquote(condition["variable"]) == "kms:ViaService", name


################################################################################
# gitops-bridge
################################################################################


def test_cluster_secret_publishes_exactly_the_agreed_annotations() -> None:
    config = module("gitops-bridge")
    annotations = expression(config.locals["annotations"])
    published = set(re.findall(r'"(slipway\.io/[a-z0-9-]+)"', annotations))
    assert published == ANNOTATION_KEYS
    assert annotations.startswith("merge(var.extra_annotations"), (
        "extra annotations must not override the contract"
    )
    secret = config.resources[("kubernetes_secret_v1", "cluster")]
    metadata = block(secret, "metadata")
    assert expression(metadata["annotations"]) == "local.annotations"
    labels = {unquote(k): v for k, v in config.locals["labels"].items()}
    assert unquote(labels["argocd.argoproj.io/secret-type"]) == "cluster"


def test_argocd_reads_only_published_annotations() -> None:
    """The other half of the contract: every slipway.io/ annotation argocd/ templates from the
    cluster Secret is one Terraform publishes."""
    argocd = REPO_ROOT / "argocd"
    if not argocd.is_dir():
        pytest.skip("argocd/ not present")
    used: set[str] = set()
    for path in argocd.rglob("*.yaml"):
        used.update(
            re.findall(
                r'annotations\s+"(slipway\.io/[a-z0-9-]+)"', path.read_text(encoding="utf-8")
            )
        )
        used.update(
            re.findall(
                r"metadata\.annotations\.(slipway\.io/[a-z0-9-]+)", path.read_text(encoding="utf-8")
            )
        )
    assert used <= ANNOTATION_KEYS, (
        f"argocd/ reads annotations Terraform does not publish: {sorted(used - ANNOTATION_KEYS)}"
    )


def test_argocd_chart_is_pinned_and_no_account_value_is_hard_coded() -> None:
    config = module("gitops-bridge")
    assert re.fullmatch(
        r"\d+\.\d+\.\d+", unquote(config.variables["argocd_chart_version"]["default"])
    )
    release = config.resources[("helm_release", "argocd")]
    assert expression(release["version"]) == "var.argocd_chart_version"
    values = dict(
        re.findall(
            r'"(slipway\.io/[a-z0-9-]+)"\s*=\s*var\.(\w+)', expression(config.locals["annotations"])
        )
    )
    assert set(values) == ANNOTATION_KEYS, "every annotation's value is an input of the module"
    for key, variable in values.items():
        assert "default" not in config.variables[variable], (
            f"{key}: var.{variable} must come from the caller"
        )


################################################################################
# Environments
################################################################################


def test_backend_is_s3_encrypted_locked_and_keyed_per_environment() -> None:
    """One root, one partial S3 backend: encryption and locking are set here for every
    environment; the key comes from envs/<env>.tfbackend, the bucket from the command line."""
    backends = load_config(ROOT_DIR).backends
    assert set(backends) == {"s3"}
    s3 = backends["s3"]
    assert s3["encrypt"] is True
    assert s3["use_lockfile"] is True
    assert "key" not in s3, "the state key is per environment: envs/<env>.tfbackend"
    assert "bucket" not in s3, "the state bucket is account-specific: pass it with -backend-config"
    assert "workspace_key_prefix" not in s3


def test_root_uses_no_workspaces() -> None:
    """Environments are separated by state key, never by `terraform.workspace`."""
    for path in sorted(ROOT_DIR.glob("*.tf")):
        assert "terraform.workspace" not in path.read_text(encoding="utf-8"), path.name


def test_prod_is_sized_and_protected_beyond_dev() -> None:
    dev, prod = tfvars("dev"), tfvars("prod")
    assert prod["db_multi_az"] is True
    assert prod["db_deletion_protection"] is True
    assert prod["cluster_endpoint_public_access"] is False
    assert dev["db_multi_az"] is False
    assert prod["db_backup_retention_days"] > dev["db_backup_retention_days"]
    assert len(prod["azs"]) >= 3
    assert prod["single_nat_gateway"] is False
    assert prod["noncurrent_version_expiration_days"] >= dev["noncurrent_version_expiration_days"]
    assert prod["secret_recovery_window_days"] >= dev["secret_recovery_window_days"]

    def gpu_cap(values: dict[str, Any]) -> int:
        return sum(int(g["max_size"]) for g in values["gpu_node_groups"].values())

    assert gpu_cap(prod) > gpu_cap(dev)
    for env in (dev, prod):
        for group in env["gpu_node_groups"].values():
            assert 1 <= int(group["max_size"]) <= 64


def test_tfvars_hold_no_account_specific_values() -> None:
    for env in env_names():
        values = tfvars(env)
        assert not {
            "allowed_account_ids",
            "cluster_admin_principal_arns",
            "cluster_endpoint_public_access_cidrs",
        } & set(values)
        text = (ENVS_DIR / f"{env}.tfvars").read_text(encoding="utf-8")
        assert "arn:aws" not in text


def test_environments_set_the_same_variables() -> None:
    dev, prod = tfvars("dev"), tfvars("prod")
    assert set(dev) == set(prod)
    assert unquote(dev["environment"]) == "dev"
    assert unquote(prod["environment"]) == "prod"


def test_environments_keep_their_values() -> None:
    """Moving to one root changed where the values live, not what they are."""
    dev, prod = tfvars("dev"), tfvars("prod")
    assert (unquote(dev["vpc_cidr"]), unquote(prod["vpc_cidr"])) == ("10.20.0.0/16", "10.30.0.0/16")
    assert set(dev["gpu_node_groups"]) == {"a10g"}
    assert set(prod["gpu_node_groups"]) == {"a10g", "l40s"}
    assert prod["gpu_node_groups"]["l40s"]["gpus_per_node"] == 4
    assert dev["cluster_endpoint_public_access"] is True


def test_providers_use_no_stored_credentials() -> None:
    providers = load_config(ROOT_DIR).providers
    assert set(providers) == {"aws", "kubernetes", "helm"}
    for name in ("kubernetes", "helm"):
        text = " ".join(strings(providers[name]))
        assert "get-token" in text
        assert "token =" not in text and "client_key" not in text
    aws = providers["aws"][0]
    assert not {"access_key", "secret_key", "token", "profile"} & set(aws)


def test_only_local_modules_are_called() -> None:
    for body in load_config(ROOT_DIR).modules.values():
        assert unquote(body["source"]).startswith("../modules/")


def test_fixtures_stay_out_of_terraform() -> None:
    assert not list((REPO_ROOT / "terraform").rglob("fixtures"))
    assert Path(__file__).resolve().parent.joinpath("fixtures").is_dir()
