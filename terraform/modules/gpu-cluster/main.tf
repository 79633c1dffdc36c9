data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition

  # What the workflows select GPU nodes by, and what keeps everything else off them.
  gpu_pool_label = { "slipway.io/node-pool" = "gpu" }
  gpu_taint = {
    key    = "nvidia.com/gpu"
    value  = "true"
    effect = "NO_SCHEDULE"
  }

  gpu_labels = {
    for k, g in var.gpu_node_groups : k => merge(g.labels, local.gpu_pool_label, { "slipway.io/gpu-node-group" = k })
  }

  # Node-template tags let the cluster autoscaler scale a GPU group up from zero nodes: it
  # cannot read labels, taints or GPU counts off a node that does not exist yet.
  gpu_asg_tags = merge([
    for k, g in var.gpu_node_groups : merge(
      {
        for lk, lv in local.gpu_labels[k] : "${k}:label:${lk}" => {
          group = k
          key   = "k8s.io/cluster-autoscaler/node-template/label/${lk}"
          value = lv
        }
      },
      {
        "${k}:taint" = {
          group = k
          key   = "k8s.io/cluster-autoscaler/node-template/taint/${local.gpu_taint.key}"
          value = "${local.gpu_taint.value}:NoSchedule"
        }
        "${k}:gpus" = {
          group = k
          key   = "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"
          value = tostring(g.gpus_per_node)
        }
      },
    )
  ]...)
}

################################################################################
# Control plane
################################################################################

data "aws_iam_policy_document" "cluster_assume" {
  statement {
    sid     = "EksAssume"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-cluster"
  assume_role_policy = data.aws_iam_policy_document.cluster_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

data "aws_iam_policy_document" "cluster_kms" {
  statement {
    sid       = "SecretsEnvelopeEncryption"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "cluster_kms" {
  name   = "secrets-envelope-encryption"
  role   = aws_iam_role.cluster.id
  policy = data.aws_iam_policy_document.cluster_kms.json
}

resource "aws_cloudwatch_log_group" "cluster" {
  # EKS writes control-plane logs to this fixed name; creating it first sets retention and KMS.
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_39:The public endpoint is switchable per environment (endpoint_public_access): prod runs private-only, dev may expose it to endpoint_public_access_cidrs, which a precondition requires and a validation keeps off 0.0.0.0/0.
  #checkov:skip=CKV_AWS_38:public_access_cidrs comes from endpoint_public_access_cidrs, whose validation rejects 0.0.0.0/0; it only applies when the public endpoint is enabled.
  name                      = var.name
  version                   = var.kubernetes_version
  role_arn                  = aws_iam_role.cluster.arn
  enabled_cluster_log_types = var.control_plane_log_types

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.endpoint_public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]

    provider {
      key_arn = var.kms_key_arn
    }
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !var.endpoint_public_access || length(var.endpoint_public_access_cidrs) > 0
      error_message = "endpoint_public_access is true: set endpoint_public_access_cidrs to the networks allowed to reach the API (never 0.0.0.0/0), or make the endpoint private."
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_kms,
    aws_cloudwatch_log_group.cluster,
  ]
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

################################################################################
# IRSA: the cluster's OIDC identity provider
################################################################################

data "tls_certificate" "oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "this" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[0].sha1_fingerprint]

  tags = var.tags
}

################################################################################
# Nodes
################################################################################

data "aws_iam_policy_document" "node_assume" {
  statement {
    sid     = "Ec2Assume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# One managed node group (and its launch template: IMDSv2 only, encrypted volume) per call of
# modules/node-group: the system group, and one per entry of gpu_node_groups.
module "system_node_group" {
  source = "./modules/node-group"

  cluster_name       = aws_eks_cluster.this.name
  name               = "system"
  kubernetes_version = var.kubernetes_version
  node_role_arn      = aws_iam_role.node.arn
  subnet_ids         = var.subnet_ids
  ami_type           = "AL2023_x86_64_STANDARD"
  capacity_type      = "ON_DEMAND"
  instance_types     = var.system_node_group.instance_types
  min_size           = var.system_node_group.min_size
  max_size           = var.system_node_group.max_size
  desired_size       = var.system_node_group.desired_size
  disk_size_gb       = var.system_node_group.disk_size_gb
  labels             = { "slipway.io/node-pool" = "system" }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.node]
}

module "gpu_node_group" {
  source   = "./modules/node-group"
  for_each = var.gpu_node_groups

  cluster_name       = aws_eks_cluster.this.name
  name               = "gpu-${each.key}"
  kubernetes_version = var.kubernetes_version
  node_role_arn      = aws_iam_role.node.arn
  subnet_ids         = var.subnet_ids
  ami_type           = each.value.ami_type
  capacity_type      = each.value.capacity_type
  instance_types     = each.value.instance_types
  # Scale from zero: no GPU node runs (or costs) until a pod asks for one.
  min_size     = 0
  desired_size = 0
  max_size     = each.value.max_size
  disk_size_gb = each.value.disk_size_gb
  labels       = local.gpu_labels[each.key]
  taints       = [local.gpu_taint]

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.node]
}

resource "aws_autoscaling_group_tag" "gpu_node_template" {
  for_each = local.gpu_asg_tags

  autoscaling_group_name = module.gpu_node_group[each.value.group].node_group_autoscaling_group_names[0]

  tag {
    key                 = each.value.key
    value               = each.value.value
    propagate_at_launch = false
  }
}

# State written before the node groups moved into modules/node-group keeps its objects: the
# system group moves here; the GPU groups' instances are keyed by the caller's map, so their
# moves live with the caller (terraform/platform/moved.tf).
moved {
  from = aws_launch_template.system
  to   = module.system_node_group.aws_launch_template.this
}

moved {
  from = aws_eks_node_group.system
  to   = module.system_node_group.aws_eks_node_group.this
}

################################################################################
# Core add-ons, managed by EKS
################################################################################

locals {
  # The VPC CNI enforces NetworkPolicies itself (its node agent, eBPF) once enableNetworkPolicy
  # is set: every chart's NetworkPolicy is then enforced, with no second CNI to run.
  addon_configuration = {
    vpc-cni = {
      enableNetworkPolicy = "true"
      nodeAgent = {
        enablePolicyEventLogs = "false"
      }
    }
    kube-proxy = null
    coredns    = null
  }
}

resource "aws_eks_addon" "this" {
  for_each = local.addon_configuration

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  configuration_values        = each.value == null ? null : jsonencode(each.value)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  tags = var.tags

  # coredns needs nodes to become healthy.
  depends_on = [module.system_node_group]
}
