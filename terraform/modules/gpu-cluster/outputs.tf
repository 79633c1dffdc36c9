output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API server."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64-encoded certificate authority data of the cluster."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "ID of the security group EKS created for the control plane and the managed nodes."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC identity provider, the federated principal of IRSA roles."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "OIDC issuer of the cluster without its https:// scheme, as IRSA trust conditions name it."
  value       = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

output "node_role_arn" {
  description = "ARN of the IAM role of the nodes."
  value       = aws_iam_role.node.arn
}

output "gpu_node_group_names" {
  description = "EKS node group names of the GPU node groups, keyed like `gpu_node_groups`."
  value       = { for k, g in module.gpu_node_group : k => g.node_group_name }
}

output "gpu_node_selector" {
  description = "Node labels every GPU node carries; the workflows select GPU nodes with them."
  value       = local.gpu_pool_label
}

output "gpu_node_taint" {
  description = "Taint every GPU node carries, in Kubernetes form; GPU pods must tolerate it."
  value = {
    key    = local.gpu_taint.key
    value  = local.gpu_taint.value
    effect = "NoSchedule"
  }
}

output "gpu_autoscaling_group_names" {
  description = "Auto Scaling group names behind the GPU node groups: the only groups the cluster autoscaler may resize."
  value       = flatten([for g in module.gpu_node_group : g.node_group_autoscaling_group_names])
}
