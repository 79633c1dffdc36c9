variable "aws_region" {
  type        = string
  description = "AWS region of the environment."
}

variable "environment" {
  type        = string
  description = "Environment name (`dev`, `prod`): names resources `slipway-<environment>` and selects Argo CD's `values/<environment>/`."
}

variable "allowed_account_ids" {
  type        = list(string)
  description = "AWS account IDs Terraform may act in (a guard against applying to the wrong account); empty disables the guard. Set it with TF_VAR_allowed_account_ids rather than in tfvars."
  default     = []
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (cost centre, owner)."
  default     = {}
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR block of the VPC."
}

variable "azs" {
  type        = list(string)
  description = "Availability zones the subnets span (two or more)."
}

variable "single_nat_gateway" {
  type        = bool
  description = "Share one NAT gateway between all zones (cheaper, less available)."
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the cluster."
}

variable "cluster_endpoint_public_access" {
  type        = bool
  description = "Expose the Kubernetes API publicly, restricted to `cluster_endpoint_public_access_cidrs`; false keeps it private."
}

variable "cluster_endpoint_public_access_cidrs" {
  type        = list(string)
  description = "Networks allowed to reach the public API endpoint (never 0.0.0.0/0). Site-specific: pass it with TF_VAR_cluster_endpoint_public_access_cidrs."
  default     = []
}

variable "cluster_admin_principal_arns" {
  type        = list(string)
  description = "IAM roles given cluster-admin (EKS access entries). Account-specific: pass it with TF_VAR_cluster_admin_principal_arns."
  default     = []
}

variable "system_node_group" {
  type = object({
    instance_types = optional(list(string), ["m6i.large"])
    min_size       = optional(number, 2)
    max_size       = optional(number, 4)
    desired_size   = optional(number, 2)
    disk_size_gb   = optional(number, 50)
  })
  description = "Size of the system node group."
}

variable "gpu_node_groups" {
  type = map(object({
    instance_types = list(string)
    max_size       = number
    gpus_per_node  = optional(number, 1)
    ami_type       = optional(string, "AL2023_x86_64_NVIDIA")
    capacity_type  = optional(string, "ON_DEMAND")
    disk_size_gb   = optional(number, 200)
    labels         = optional(map(string), {})
  }))
  description = "GPU node groups: instance types and the size cap of each (they scale from zero)."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the control-plane, flow and database log groups, in days."
  default     = 365
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class of the MLflow database."
}

variable "db_allocated_storage_gb" {
  type        = number
  description = "Initial storage of the MLflow database, in GiB."
}

variable "db_max_allocated_storage_gb" {
  type        = number
  description = "Storage autoscaling limit of the MLflow database, in GiB."
}

variable "db_multi_az" {
  type        = bool
  description = "Run the MLflow database with a multi-AZ standby."
}

variable "db_deletion_protection" {
  type        = bool
  description = "Protect the MLflow database from deletion."
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days the MLflow database's automated backups are kept."
}

variable "bucket_force_destroy" {
  type        = bool
  description = "Let terraform destroy delete non-empty buckets."
  default     = false
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days non-current object versions are kept in the data buckets."
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted secret can be restored."
}

variable "argocd_chart_version" {
  type        = string
  description = "Exact version of the argo-cd Helm chart."
}

variable "gitops_bootstrap" {
  type = object({
    repo_url        = string
    target_revision = optional(string, "main")
    path            = optional(string, "argocd")
    include         = optional(string, "{projects/*.yaml,bootstrap/*.yaml}")
  })
  description = "Repository and revision Argo CD bootstraps from (the AppProjects and the root app of apps); null installs Argo CD without them."
  default     = null
}
