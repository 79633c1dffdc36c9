variable "name" {
  type        = string
  description = "Name of the EKS cluster; also the prefix of its IAM roles, launch templates and log group."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane and the node groups (for example `1.35`)."
  default     = "1.35"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as 1.35."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnet IDs (two availability zones or more) for the control-plane network interfaces and the nodes."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key for Kubernetes secrets envelope encryption and the control-plane log group."
}

variable "endpoint_public_access" {
  type        = bool
  description = "Expose the Kubernetes API endpoint publicly (restricted to `endpoint_public_access_cidrs`). false makes the endpoint private: reachable from the VPC only."
  default     = false
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach the public API endpoint. Required, and never `0.0.0.0/0`, when `endpoint_public_access` is true."
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "endpoint_public_access_cidrs must hold valid CIDR blocks and never 0.0.0.0/0."
  }
}

variable "control_plane_log_types" {
  type        = list(string)
  description = "Control-plane log types sent to CloudWatch."
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the control-plane log group, in days."
  default     = 365
}

variable "admin_principal_arns" {
  type        = list(string)
  description = "IAM principal ARNs (roles of the platform team) given cluster-admin through EKS access entries. The identity running Terraform is made admin at creation."
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
  description = "Size of the system node group (Argo CD, controllers, MLflow, Prometheus): instance types, min, max and desired size, root disk."
  default     = {}

  validation {
    condition     = var.system_node_group.min_size >= 1 && var.system_node_group.min_size <= var.system_node_group.desired_size && var.system_node_group.desired_size <= var.system_node_group.max_size
    error_message = "system_node_group needs 1 <= min_size <= desired_size <= max_size."
  }
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
  description = "GPU node groups, keyed by a short name (for example `a10g`). Each scales from zero up to `max_size` (its cap), carries the taint `nvidia.com/gpu=true:NoSchedule` and the labels `slipway.io/node-pool=gpu` and `slipway.io/gpu-node-group=<key>`."

  validation {
    condition     = length(var.gpu_node_groups) >= 1
    error_message = "Define at least one GPU node group."
  }

  validation {
    condition     = alltrue([for k, g in var.gpu_node_groups : can(regex("^[a-z0-9][a-z0-9-]{0,20}$", k))])
    error_message = "GPU node group keys must be short lower-case names (letters, digits, hyphens)."
  }

  validation {
    condition     = alltrue([for g in var.gpu_node_groups : g.max_size >= 1 && g.max_size <= 64])
    error_message = "Each GPU node group needs a size cap (max_size) between 1 and 64."
  }

  validation {
    condition     = alltrue([for g in var.gpu_node_groups : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }

  validation {
    condition     = alltrue([for g in var.gpu_node_groups : can(regex("(NVIDIA|GPU)", g.ami_type))])
    error_message = "GPU node groups need a GPU AMI type (for example AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA)."
  }

  validation {
    condition     = alltrue([for g in var.gpu_node_groups : !contains(keys(g.labels), "slipway.io/node-pool")])
    error_message = "slipway.io/node-pool is set by the module (gpu); do not override it."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
