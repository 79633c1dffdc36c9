variable "name" {
  type        = string
  description = "Identifier of the RDS instance and prefix of its subnet group, parameter group, security group and monitoring role."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,50}[a-z0-9]$", var.name))
    error_message = "name must be lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "ID of the VPC the database runs in."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnet IDs (two availability zones or more) for the database subnet group."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An RDS subnet group needs subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups allowed to connect on the PostgreSQL port (the cluster's node security group)."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key for storage, Performance Insights and the log groups."
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL major version (minor versions are upgraded automatically)."
  default     = "17"

  validation {
    condition     = can(regex("^[0-9]{2}$", var.engine_version))
    error_message = "engine_version must be a PostgreSQL major version such as 17."
  }
}

variable "instance_class" {
  type        = string
  description = "RDS instance class."
  default     = "db.t4g.medium"
}

variable "allocated_storage_gb" {
  type        = number
  description = "Initial storage, in GiB."
  default     = 20
}

variable "max_allocated_storage_gb" {
  type        = number
  description = "Upper limit of storage autoscaling, in GiB."
  default     = 100
}

variable "multi_az" {
  type        = bool
  description = "Run a synchronous standby in a second availability zone."
  default     = true
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the instance until this is turned off."
  default     = true
}

variable "backup_retention_days" {
  type        = number
  description = "Days automated backups are kept (1 to 35)."
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35: automated backups stay on."
  }
}

variable "backup_window" {
  type        = string
  description = "Daily UTC window for automated backups (hh24:mi-hh24:mi)."
  default     = "02:00-03:00"
}

variable "maintenance_window" {
  type        = string
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi)."
  default     = "sun:03:30-sun:04:30"
}

variable "monitoring_interval_seconds" {
  type        = number
  description = "Enhanced Monitoring interval in seconds (1, 5, 10, 15, 30 or 60)."
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval_seconds)
    error_message = "monitoring_interval_seconds must be 1, 5, 10, 15, 30 or 60."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the database's CloudWatch log groups, in days."
  default     = 365
}

variable "db_name" {
  type        = string
  description = "Name of the database created in the instance."
  default     = "mlflow"
}

variable "username" {
  type        = string
  description = "Master user name."
  default     = "mlflow"
}

variable "password" {
  type        = string
  description = "Master password, from the secrets module (sensitive; never output)."
  sensitive   = true
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
