# terraform test (mock providers: no AWS account, no credentials). Run by the GitHub workflow.
mock_provider "aws" {}

variables {
  cluster_name       = "slipway-test"
  name               = "gpu-a10g"
  kubernetes_version = "1.35"
  node_role_arn      = "arn:aws:iam::111122223333:role/slipway-test-node"
  subnet_ids         = ["subnet-aaaa", "subnet-bbbb"]
  ami_type           = "AL2023_x86_64_NVIDIA"
  instance_types     = ["g5.xlarge"]
  min_size           = 0
  desired_size       = 0
  max_size           = 2
  disk_size_gb       = 200
  labels             = { "slipway.io/node-pool" = "gpu" }
  taints             = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
}

run "nodes_require_imdsv2_and_encrypt_their_volume" {
  command = plan

  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required" && aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 only, hop limit 1: pods cannot borrow the node role."
  }

  assert {
    condition     = aws_launch_template.this.block_device_mappings[0].device_name == "/dev/xvda" && aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true" && aws_launch_template.this.block_device_mappings[0].ebs[0].volume_size == 200
    error_message = "The root volume of an AL2023 node is encrypted and sized by disk_size_gb."
  }

  assert {
    condition     = aws_launch_template.this.name_prefix == "slipway-test-gpu-a10g-"
    error_message = "Launch templates are named <cluster>-<group>-."
  }

  assert {
    condition     = aws_eks_node_group.this.node_group_name == "gpu-a10g" && aws_eks_node_group.this.scaling_config[0].min_size == 0 && aws_eks_node_group.this.scaling_config[0].max_size == 2
    error_message = "The group is named and sized as asked."
  }

  assert {
    condition     = length(aws_eks_node_group.this.taint) == 1 && anytrue([for t in aws_eks_node_group.this.taint : t.key == "nvidia.com/gpu" && t.value == "true" && t.effect == "NO_SCHEDULE"])
    error_message = "Every taint asked for is set."
  }
}

run "bottlerocket_sizes_its_data_volume" {
  command = plan

  variables {
    ami_type = "BOTTLEROCKET_x86_64_NVIDIA"
  }

  assert {
    condition     = aws_launch_template.this.block_device_mappings[0].device_name == "/dev/xvdb"
    error_message = "Bottlerocket keeps images and containers on /dev/xvdb."
  }
}

run "untainted_by_default" {
  command = plan

  variables {
    name   = "system"
    taints = []
  }

  assert {
    condition     = length(aws_eks_node_group.this.taint) == 0
    error_message = "No taint unless one is asked for."
  }
}

run "sizes_must_be_ordered" {
  command = plan

  variables {
    min_size     = 3
    desired_size = 2
    max_size     = 4
  }

  expect_failures = [var.desired_size]
}

run "taint_effect_in_eks_form" {
  command = plan

  variables {
    taints = [{ key = "nvidia.com/gpu", value = "true", effect = "NoSchedule" }]
  }

  expect_failures = [var.taints]
}
