data "aws_partition" "current" {}

locals {
  # A bucket ARN is its name in the partition's s3 namespace (no region, no account): the same whoever created it.
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"

  # Requests the bucket refuses whoever makes them: plain HTTP, and TLS older than 1.2.
  insecure_transport_conditions = {
    DenyInsecureTransport = { test = "Bool", variable = "aws:SecureTransport", value = "false" }
    DenyOutdatedTls       = { test = "NumericLessThan", variable = "s3:TlsVersion", value = "1.2" }
  }
}

################################################################################
# Bucket
################################################################################

# No checkov skips here: the checks this module leaves open (access logging, replication, event notifications,
# and KMS for SSE-S3 callers) are each caller's decision, so each caller skips them on its module block with its
# own reason and checkov pushes those skips down to these resources.
resource "aws_s3_bucket" "this" {
  count = var.create_bucket ? 1 : 0

  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = var.tags
}

# The resources below name the bucket by var.bucket_name, the same for a bucket made here or by the caller, and
# wait for aws_s3_bucket.this through depends_on. (A conditional between the two hides the bucket from checkov's
# checks that follow these resources to their bucket.)

# Versioning makes an overwritten or deleted object recoverable until the lifecycle below expires it.
resource "aws_s3_bucket_versioning" "this" {
  bucket = var.bucket_name

  versioning_configuration {
    status = "Enabled"
  }

  depends_on = [aws_s3_bucket.this]
}

# SSE-KMS uses the AWS managed key aws/s3 (no kms_master_key_id): key use shows in CloudTrail, with no key policy
# to maintain, no monthly key fee and no kms: grants (the managed key trusts every principal of the account that
# calls through S3). The bucket key keeps KMS request costs negligible; SSE-S3 has no use for one.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = var.bucket_name

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = var.sse_algorithm
    }
    bucket_key_enabled = var.sse_algorithm == "aws:kms"
  }

  depends_on = [aws_s3_bucket.this]
}

################################################################################
# Access: private, bucket-owner objects, TLS only
################################################################################

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = var.bucket_name

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true

  depends_on = [aws_s3_bucket.this]
}

# ACLs disabled: the account owns every object, access is decided by IAM and the bucket policy alone.
resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = var.bucket_name

  rule {
    object_ownership = "BucketOwnerEnforced"
  }

  depends_on = [aws_s3_bucket.this]
}

# The caller's statements (e.g. a CloudFront read grant) plus the TLS denies. Statements written here override
# source statements with the same sid, so no caller can replace the TLS denies.
data "aws_iam_policy_document" "this" {
  source_policy_documents = var.policy_documents

  dynamic "statement" {
    for_each = local.insecure_transport_conditions

    content {
      sid       = statement.key
      effect    = "Deny"
      actions   = ["s3:*"]
      resources = [local.bucket_arn, "${local.bucket_arn}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = statement.value.test
        variable = statement.value.variable
        values   = [statement.value.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = var.bucket_name
  policy = data.aws_iam_policy_document.this.json

  # S3 rejects concurrent bucket-level configuration changes; applying the policy after the public access block
  # avoids intermittent OperationAborted / AccessDenied errors on the first apply.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

################################################################################
# Lifecycle
################################################################################

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = var.bucket_name

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    # Empty filter: the rule covers the whole bucket.
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    # Removes a delete marker once every noncurrent version under it has expired: nothing is left to undo.
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Current objects under a prefix expire: each becomes a noncurrent version, which expire-noncurrent-versions removes.
  # For data that is only staged in the bucket, such as the comments of a batch scoring job.
  dynamic "rule" {
    for_each = var.expiration_days_by_prefix

    content {
      id     = "expire-${trimsuffix(rule.key, "/")}"
      status = "Enabled"

      filter {
        prefix = rule.key
      }

      expiration {
        days = rule.value
      }
    }
  }

  # Noncurrent-version rules only make sense once versioning is on.
  depends_on = [aws_s3_bucket_versioning.this]
}
