variable "environment" {
  type        = string
  description = "Environment name (`dev`, `prod`); published as `slipway.io/environment` and used by Argo CD to pick `values/<env>/`."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be a short lower-case name."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS region of the platform; published as `slipway.io/aws-region`."
}

variable "argocd_namespace" {
  type        = string
  description = "Namespace Argo CD is installed in."
  default     = "argocd"
}

variable "argocd_chart_version" {
  type        = string
  description = "Exact version of the argo-cd Helm chart."
  default     = "10.1.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_chart_version))
    error_message = "argocd_chart_version must be an exact version (x.y.z), not a range."
  }
}

variable "argocd_values" {
  type        = list(string)
  description = "Extra values documents (YAML) for the argo-cd chart, applied after the module's own."
  default     = []
}

variable "node_selector" {
  type        = map(string)
  description = "Node selector of the Argo CD pods (the system node group)."
  default     = { "slipway.io/node-pool" = "system" }
}

variable "cluster_secret_name" {
  type        = string
  description = "Name of the Argo CD cluster Secret, and the cluster name Argo CD shows. `in-cluster` replaces Argo CD's implicit local cluster."
  default     = "in-cluster"
}

variable "artifacts_bucket_name" {
  type        = string
  description = "Name of the artifacts bucket; published as `slipway.io/artifacts-bucket`."
}

variable "datasets_bucket_name" {
  type        = string
  description = "Name of the datasets bucket; published as `slipway.io/datasets-bucket`."
}

variable "mlflow_role_arn" {
  type        = string
  description = "ARN of the MLflow IRSA role; published as `slipway.io/mlflow-role-arn`."
}

variable "workflows_role_arn" {
  type        = string
  description = "ARN of the workflows IRSA role; published as `slipway.io/workflows-role-arn`."
}

variable "kserve_role_arn" {
  type        = string
  description = "ARN of the KServe predictor IRSA role; published as `slipway.io/kserve-role-arn`."
}

variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster; published as `slipway.io/cluster-name` (the cluster autoscaler discovers its node groups by it)."
}

variable "cluster_autoscaler_role_arn" {
  type        = string
  description = "ARN of the cluster autoscaler IRSA role; published as `slipway.io/cluster-autoscaler-role-arn`."
}

variable "secret_reader_role_arns" {
  type = object({
    mlflow     = string
    workflows  = string
    monitoring = string
    rollout    = string
  })
  description = "ARN of each namespace's secret reader IRSA role (its SecretStore's identity); published as `slipway.io/{mlflow,workflows,monitoring,rollout}-secrets-role-arn`."
}

variable "mlflow_user_secret_names" {
  type = object({
    admin    = string
    pipeline = string
    rollout  = string
    metrics  = string
  })
  description = "Secrets Manager names of MLflow's users' credentials; published as `slipway.io/mlflow-{admin,pipeline,rollout,metrics}-secret-name`."
}

variable "grafana_admin_secret_name" {
  type        = string
  description = "Secrets Manager name of Grafana's admin credentials; published as `slipway.io/grafana-admin-secret-name`."
}

variable "mlflow_db_secret_name" {
  type        = string
  description = "Secrets Manager name of the MLflow database credentials; published as `slipway.io/mlflow-db-secret-name`."
}

variable "mlflow_flask_secret_name" {
  type        = string
  description = "Secrets Manager name of the MLflow Flask secret key; published as `slipway.io/mlflow-flask-secret-name`."
}

variable "git_token_secret_name" {
  type        = string
  description = "Secrets Manager name of the git token; published as `slipway.io/git-token-secret-name`."
}

variable "extra_annotations" {
  type        = map(string)
  description = "Additional annotations for the cluster Secret; they cannot override the `slipway.io/` keys the module sets."
  default     = {}
}

variable "bootstrap" {
  type = object({
    repo_url        = string
    target_revision = optional(string, "main")
    path            = optional(string, "argocd")
    include         = optional(string, "{projects/*.yaml,bootstrap/*.yaml}")
    project         = optional(string, "default")
  })
  description = "The Application Argo CD starts from: it syncs the AppProjects and the root app of apps (`argocd/projects/`, `argocd/bootstrap/`) from this repository and revision. null installs Argo CD without it."
  default     = null
}

variable "argocd_apps_chart_version" {
  type        = string
  description = "Exact version of the argocd-apps Helm chart that creates the bootstrap Application."
  default     = "2.0.5"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_apps_chart_version))
    error_message = "argocd_apps_chart_version must be an exact version (x.y.z), not a range."
  }
}
