data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

# IRSA roles: each trusts exactly one Kubernetes service account of the cluster and may do
# exactly what its component needs, on named resources only.

locals {
  roles = {
    mlflow             = var.service_accounts.mlflow
    workflows          = var.service_accounts.workflows
    kserve             = var.service_accounts.kserve
    cluster-autoscaler = var.service_accounts.cluster_autoscaler
    # One secret reader per namespace that reads secrets: its SecretStore authenticates as
    # this service account, so an ExternalSecret can only fetch that namespace's secrets.
    mlflow-secrets     = var.service_accounts.mlflow_secrets
    workflows-secrets  = var.service_accounts.workflows_secrets
    monitoring-secrets = var.service_accounts.monitoring_secrets
    # The rollout's own store in ml-workflows: its MLflow identity (moves `champion`) is
    # readable by this reader only, not by the pipeline's store.
    rollout-secrets = var.service_accounts.rollout_secrets
  }

  # The secrets each namespace's store may read, and no others.
  namespace_secret_arns = {
    mlflow-secrets     = var.mlflow_secret_arns
    workflows-secrets  = [var.git_token_secret_arn, var.mlflow_pipeline_secret_arn]
    monitoring-secrets = [var.grafana_admin_secret_arn]
    rollout-secrets    = [var.mlflow_rollout_secret_arn]
  }

  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  gpu_autoscaling_group_arns = [
    for n in var.gpu_autoscaling_group_names :
    "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${n}"
  ]

  # KMS use is only allowed through the services that encrypt with the key.
  s3_via             = "s3.*.amazonaws.com"
  secretsmanager_via = "secretsmanager.*.amazonaws.com"
}

data "aws_iam_policy_document" "assume" {
  for_each = local.roles

  statement {
    sid     = "IrsaServiceAccount"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.roles

  name                 = "${var.name}-${each.key}"
  description          = "IRSA role of ${each.value.namespace}/${each.value.name}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  max_session_duration = 3600

  tags = merge(var.tags, { "slipway.io/service-account" = "${each.value.namespace}/${each.value.name}" })
}

# MLflow: read and write the artifacts bucket (it serves and stores run artifacts).
data "aws_iam_policy_document" "mlflow" {
  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.artifacts_bucket_arn]
  }

  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [local.s3_via]
    }
  }
}

# Workflows: read datasets, read and write artifacts, read the git token (promotion commits).
data "aws_iam_policy_document" "workflows" {
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.datasets_bucket_arn, var.artifacts_bucket_arn]
  }

  statement {
    sid       = "ReadDatasets"
    actions   = ["s3:GetObject"]
    resources = ["${var.datasets_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadGitToken"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.git_token_secret_arn]
  }

  statement {
    sid       = "UseKeyViaS3AndSecretsManager"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [local.s3_via, local.secretsmanager_via]
    }
  }
}

# KServe: read-only on the artifacts bucket (it loads model files); write-only under the
# datasets bucket's payload prefix (the predictors upload sampled payloads for the drift step).
data "aws_iam_policy_document" "kserve" {
  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.artifacts_bucket_arn]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "DecryptViaS3"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [local.s3_via]
    }
  }

  # PutObject only: a predictor can neither read back nor delete what any model served.
  statement {
    sid       = "WritePayloads"
    actions   = ["s3:PutObject"]
    resources = ["${var.datasets_bucket_arn}/${var.payloads_prefix}/*"]
  }

  # SSE-KMS needs a data key to write; only through S3, as above.
  statement {
    sid       = "EncryptPayloadsViaS3"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [local.s3_via]
    }
  }
}

# Secret readers, one per namespace: read exactly that namespace's secrets.
data "aws_iam_policy_document" "secrets" {
  for_each = local.namespace_secret_arns

  statement {
    sid = "ReadNamespaceSecrets"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
      "secretsmanager:ListSecretVersionIds",
    ]
    resources = each.value
  }

  statement {
    sid       = "DecryptViaSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [local.secretsmanager_via]
    }
  }
}

# Cluster autoscaler: discover node groups (describe calls, which take no resource ARN), and
# resize or shrink only the GPU node groups' Auto Scaling groups of this cluster.
data "aws_iam_policy_document" "cluster_autoscaler" {
  #checkov:skip=CKV_AWS_356:Only the autoscaling and ec2 Describe/Get calls use Resource "*": they support no resource-level permissions; every write action names the GPU groups' ARNs.
  statement {
    sid = "DiscoverNodeGroups"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeClusterNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*"]
  }

  statement {
    sid = "ResizeGpuGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = local.gpu_autoscaling_group_arns

    # EKS tags every managed group of the cluster so; a group of another cluster never matches.
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

locals {
  policies = merge(
    {
      mlflow             = data.aws_iam_policy_document.mlflow.json
      workflows          = data.aws_iam_policy_document.workflows.json
      kserve             = data.aws_iam_policy_document.kserve.json
      cluster-autoscaler = data.aws_iam_policy_document.cluster_autoscaler.json
    },
    { for k, d in data.aws_iam_policy_document.secrets : k => d.json },
  )
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = "${each.key}-least-privilege"
  role   = aws_iam_role.this[each.key].id
  policy = local.policies[each.key]
}
