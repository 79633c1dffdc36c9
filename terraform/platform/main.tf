locals {
  name          = "slipway-${var.environment}"
  secret_prefix = "slipway/${var.environment}"

  tags = merge(var.tags, {
    "project"                = "slipway"
    "managed-by"             = "terraform"
    "slipway.io/environment" = var.environment
  })
}

module "secrets" {
  source = "../modules/secrets"

  name                        = local.name
  secret_name_prefix          = local.secret_prefix
  secret_recovery_window_days = var.secret_recovery_window_days
  mlflow_db_endpoint = {
    host = module.mlflow_db.address
    port = module.mlflow_db.port
  }

  tags = local.tags
}

module "network" {
  source = "../modules/network"

  name                    = local.name
  cidr                    = var.vpc_cidr
  azs                     = var.azs
  single_nat_gateway      = var.single_nat_gateway
  cluster_name            = local.name
  kms_key_arn             = module.secrets.kms_key_arn
  flow_log_retention_days = var.log_retention_days

  tags = local.tags
}

module "gpu_cluster" {
  source = "../modules/gpu-cluster"

  name                         = local.name
  kubernetes_version           = var.kubernetes_version
  subnet_ids                   = module.network.private_subnet_ids
  kms_key_arn                  = module.secrets.kms_key_arn
  endpoint_public_access       = var.cluster_endpoint_public_access
  endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs
  admin_principal_arns         = var.cluster_admin_principal_arns
  log_retention_days           = var.log_retention_days
  system_node_group            = var.system_node_group
  gpu_node_groups              = var.gpu_node_groups

  tags = local.tags
}

module "object_storage" {
  source = "../modules/object-storage"

  name                               = local.name
  kms_key_arn                        = module.secrets.kms_key_arn
  force_destroy                      = var.bucket_force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days

  tags = local.tags
}

module "mlflow_db" {
  source = "../modules/mlflow-db"

  name                       = "${local.name}-mlflow"
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.gpu_cluster.cluster_security_group_id]
  kms_key_arn                = module.secrets.kms_key_arn
  instance_class             = var.db_instance_class
  allocated_storage_gb       = var.db_allocated_storage_gb
  max_allocated_storage_gb   = var.db_max_allocated_storage_gb
  multi_az                   = var.db_multi_az
  deletion_protection        = var.db_deletion_protection
  backup_retention_days      = var.db_backup_retention_days
  log_retention_days         = var.log_retention_days
  db_name                    = module.secrets.mlflow_db_name
  username                   = module.secrets.mlflow_db_username
  password                   = module.secrets.mlflow_db_password

  tags = local.tags
}

module "iam" {
  source = "../modules/iam"

  name                 = local.name
  oidc_provider_arn    = module.gpu_cluster.oidc_provider_arn
  oidc_issuer          = module.gpu_cluster.oidc_issuer
  datasets_bucket_arn  = module.object_storage.datasets_bucket_arn
  artifacts_bucket_arn = module.object_storage.artifacts_bucket_arn
  kms_key_arn          = module.secrets.kms_key_arn
  git_token_secret_arn = module.secrets.git_token_secret_arn
  mlflow_secret_arns   = module.secrets.mlflow_secret_arns

  mlflow_pipeline_secret_arn = module.secrets.mlflow_user_secret_arns["pipeline"]
  mlflow_rollout_secret_arn  = module.secrets.mlflow_user_secret_arns["rollout"]
  cluster_name               = module.gpu_cluster.cluster_name

  grafana_admin_secret_arn    = module.secrets.grafana_admin_secret_arn
  gpu_autoscaling_group_names = module.gpu_cluster.gpu_autoscaling_group_names

  tags = local.tags
}

module "gitops_bridge" {
  source = "../modules/gitops-bridge"

  environment               = var.environment
  aws_region                = var.aws_region
  argocd_chart_version      = var.argocd_chart_version
  artifacts_bucket_name     = module.object_storage.artifacts_bucket_name
  datasets_bucket_name      = module.object_storage.datasets_bucket_name
  mlflow_role_arn           = module.iam.mlflow_role_arn
  workflows_role_arn        = module.iam.workflows_role_arn
  kserve_role_arn           = module.iam.kserve_role_arn
  mlflow_db_secret_name     = module.secrets.mlflow_db_secret_name
  mlflow_flask_secret_name  = module.secrets.mlflow_flask_secret_name
  git_token_secret_name     = module.secrets.git_token_secret_name
  grafana_admin_secret_name = module.secrets.grafana_admin_secret_name

  cluster_name                = module.gpu_cluster.cluster_name
  cluster_autoscaler_role_arn = module.iam.cluster_autoscaler_role_arn
  secret_reader_role_arns     = module.iam.secret_reader_role_arns
  mlflow_user_secret_names    = module.secrets.mlflow_user_secret_names
  bootstrap                   = var.gitops_bootstrap
}
