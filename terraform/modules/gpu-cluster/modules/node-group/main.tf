locals {
  # Bottlerocket keeps images and containers on its second volume; every other AMI on the root one.
  data_volume_device = startswith(var.ami_type, "BOTTLEROCKET") ? "/dev/xvdb" : "/dev/xvda"
  instance_name      = "${var.cluster_name}-${var.name}"
}

# IMDSv2 only, with a hop limit of 1 so that pods cannot borrow the node role (they use
# IRSA), and an encrypted gp3 volume.
resource "aws_launch_template" "this" {
  name_prefix            = "${local.instance_name}-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = local.data_volume_device

    ebs {
      volume_size           = var.disk_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = local.instance_name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = local.instance_name })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  cluster_name    = var.cluster_name
  node_group_name = var.name
  node_role_arn   = var.node_role_arn
  subnet_ids      = var.subnet_ids
  version         = var.kubernetes_version
  ami_type        = var.ami_type
  capacity_type   = var.capacity_type
  instance_types  = var.instance_types

  scaling_config {
    min_size     = var.min_size
    desired_size = var.desired_size
    max_size     = var.max_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  dynamic "taint" {
    for_each = var.taints

    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  labels = var.labels

  tags = var.tags

  lifecycle {
    # The cluster autoscaler owns the current size.
    ignore_changes = [scaling_config[0].desired_size]
  }
}
