output "annotations" {
  description = "Annotations published on the Argo CD cluster Secret (the contract with argocd/)."
  value       = local.annotations
}

output "argocd_namespace" {
  description = "Namespace Argo CD runs in."
  value       = helm_release.argocd.namespace
}

output "argocd_chart_version" {
  description = "Version of the argo-cd chart installed."
  value       = helm_release.argocd.version
}

output "cluster_secret_name" {
  description = "Name of the Argo CD cluster Secret carrying the annotations."
  value       = kubernetes_secret_v1.cluster.metadata[0].name
}
