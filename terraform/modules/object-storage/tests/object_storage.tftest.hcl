# terraform test (mock providers: no AWS account, no credentials). Run by the GitHub workflow.
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "000"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name        = "slipway-test"
  kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/test"
}

run "data_buckets_versioned_kms_private" {
  command = plan

  assert {
    condition     = aws_s3_bucket.data["datasets"].bucket == "slipway-test-datasets-000" && aws_s3_bucket.data["artifacts"].bucket == "slipway-test-artifacts-000"
    error_message = "Bucket names are <name>-<purpose>-<account>."
  }

  assert {
    condition     = alltrue([for v in aws_s3_bucket_versioning.data : v.versioning_configuration[0].status == "Enabled"])
    error_message = "Data buckets are versioned."
  }

  assert {
    condition     = alltrue([for c in aws_s3_bucket_server_side_encryption_configuration.data : one(c.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" && one(c.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == var.kms_key_arn])
    error_message = "Data buckets are encrypted with the platform key."
  }

  assert {
    condition     = alltrue([for b in aws_s3_bucket_public_access_block.data : b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets])
    error_message = "Data buckets block every kind of public access."
  }

  assert {
    condition     = aws_s3_bucket_logging.data["artifacts"].target_prefix == "slipway-test-artifacts-000/"
    error_message = "Access logs go to the log bucket, one prefix per bucket."
  }

  assert {
    condition     = aws_s3_bucket.data["datasets"].force_destroy == false
    error_message = "Buckets holding data are not force-destroyed by default."
  }
}

run "infrequent_access_transition_respects_s3_minimum" {
  command = plan

  variables {
    transition_to_ia_days = 7
  }

  expect_failures = [var.transition_to_ia_days]
}
