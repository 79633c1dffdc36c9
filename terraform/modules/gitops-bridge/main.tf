# The GitOps Bridge: Terraform knows the account-specific values (role ARNs, bucket and
# secret names, region); Argo CD reads them from annotations on its cluster Secret, so that
# nothing account-specific is written in argocd/.

locals {
  helm_repository = "https://argoproj.github.io/argo-helm"

  annotations = merge(var.extra_annotations, {
    "slipway.io/environment"                 = var.environment
    "slipway.io/aws-region"                  = var.aws_region
    "slipway.io/artifacts-bucket"            = var.artifacts_bucket_name
    "slipway.io/datasets-bucket"             = var.datasets_bucket_name
    "slipway.io/mlflow-role-arn"             = var.mlflow_role_arn
    "slipway.io/workflows-role-arn"          = var.workflows_role_arn
    "slipway.io/kserve-role-arn"             = var.kserve_role_arn
    "slipway.io/mlflow-db-secret-name"       = var.mlflow_db_secret_name
    "slipway.io/mlflow-flask-secret-name"    = var.mlflow_flask_secret_name
    "slipway.io/git-token-secret-name"       = var.git_token_secret_name
    "slipway.io/grafana-admin-secret-name"   = var.grafana_admin_secret_name
    "slipway.io/cluster-name"                = var.cluster_name
    "slipway.io/cluster-autoscaler-role-arn" = var.cluster_autoscaler_role_arn
    "slipway.io/mlflow-secrets-role-arn"     = var.secret_reader_role_arns.mlflow
    "slipway.io/workflows-secrets-role-arn"  = var.secret_reader_role_arns.workflows
    "slipway.io/monitoring-secrets-role-arn" = var.secret_reader_role_arns.monitoring
    "slipway.io/rollout-secrets-role-arn"    = var.secret_reader_role_arns.rollout
    "slipway.io/mlflow-admin-secret-name"    = var.mlflow_user_secret_names.admin
    "slipway.io/mlflow-pipeline-secret-name" = var.mlflow_user_secret_names.pipeline
    "slipway.io/mlflow-rollout-secret-name"  = var.mlflow_user_secret_names.rollout
    "slipway.io/mlflow-metrics-secret-name"  = var.mlflow_user_secret_names.metrics
  })

  labels = {
    "argocd.argoproj.io/secret-type" = "cluster"
    "slipway.io/environment"         = var.environment
  }
}

resource "helm_release" "argocd" {
  name             = "argocd"
  repository       = local.helm_repository
  chart            = "argo-cd"
  version          = var.argocd_chart_version
  namespace        = var.argocd_namespace
  create_namespace = true
  wait             = true
  timeout          = 600

  values = concat([yamlencode({
    global = {
      nodeSelector = var.node_selector
    }
    # SSO is configured by the platform team through argocd_values; no Dex by default.
    dex = {
      enabled = false
    }
    configs = {
      params = {
        "server.insecure" = false
      }
    }
  })], var.argocd_values)
}

resource "kubernetes_secret_v1" "cluster" {
  metadata {
    name        = var.cluster_secret_name
    namespace   = var.argocd_namespace
    labels      = local.labels
    annotations = local.annotations
  }

  data = {
    name   = var.cluster_secret_name
    server = "https://kubernetes.default.svc"
    config = jsonencode({ tlsClientConfig = { insecure = false } })
  }

  depends_on = [helm_release.argocd]
}

resource "helm_release" "bootstrap" {
  count = var.bootstrap == null ? 0 : 1

  name       = "argocd-bootstrap"
  repository = local.helm_repository
  chart      = "argocd-apps"
  version    = var.argocd_apps_chart_version
  namespace  = var.argocd_namespace

  values = [yamlencode({
    applications = {
      slipway-bootstrap = {
        namespace  = var.argocd_namespace
        project    = var.bootstrap.project
        finalizers = ["resources-finalizer.argocd.argoproj.io"]
        source = {
          repoURL        = var.bootstrap.repo_url
          targetRevision = var.bootstrap.target_revision
          path           = var.bootstrap.path
          directory = {
            recurse = true
            include = var.bootstrap.include
          }
        }
        destination = {
          server    = "https://kubernetes.default.svc"
          namespace = var.argocd_namespace
        }
        syncPolicy = {
          automated = {
            prune    = true
            selfHeal = true
          }
        }
      }
    }
  })]

  depends_on = [kubernetes_secret_v1.cluster]
}
