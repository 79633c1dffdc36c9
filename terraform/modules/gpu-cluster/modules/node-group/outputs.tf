output "node_group_name" {
  description = "Name of the EKS node group."
  value       = aws_eks_node_group.this.node_group_name
}

output "node_group_arn" {
  description = "ARN of the EKS node group."
  value       = aws_eks_node_group.this.arn
}

output "node_group_autoscaling_group_names" {
  description = "Names of the Auto Scaling groups EKS created for the node group."
  value       = flatten([for r in aws_eks_node_group.this.resources : r.autoscaling_groups[*].name])
}

output "node_group_scaling_config" {
  description = "Size bounds of the node group: `min_size`, `max_size` and the size at creation, `desired_size`."
  value       = one(aws_eks_node_group.this.scaling_config)
}

output "node_group_labels" {
  description = "Kubernetes labels the group's nodes carry."
  value       = aws_eks_node_group.this.labels
}

output "node_group_taints" {
  description = "Kubernetes taints the group's nodes carry, in EKS form."
  value       = aws_eks_node_group.this.taint
}

output "launch_template_id" {
  description = "ID of the node group's launch template."
  value       = aws_launch_template.this.id
}
