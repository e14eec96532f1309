# Remote state in S3 with S3-native locking. Partial configuration: the bucket, key and region come from
# backend.hcl (copy backend.hcl.example), so no account-specific value is committed.
#   terraform init -backend-config=backend.hcl
terraform {
  backend "s3" {}
}
