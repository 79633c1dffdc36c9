# Remote state in S3, encrypted, with S3-native locking (use_lockfile). One state per
# environment, no workspaces: the state key comes from the environment's backend file, the
# bucket and its region (account-specific) from the command line:
#   terraform -chdir=terraform/platform init -reconfigure \
#     -backend-config=../envs/dev.tfbackend \
#     -backend-config="bucket=<state-bucket>" -backend-config="region=<region>"
terraform {
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
