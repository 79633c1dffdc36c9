variable "name" {
  type        = string
  description = "Name prefix of the buckets; the account ID is appended so that names are globally unique (`<name>-<purpose>-<account>`)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or hyphens."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key the datasets and artifacts buckets are encrypted with (SSE-KMS)."
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets. Keep false outside throw-away environments."
  default     = false
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which non-current object versions in the datasets and artifacts buckets are deleted."
  default     = 90
}

variable "transition_to_ia_days" {
  type        = number
  description = "Days after which current objects in the datasets and artifacts buckets move to STANDARD_IA (30 or more)."
  default     = 90

  validation {
    condition     = var.transition_to_ia_days >= 30
    error_message = "S3 requires objects to be at least 30 days old before a STANDARD_IA transition."
  }
}

variable "access_log_expiration_days" {
  type        = number
  description = "Days after which S3 server access logs are deleted from the log bucket."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
