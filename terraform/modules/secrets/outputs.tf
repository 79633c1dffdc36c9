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
  description = "ARNs of the secrets the mlflow namespace reads (database credentials, Flask secret key), and no others."
  value = [
    aws_secretsmanager_secret.mlflow_db.arn,
    aws_secretsmanager_secret.mlflow_flask.arn,
  ]
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
