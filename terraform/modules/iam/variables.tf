variable "name" {
  type        = string
  description = "Prefix of the role names (`<name>-mlflow`, `<name>-workflows`, ...)."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the cluster's IAM OIDC identity provider (output of gpu-cluster)."
}

variable "oidc_issuer" {
  type        = string
  description = "OIDC issuer of the cluster without the https:// scheme (output of gpu-cluster)."

  validation {
    condition     = !startswith(var.oidc_issuer, "https://")
    error_message = "oidc_issuer must not include the https:// scheme."
  }
}

variable "datasets_bucket_arn" {
  type        = string
  description = "ARN of the datasets bucket."
}

variable "payloads_prefix" {
  type        = string
  default     = "payloads"
  description = "Key prefix of the datasets bucket the predictors upload served payloads under (model-serving's `payloads.prefix`); the predictors may only put objects there, the workflows read them."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$", var.payloads_prefix))
    error_message = "payloads_prefix must be a key prefix such as payloads (lower case, no leading or trailing slash)."
  }
}

variable "artifacts_bucket_arn" {
  type        = string
  description = "ARN of the artifacts bucket."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the buckets and secrets are encrypted with."
}

variable "git_token_secret_arn" {
  type        = string
  description = "ARN of the git token secret the workflows read."
}

variable "mlflow_secret_arns" {
  type        = list(string)
  description = "ARNs of the secrets the mlflow namespace's SecretStore may read (database credentials, Flask secret key), and no others."

  validation {
    condition     = length(var.mlflow_secret_arns) > 0 && alltrue([for a in var.mlflow_secret_arns : can(regex("^arn:[a-z-]+:secretsmanager:", a)) && !strcontains(a, "*")])
    error_message = "mlflow_secret_arns must be full Secrets Manager ARNs, without wildcards."
  }
}

variable "mlflow_pipeline_secret_arn" {
  type        = string
  description = "ARN of the pipeline's MLflow credentials, which the ml-workflows namespace's store reads (with the git token)."

  validation {
    condition     = can(regex("^arn:[a-z-]+:secretsmanager:", var.mlflow_pipeline_secret_arn)) && !strcontains(var.mlflow_pipeline_secret_arn, "*")
    error_message = "mlflow_pipeline_secret_arn must be a full Secrets Manager ARN, without wildcards."
  }
}

variable "mlflow_rollout_secret_arn" {
  type        = string
  description = "ARN of the rollout's MLflow credentials, the only secret the rollout's own store in ml-workflows reads."

  validation {
    condition     = can(regex("^arn:[a-z-]+:secretsmanager:", var.mlflow_rollout_secret_arn)) && !strcontains(var.mlflow_rollout_secret_arn, "*")
    error_message = "mlflow_rollout_secret_arn must be a full Secrets Manager ARN, without wildcards."
  }
}

variable "grafana_admin_secret_arn" {
  type        = string
  description = "ARN of the Grafana admin credentials secret, the only secret the monitoring namespace's SecretStore may read."

  validation {
    condition     = can(regex("^arn:[a-z-]+:secretsmanager:", var.grafana_admin_secret_arn)) && !strcontains(var.grafana_admin_secret_arn, "*")
    error_message = "grafana_admin_secret_arn must be a full Secrets Manager ARN, without wildcards."
  }
}

variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster; the cluster autoscaler may only resize Auto Scaling groups tagged as owned by it."
}

variable "gpu_autoscaling_group_names" {
  type        = list(string)
  description = "Auto Scaling group names of the GPU node groups (output of gpu-cluster): the only groups the cluster autoscaler may resize."
}

variable "service_accounts" {
  type = object({
    mlflow             = optional(object({ namespace = string, name = string }), { namespace = "mlflow", name = "mlflow" })
    workflows          = optional(object({ namespace = string, name = string }), { namespace = "ml-workflows", name = "ml-workflows" })
    kserve             = optional(object({ namespace = string, name = string }), { namespace = "model-serving", name = "kserve-predictor" })
    cluster_autoscaler = optional(object({ namespace = string, name = string }), { namespace = "kube-system", name = "cluster-autoscaler" })
    mlflow_secrets     = optional(object({ namespace = string, name = string }), { namespace = "mlflow", name = "secrets-reader" })
    workflows_secrets  = optional(object({ namespace = string, name = string }), { namespace = "ml-workflows", name = "secrets-reader" })
    monitoring_secrets = optional(object({ namespace = string, name = string }), { namespace = "monitoring", name = "secrets-reader" })
    rollout_secrets    = optional(object({ namespace = string, name = string }), { namespace = "ml-workflows", name = "rollout-secrets-reader" })
  })
  description = "Kubernetes namespace and service account each role trusts (IRSA). The defaults are the ones the platform's charts use."
  default     = {}
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
