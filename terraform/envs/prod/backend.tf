# Remote state in S3, encrypted, with S3-native locking (use_lockfile). The bucket and its
# region are account-specific, so they are given at init time, never written here:
#   terraform init -backend-config="bucket=<state-bucket>" -backend-config="region=<region>"
terraform {
  backend "s3" {
    key          = "slipway/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
