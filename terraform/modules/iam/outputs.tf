output "mlflow_role_arn" {
  description = "ARN of the MLflow IRSA role (artifacts bucket read/write)."
  value       = aws_iam_role.this["mlflow"].arn
}

output "workflows_role_arn" {
  description = "ARN of the workflows IRSA role (datasets read, artifacts read/write, git token)."
  value       = aws_iam_role.this["workflows"].arn
}

output "kserve_role_arn" {
  description = "ARN of the KServe predictor IRSA role (artifacts read-only; served payloads write-only)."
  value       = aws_iam_role.this["kserve"].arn
}

output "cluster_autoscaler_role_arn" {
  description = "ARN of the cluster autoscaler IRSA role (describe node groups; resize the GPU groups only)."
  value       = aws_iam_role.this["cluster-autoscaler"].arn
}

output "secret_reader_role_arns" {
  description = "ARN of each namespace's secret reader IRSA role (its SecretStore's identity), keyed `mlflow`, `workflows` (ml-workflows), `monitoring` and `rollout` (the rollout's store in ml-workflows)."
  value = {
    mlflow     = aws_iam_role.this["mlflow-secrets"].arn
    workflows  = aws_iam_role.this["workflows-secrets"].arn
    monitoring = aws_iam_role.this["monitoring-secrets"].arn
    rollout    = aws_iam_role.this["rollout-secrets"].arn
  }
}

output "role_arns" {
  description = "Every IRSA role ARN, keyed by component."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "service_accounts" {
  description = "The `namespace/name` of the service account each role trusts, keyed by component."
  value       = { for k, sa in local.roles : k => "${sa.namespace}/${sa.name}" }
}
