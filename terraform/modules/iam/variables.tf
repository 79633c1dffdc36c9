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

variable "platform_secret_arns" {
  type        = list(string)
  description = "ARNs of exactly the secrets External Secrets may read (the platform's secrets, and no others)."

  validation {
    condition     = length(var.platform_secret_arns) > 0 && alltrue([for a in var.platform_secret_arns : can(regex("^arn:[a-z-]+:secretsmanager:", a)) && !strcontains(a, "*")])
    error_message = "platform_secret_arns must be full Secrets Manager ARNs, without wildcards."
  }
}

variable "service_accounts" {
  type = object({
    mlflow           = optional(object({ namespace = string, name = string }), { namespace = "mlflow", name = "mlflow" })
    workflows        = optional(object({ namespace = string, name = string }), { namespace = "ml-workflows", name = "ml-workflows" })
    kserve           = optional(object({ namespace = string, name = string }), { namespace = "model-serving", name = "kserve-predictor" })
    external_secrets = optional(object({ namespace = string, name = string }), { namespace = "external-secrets", name = "external-secrets" })
  })
  description = "Kubernetes namespace and service account each role trusts (IRSA). The defaults are the ones the platform's charts use."
  default     = {}
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
