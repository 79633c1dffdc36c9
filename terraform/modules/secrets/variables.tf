variable "name" {
  type        = string
  description = "Name prefix of the KMS key alias (`alias/<name>`)."
}

variable "secret_name_prefix" {
  type        = string
  description = "Prefix of every Secrets Manager entry, without a trailing slash (for example `slipway/dev`)."

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]+[^/]$", var.secret_name_prefix))
    error_message = "secret_name_prefix may hold letters, digits and /_+=.@- and must not end with a slash."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before the KMS key is deleted once scheduled for deletion (7 to 30 days)."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted secret can still be restored (0 deletes at once; otherwise 7 to 30)."
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "mlflow_db_username" {
  type        = string
  description = "User name MLflow connects to PostgreSQL with (also the database's master user)."
  default     = "mlflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.mlflow_db_username)) && !contains(["admin", "postgres", "rdsadmin"], var.mlflow_db_username)
    error_message = "mlflow_db_username must be a lower-case PostgreSQL identifier and not a reserved name."
  }
}

variable "mlflow_db_name" {
  type        = string
  description = "Name of the PostgreSQL database MLflow stores its tracking data in."
  default     = "mlflow"
}

variable "mlflow_db_endpoint" {
  type = object({
    host = string
    port = number
  })
  description = "Host and port of the MLflow database, written into the credentials secret once the database exists; null leaves them out."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}

variable "grafana_admin_username" {
  type        = string
  description = "User name of Grafana's admin account (its password is generated)."
  default     = "admin"
}

variable "mlflow_users" {
  type        = map(string)
  description = "MLflow basic-auth users, by role (`admin`, `pipeline`, `rollout`, `metrics`) -> user name; each gets a generated password in its own secret `<prefix>/mlflow/<role>`."
  default = {
    admin    = "admin"
    pipeline = "slipway-pipeline"
    rollout  = "slipway-rollout"
    metrics  = "slipway-metrics"
  }

  validation {
    condition     = alltrue([for role in ["admin", "pipeline", "rollout", "metrics"] : contains(keys(var.mlflow_users), role)]) && alltrue([for name in values(var.mlflow_users) : can(regex("^[A-Za-z0-9_.@-]+$", name))])
    error_message = "mlflow_users must name the admin, pipeline, rollout and metrics users, with user names of letters, digits and _.@- only."
  }
}
