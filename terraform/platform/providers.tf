provider "aws" {
  region              = var.aws_region
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null

  default_tags {
    tags = local.tags
  }
}

# Both Kubernetes-facing providers authenticate with a short-lived token from the AWS CLI
# (the identity running Terraform), never with a stored credential.
provider "kubernetes" {
  host                   = module.gpu_cluster.cluster_endpoint
  cluster_ca_certificate = base64decode(module.gpu_cluster.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.gpu_cluster.cluster_name, "--region", var.aws_region]
  }
}

provider "helm" {
  kubernetes = {
    host                   = module.gpu_cluster.cluster_endpoint
    cluster_ca_certificate = base64decode(module.gpu_cluster.cluster_certificate_authority_data)

    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.gpu_cluster.cluster_name, "--region", var.aws_region]
    }
  }
}
