data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
}

# The platform's customer-managed key: Secrets Manager, S3 (SSE-KMS), RDS, EKS envelope
# encryption and CloudWatch log groups. IAM policies grant its use; the key policy only
# delegates to IAM (the account root) and lets CloudWatch Logs use it for this account's groups.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; the root statement delegates key administration to IAM policies, as AWS's default key policy does.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write access is limited to the account root (IAM-delegated) and CloudWatch Logs under an encryption-context condition.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only; it cannot name the key's own ARN before the key exists.
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsOfThisAccount"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "slipway ${var.name}: secrets, buckets, database, cluster secrets and logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# MLflow database credentials. The password lives in Terraform state (encrypted, in the
# state bucket) and in Secrets Manager; no root module output carries it.
resource "random_password" "mlflow_db" {
  length  = 40
  special = false
}

resource "random_password" "mlflow_flask" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "mlflow_db" {
  #checkov:skip=CKV2_AWS_57:Rotation needs a rotation Lambda and MLflow pods restarted on change; the password is rotated by replacing random_password.mlflow_db (terraform apply -replace) until a rotation function exists.
  name                    = "${var.secret_name_prefix}/mlflow/db"
  description             = "MLflow PostgreSQL credentials (username, password, dbname, host, port)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "mlflow_db" {
  secret_id = aws_secretsmanager_secret.mlflow_db.id
  secret_string = jsonencode(merge(
    {
      engine   = "postgres"
      username = var.mlflow_db_username
      password = random_password.mlflow_db.result
      dbname   = var.mlflow_db_name
    },
    var.mlflow_db_endpoint == null ? {} : {
      host = var.mlflow_db_endpoint.host
      port = var.mlflow_db_endpoint.port
    },
  ))
}

resource "aws_secretsmanager_secret" "mlflow_flask" {
  #checkov:skip=CKV2_AWS_57:The Flask secret key signs MLflow sessions; rotating it logs every user out, so it is rotated on purpose (terraform apply -replace=random_password.mlflow_flask), not on a schedule.
  name                    = "${var.secret_name_prefix}/mlflow/flask-secret-key"
  description             = "MLflow server Flask SECRET_KEY (key: secret_key)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "mlflow_flask" {
  secret_id     = aws_secretsmanager_secret.mlflow_flask.id
  secret_string = jsonencode({ secret_key = random_password.mlflow_flask.result })
}

# Grafana's admin credentials: kube-prometheus-stack's Grafana reads them from the Kubernetes
# Secret the monitoring namespace's ExternalSecret makes from this entry (admin.existingSecret),
# never from the chart's default password.
resource "random_password" "grafana_admin" {
  length  = 32
  special = false
}

resource "aws_secretsmanager_secret" "grafana_admin" {
  #checkov:skip=CKV2_AWS_57:Grafana reads the admin password at start-up only; it is rotated on purpose (terraform apply -replace=random_password.grafana_admin, then a Grafana restart), not on a schedule.
  name                    = "${var.secret_name_prefix}/grafana/admin"
  description             = "Grafana admin credentials (keys: admin-user, admin-password)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "grafana_admin" {
  secret_id = aws_secretsmanager_secret.grafana_admin.id
  secret_string = jsonencode({
    admin-user     = var.grafana_admin_username
    admin-password = random_password.grafana_admin.result
  })
}

# The git token the workflows push promotion commits with. Terraform creates the entry
# only; its value is set out of band (aws secretsmanager put-secret-value), so the token
# never passes through Terraform or its state.
resource "aws_secretsmanager_secret" "git_token" {
  #checkov:skip=CKV2_AWS_57:The value is a git hosting token issued and rotated by the git host, then written with put-secret-value; Secrets Manager cannot rotate it.
  name                    = "${var.secret_name_prefix}/git-token"
  description             = "Git token for promotion commits (key: token); value set out of band"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

# MLflow's users (basic auth): the admin, which the mlflow chart's bootstrap hook acts as,
# and slipway's identities, each its own secret so that each namespace's store reads only
# its own: the pipeline (logs runs, registers versions, sets `challenger`), the rollout
# (moves `champion`) and the ServiceMonitor's scrape user. JSON: username, password.
resource "random_password" "mlflow_user" {
  for_each = var.mlflow_users

  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "mlflow_user" {
  #checkov:skip=CKV2_AWS_57:The mlflow chart's bootstrap hook sets each identity's MLflow password from this secret on every sync, so rotation is terraform apply -replace plus an Argo CD sync, not a rotation Lambda; the admin's is changed through MLflow's update-password API first (see docs/operations.md).
  for_each = var.mlflow_users

  name                    = "${var.secret_name_prefix}/mlflow/${each.key}"
  description             = "MLflow basic-auth user ${each.value} (keys: username, password)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "mlflow_user" {
  for_each = var.mlflow_users

  secret_id = aws_secretsmanager_secret.mlflow_user[each.key].id
  secret_string = jsonencode({
    username = each.value
    password = random_password.mlflow_user[each.key].result
  })
}
