variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster the node group joins; also the prefix of the launch template's name and of the instances' Name tag."
}

variable "name" {
  type        = string
  description = "Name of the EKS node group (for example `system` or `gpu-a10g`)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be up to 31 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the nodes (the control plane's)."
}

variable "node_role_arn" {
  type        = string
  description = "ARN of the IAM role the nodes run as."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnet IDs the nodes are placed in."
}

variable "ami_type" {
  type        = string
  description = "EKS AMI type of the nodes (for example `AL2023_x86_64_STANDARD` or `AL2023_x86_64_NVIDIA`). A `BOTTLEROCKET_*` type gets its data volume (`/dev/xvdb`) sized and encrypted instead of the root volume."
}

variable "capacity_type" {
  type        = string
  description = "`ON_DEMAND` or `SPOT`."
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.capacity_type)
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "instance_types" {
  type        = list(string)
  description = "EC2 instance types the node group may launch, in order of preference."

  validation {
    condition     = length(var.instance_types) >= 1
    error_message = "Name at least one instance type."
  }
}

variable "min_size" {
  type        = number
  description = "Fewest nodes the group keeps (0 lets it scale to zero)."
}

variable "max_size" {
  type        = number
  description = "Most nodes the group may grow to: its size cap."
}

variable "desired_size" {
  type        = number
  description = "Nodes at creation; afterwards the cluster autoscaler owns the size (Terraform ignores changes to it)."

  validation {
    condition     = var.min_size >= 0 && var.min_size <= var.desired_size && var.desired_size <= var.max_size && var.max_size >= 1
    error_message = "The node group needs 0 <= min_size <= desired_size <= max_size and max_size >= 1."
  }
}

variable "disk_size_gb" {
  type        = number
  description = "Size of the nodes' encrypted gp3 volume, in GiB."
}

variable "labels" {
  type        = map(string)
  description = "Kubernetes labels every node of the group carries."
  default     = {}
}

variable "taints" {
  type = list(object({
    key    = string
    value  = string
    effect = string
  }))
  description = "Kubernetes taints every node of the group carries; `effect` in EKS form (`NO_SCHEDULE`, `NO_EXECUTE`, `PREFER_NO_SCHEDULE`)."
  default     = []

  validation {
    condition     = alltrue([for t in var.taints : contains(["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"], t.effect)])
    error_message = "A taint's effect must be NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the launch template, the node group, and the instances and volumes it launches."
  default     = {}
}
