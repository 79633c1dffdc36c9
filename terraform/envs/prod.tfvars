# prod: multi-AZ everywhere, private API endpoint, larger GPU caps, long retention. No
# credentials and no account-specific values here: those come from TF_VAR_* (see
# terraform/README.md).
aws_region  = "eu-west-1"
environment = "prod"

vpc_cidr           = "10.30.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
single_nat_gateway = false

kubernetes_version             = "1.35"
cluster_endpoint_public_access = false # private endpoint: reachable from the VPC only

system_node_group = {
  instance_types = ["m6i.xlarge"]
  min_size       = 3
  max_size       = 6
  desired_size   = 3
}

gpu_node_groups = {
  a10g = {
    instance_types = ["g5.2xlarge", "g5.4xlarge"]
    max_size       = 8
    gpus_per_node  = 1
  }
  l40s = {
    instance_types = ["g6e.12xlarge"]
    max_size       = 4
    gpus_per_node  = 4
  }
}

db_instance_class           = "db.r6g.large"
db_allocated_storage_gb     = 100
db_max_allocated_storage_gb = 500
db_multi_az                 = true
db_deletion_protection      = true
db_backup_retention_days    = 30

noncurrent_version_expiration_days = 180
secret_recovery_window_days        = 30

argocd_chart_version = "10.1.1"
gitops_bootstrap = {
  repo_url        = "https://github.com/slipway-ml/slipway.git"
  target_revision = "main"
}
