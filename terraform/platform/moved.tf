# The GPU node groups moved into modules/gpu-cluster/modules/node-group. Their instances are
# keyed by gpu_node_groups, so the moves for the keys the environments used then live here,
# with the caller (the system group's moves are in the module). A move whose old address has
# nothing in an environment's state is a no-op there.
moved {
  from = module.gpu_cluster.aws_launch_template.gpu["a10g"]
  to   = module.gpu_cluster.module.gpu_node_group["a10g"].aws_launch_template.this
}

moved {
  from = module.gpu_cluster.aws_eks_node_group.gpu["a10g"]
  to   = module.gpu_cluster.module.gpu_node_group["a10g"].aws_eks_node_group.this
}

moved {
  from = module.gpu_cluster.aws_launch_template.gpu["l40s"]
  to   = module.gpu_cluster.module.gpu_node_group["l40s"].aws_launch_template.this
}

moved {
  from = module.gpu_cluster.aws_eks_node_group.gpu["l40s"]
  to   = module.gpu_cluster.module.gpu_node_group["l40s"].aws_eks_node_group.this
}
