variable "name" {
  type        = string
  description = "Name prefix for every resource of the network (for example `slipway-dev`)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "cidr" {
  type        = string
  description = "IPv4 CIDR block of the VPC; a /16 or larger. Private subnets take the first /19s of it, public subnets /24s near its top."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && can(regex("/([0-9]|1[0-6])$", var.cidr))
    error_message = "cidr must be a valid IPv4 CIDR block of size /16 or larger."
  }
}

variable "azs" {
  type        = list(string)
  description = "Availability zones to spread the subnets over (2 to 6), named explicitly so that the set never changes when AWS adds a zone."

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 6 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must name 2 to 6 distinct availability zones: EKS and RDS need at least two."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One shared NAT gateway (cheaper, one zone is a single point of failure) instead of one per availability zone."
  default     = false
}

variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster that will use the subnets; it is written into the `kubernetes.io/cluster/<name>` subnet tags."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key that encrypts the VPC flow log group."
}

variable "flow_log_retention_days" {
  type        = number
  description = "Retention of the VPC flow log group, in days."
  default     = 365
}

variable "flow_log_traffic_type" {
  type        = string
  description = "Which traffic the VPC flow log records: `ACCEPT`, `REJECT` or `ALL`."
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
