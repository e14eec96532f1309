################################################################################
# Bucket
################################################################################

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second log bucket for little value here; enable CloudTrail S3 data events on this bucket if object-level audit is required.
  #checkov:skip=CKV_AWS_144:Cross-region replication is not needed: every artifact is rebuilt from git plus the training data and re-published by CI.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events; deployment reads the version from Terraform inputs, not from S3 notifications.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = var.tags
}

# Versioning keeps a previous model recoverable even if a key is overwritten by mistake.
resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

# SSE-KMS with the AWS managed key aws/s3: KMS-managed keys whose use shows in CloudTrail, without a key policy
# to maintain, a monthly key fee or extra IAM grants (the managed key trusts every principal of the account that
# calls through S3). The bucket key keeps KMS request costs negligible.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

################################################################################
# Access: private, bucket-owner objects, TLS only
################################################################################

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs disabled: the account owns every object, access is decided by IAM and the bucket policy alone.
resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  # S3 rejects concurrent bucket-level configuration changes; applying the policy after the public access block
  # avoids intermittent OperationAborted / AccessDenied errors on the first apply.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

################################################################################
# Lifecycle
################################################################################

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    # Empty filter: the rule covers the whole bucket.
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    # Published models stay current (each version has its own keys); this only cleans up the delete markers
    # left behind once every noncurrent version under them has expired.
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

  # Lifecycle rules on a versioned bucket only make sense once versioning is on.
  depends_on = [aws_s3_bucket_versioning.this]
}
