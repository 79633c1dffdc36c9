# dev: small and cheap; torn down and rebuilt freely. No credentials and no account-specific
# values here: those come from TF_VAR_* (see terraform/README.md).
aws_region  = "eu-west-1"
environment = "dev"

vpc_cidr           = "10.20.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b"]
single_nat_gateway = true

kubernetes_version             = "1.35"
cluster_endpoint_public_access = true # restricted to TF_VAR_cluster_endpoint_public_access_cidrs

system_node_group = {
  instance_types = ["m6i.large"]
  min_size       = 2
  max_size       = 3
  desired_size   = 2
}

gpu_node_groups = {
  a10g = {
    instance_types = ["g5.xlarge", "g5.2xlarge"]
    max_size       = 2
    gpus_per_node  = 1
  }
}

db_instance_class           = "db.t4g.medium"
db_allocated_storage_gb     = 20
db_max_allocated_storage_gb = 50
db_multi_az                 = false
db_deletion_protection      = false
db_backup_retention_days    = 7

noncurrent_version_expiration_days = 30
secret_recovery_window_days        = 7

argocd_chart_version = "10.1.1"
gitops_bootstrap = {
  repo_url        = "https://github.com/slipway-ml/slipway.git"
  target_revision = "main"
}
