output "aws_region" {
  description = "AWS region of the environment."
  value       = var.aws_region
}

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.gpu_cluster.cluster_name
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API server."
  value       = module.gpu_cluster.cluster_endpoint
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.aws_region} --name ${module.gpu_cluster.cluster_name}"
}

output "datasets_bucket_name" {
  description = "Name of the datasets bucket."
  value       = module.object_storage.datasets_bucket_name
}

output "artifacts_bucket_name" {
  description = "Name of the artifacts bucket."
  value       = module.object_storage.artifacts_bucket_name
}

output "irsa_role_arns" {
  description = "IRSA role ARNs, keyed by component."
  value       = module.iam.role_arns
}

output "secret_names" {
  description = "Secrets Manager entry names (names only, never values), keyed by purpose."
  value = {
    mlflow_db     = module.secrets.mlflow_db_secret_name
    mlflow_flask  = module.secrets.mlflow_flask_secret_name
    git_token     = module.secrets.git_token_secret_name
    grafana_admin = module.secrets.grafana_admin_secret_name
  }
}

output "mlflow_db_address" {
  description = "Host name of the MLflow database (private)."
  value       = module.mlflow_db.address
}

output "gpu_node_selector" {
  description = "Labels the workflows select GPU nodes with."
  value       = module.gpu_cluster.gpu_node_selector
}

output "gpu_node_taint" {
  description = "Taint GPU pods must tolerate."
  value       = module.gpu_cluster.gpu_node_taint
}

output "argocd_cluster_annotations" {
  description = "Annotations published on the Argo CD cluster Secret."
  value       = module.gitops_bridge.annotations
}
