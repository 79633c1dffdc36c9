# terraform test (mock providers: no AWS account, no credentials). Run by the GitHub workflow.
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

mock_provider "tls" {}

variables {
  name        = "slipway-test"
  subnet_ids  = ["subnet-aaaa", "subnet-bbbb"]
  kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/test"
  gpu_node_groups = {
    a10g = {
      instance_types = ["g5.xlarge"]
      max_size       = 3
      gpus_per_node  = 1
    }
  }
}

run "gpu_groups_scale_from_zero_with_taint_and_labels" {
  command = plan

  assert {
    condition     = module.gpu_node_group["a10g"].node_group_scaling_config.min_size == 0 && module.gpu_node_group["a10g"].node_group_scaling_config.desired_size == 0
    error_message = "GPU node groups must scale from zero."
  }

  assert {
    condition     = module.gpu_node_group["a10g"].node_group_scaling_config.max_size == 3
    error_message = "The group's cap is its max_size."
  }

  assert {
    condition     = anytrue([for t in module.gpu_node_group["a10g"].node_group_taints : t.key == "nvidia.com/gpu" && t.value == "true" && t.effect == "NO_SCHEDULE"])
    error_message = "GPU nodes carry nvidia.com/gpu=true:NoSchedule."
  }

  assert {
    condition     = module.gpu_node_group["a10g"].node_group_labels["slipway.io/node-pool"] == "gpu" && module.gpu_node_group["a10g"].node_group_labels["slipway.io/gpu-node-group"] == "a10g"
    error_message = "GPU nodes carry the labels the workflows select."
  }

  assert {
    condition     = var.gpu_node_groups["a10g"].ami_type == "AL2023_x86_64_NVIDIA"
    error_message = "GPU groups default to the NVIDIA AMI."
  }

  assert {
    condition     = length(module.system_node_group.node_group_taints) == 0 && module.system_node_group.node_group_labels["slipway.io/node-pool"] == "system"
    error_message = "The system group is untainted and labelled system."
  }

  assert {
    condition     = module.system_node_group.node_group_scaling_config.min_size == 2 && module.system_node_group.node_group_scaling_config.max_size == 4
    error_message = "The system group's size comes from system_node_group (defaults 2 to 4)."
  }

  assert {
    condition     = aws_autoscaling_group_tag.gpu_node_template["a10g:taint"].tag[0].value == "true:NoSchedule"
    error_message = "The autoscaler needs the taint as a node-template tag to scale up from zero."
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false && aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true
    error_message = "The API endpoint is private by default."
  }

  assert {
    condition     = length(aws_eks_cluster.this.enabled_cluster_log_types) == 5
    error_message = "All control-plane log types are enabled."
  }

  assert {
    condition     = one(aws_eks_cluster.this.encryption_config).provider[0].key_arn == var.kms_key_arn
    error_message = "Secrets are envelope-encrypted with the platform key."
  }
}

run "public_endpoint_needs_cidrs" {
  command = plan

  variables {
    endpoint_public_access = true
  }

  expect_failures = [aws_eks_cluster.this]
}

run "public_endpoint_never_open_to_the_world" {
  command = plan

  variables {
    endpoint_public_access       = true
    endpoint_public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}

run "gpu_cap_is_bounded" {
  command = plan

  variables {
    gpu_node_groups = {
      huge = {
        instance_types = ["p5.48xlarge"]
        max_size       = 500
      }
    }
  }

  expect_failures = [var.gpu_node_groups]
}

run "node_pool_label_cannot_be_overridden" {
  command = plan

  variables {
    gpu_node_groups = {
      sneaky = {
        instance_types = ["g5.xlarge"]
        max_size       = 1
        labels         = { "slipway.io/node-pool" = "system" }
      }
    }
  }

  expect_failures = [var.gpu_node_groups]
}

run "gpu_groups_need_a_gpu_ami" {
  command = plan

  variables {
    gpu_node_groups = {
      cpu = {
        instance_types = ["m6i.large"]
        max_size       = 1
        ami_type       = "AL2023_x86_64_STANDARD"
      }
    }
  }

  expect_failures = [var.gpu_node_groups]
}
