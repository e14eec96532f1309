################################################################################
# Bucket
################################################################################

# SSE-KMS with the AWS managed key and a bucket key (private_bucket's default): see README, Design notes.
module "bucket" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second log bucket for little value here; enable CloudTrail S3 data events on this bucket if object-level audit is required.
  #checkov:skip=CKV_AWS_144:Cross-region replication is not needed: every artifact is rebuilt from git plus the training data and re-published by CI.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events; deployment reads the version from Terraform inputs, not from S3 notifications.
  source = "../private_bucket"

  bucket_name   = var.bucket_name
  force_destroy = var.force_destroy

  noncurrent_version_expiration_days     = var.noncurrent_version_expiration_days
  abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days

  tags = var.tags
}
