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

variables {
  name         = "slipway-test"
  cidr         = "10.20.0.0/16"
  azs          = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  cluster_name = "slipway-test"
  kms_key_arn  = "arn:aws:kms:eu-west-1:111122223333:key/test"
}

run "one_nat_gateway_per_zone_by_default" {
  command = plan

  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "Without single_nat_gateway every zone gets its own NAT gateway."
  }

  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_subnet.public) == 3
    error_message = "One private and one public subnet per zone."
  }

  assert {
    condition     = aws_subnet.private["eu-west-1a"].cidr_block == "10.20.0.0/19" && aws_subnet.public["eu-west-1a"].cidr_block == "10.20.240.0/24"
    error_message = "Private /19s from the bottom of the VPC, public /24s near the top."
  }

  assert {
    condition     = aws_subnet.private["eu-west-1b"].tags["kubernetes.io/role/internal-elb"] == "1" && aws_subnet.public["eu-west-1b"].tags["kubernetes.io/role/elb"] == "1"
    error_message = "Subnets carry the load balancer role tags."
  }

  assert {
    condition     = aws_subnet.private["eu-west-1c"].tags["kubernetes.io/cluster/slipway-test"] == "shared"
    error_message = "Subnets carry the cluster tag."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "Public subnets do not hand out public IPs."
  }

  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL" && aws_cloudwatch_log_group.flow_logs.kms_key_id == var.kms_key_arn
    error_message = "Flow logs record all traffic into a KMS-encrypted group."
  }
}

run "single_nat_gateway_is_shared" {
  command = plan

  variables {
    single_nat_gateway = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1
    error_message = "single_nat_gateway makes one NAT gateway."
  }
}

run "one_zone_is_not_enough" {
  command = plan

  variables {
    azs = ["eu-west-1a"]
  }

  expect_failures = [var.azs]
}

run "small_vpc_is_rejected" {
  command = plan

  variables {
    cidr = "10.20.0.0/24"
  }

  expect_failures = [var.cidr]
}
