# IRSA roles: each trusts exactly one Kubernetes service account of the cluster and may do
# exactly what its component needs, on named resources only.

locals {
  roles = {
    mlflow           = var.service_accounts.mlflow
    workflows        = var.service_accounts.workflows
    kserve           = var.service_accounts.kserve
    external-secrets = var.service_accounts.external_secrets
  }

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

# KServe: read-only on the artifacts bucket (it loads model files).
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
}

# External Secrets: read exactly the platform's secrets.
data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid = "ReadPlatformSecrets"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
      "secretsmanager:ListSecretVersionIds",
    ]
    resources = var.platform_secret_arns
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

locals {
  policies = {
    mlflow           = data.aws_iam_policy_document.mlflow.json
    workflows        = data.aws_iam_policy_document.workflows.json
    kserve           = data.aws_iam_policy_document.kserve.json
    external-secrets = data.aws_iam_policy_document.external_secrets.json
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = "${each.key}-least-privilege"
  role   = aws_iam_role.this[each.key].id
  policy = local.policies[each.key]
}
