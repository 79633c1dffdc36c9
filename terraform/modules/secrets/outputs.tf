output "kms_key_arn" {
  description = "ARN of the platform's customer-managed KMS key."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the platform's customer-managed KMS key."
  value       = aws_kms_key.this.key_id
}

output "kms_alias_name" {
  description = "Alias of the platform's KMS key."
  value       = aws_kms_alias.this.name
}

output "mlflow_db_secret_arn" {
  description = "ARN of the Secrets Manager entry holding the MLflow database credentials."
  value       = aws_secretsmanager_secret.mlflow_db.arn
}

output "mlflow_db_secret_name" {
  description = "Name of the Secrets Manager entry holding the MLflow database credentials."
  value       = aws_secretsmanager_secret.mlflow_db.name
}

output "mlflow_flask_secret_arn" {
  description = "ARN of the Secrets Manager entry holding the MLflow Flask secret key."
  value       = aws_secretsmanager_secret.mlflow_flask.arn
}

output "mlflow_flask_secret_name" {
  description = "Name of the Secrets Manager entry holding the MLflow Flask secret key."
  value       = aws_secretsmanager_secret.mlflow_flask.name
}

output "git_token_secret_arn" {
  description = "ARN of the Secrets Manager entry for the git token (value set out of band)."
  value       = aws_secretsmanager_secret.git_token.arn
}

output "git_token_secret_name" {
  description = "Name of the Secrets Manager entry for the git token (value set out of band)."
  value       = aws_secretsmanager_secret.git_token.name
}

output "grafana_admin_secret_arn" {
  description = "ARN of the Secrets Manager entry holding Grafana's admin credentials."
  value       = aws_secretsmanager_secret.grafana_admin.arn
}

output "grafana_admin_secret_name" {
  description = "Name of the Secrets Manager entry holding Grafana's admin credentials."
  value       = aws_secretsmanager_secret.grafana_admin.name
}

output "mlflow_secret_arns" {
  description = "ARNs of the secrets the mlflow namespace reads (database credentials, Flask secret key, the MLflow users it creates), and no others."
  value = concat(
    [
      aws_secretsmanager_secret.mlflow_db.arn,
      aws_secretsmanager_secret.mlflow_flask.arn,
    ],
    [for role in sort(keys(var.mlflow_users)) : aws_secretsmanager_secret.mlflow_user[role].arn],
  )
}

output "mlflow_user_secret_names" {
  description = "Secrets Manager name of each MLflow user's credentials, by role (admin, pipeline, rollout, metrics)."
  value       = { for role, secret in aws_secretsmanager_secret.mlflow_user : role => secret.name }
}

output "mlflow_user_secret_arns" {
  description = "ARN of each MLflow user's credentials secret, by role (admin, pipeline, rollout, metrics)."
  value       = { for role, secret in aws_secretsmanager_secret.mlflow_user : role => secret.arn }
}

output "mlflow_db_username" {
  description = "User name of the MLflow database."
  value       = var.mlflow_db_username
}

output "mlflow_db_name" {
  description = "Name of the MLflow database."
  value       = var.mlflow_db_name
}

output "mlflow_db_password" {
  description = "Generated MLflow database password, for the mlflow-db module only; sensitive, and never re-exported by a root module."
  value       = random_password.mlflow_db.result
  sensitive   = true
}
