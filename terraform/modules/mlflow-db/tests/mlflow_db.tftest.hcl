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
  name                       = "slipway-test-mlflow"
  vpc_id                     = "vpc-test"
  subnet_ids                 = ["subnet-aaaa", "subnet-bbbb"]
  allowed_security_group_ids = ["sg-cluster"]
  kms_key_arn                = "arn:aws:kms:eu-west-1:111122223333:key/test"
  password                   = "mock-password-for-plan-only"
}

run "private_encrypted_protected_by_default" {
  command = plan

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false && aws_db_instance.this.storage_encrypted == true
    error_message = "The database is private and encrypted."
  }

  assert {
    condition     = aws_db_instance.this.multi_az == true && aws_db_instance.this.deletion_protection == true
    error_message = "Multi-AZ and deletion protection are on unless an environment turns them off."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 14 && aws_db_instance.this.skip_final_snapshot == false
    error_message = "Backups are kept and a final snapshot is taken."
  }

  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"])
    error_message = "Connections must use TLS."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.postgres["sg-cluster"].from_port == 5432 && aws_vpc_security_group_ingress_rule.postgres["sg-cluster"].referenced_security_group_id == "sg-cluster"
    error_message = "Only the cluster reaches PostgreSQL."
  }
}

run "dev_switches_multi_az_and_deletion_protection_off" {
  command = plan

  variables {
    multi_az            = false
    deletion_protection = false
  }

  assert {
    condition     = aws_db_instance.this.multi_az == false && aws_db_instance.this.deletion_protection == false
    error_message = "Both switches pass through."
  }
}

run "backups_cannot_be_turned_off" {
  command = plan

  variables {
    backup_retention_days = 0
  }

  expect_failures = [var.backup_retention_days]
}
