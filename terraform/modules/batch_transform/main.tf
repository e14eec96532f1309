data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # The layout `toxiguard score --cloud` works in: the user's CSVs and the JSON Lines it stages from them under input/,
  # the job's predictions and the joined CSVs under output/. The role reads only the one and writes only the other.
  input_prefix  = "input/"
  output_prefix = "output/"

  # SageMaker models (<name_prefix>-<model version>) and transform jobs (<name_prefix>-...) the CLI creates: the
  # operator policy allows no other names, and the role writes only to these jobs' log streams. Lowercase, like the
  # ARNs SageMaker makes of the names.
  name_prefix = "${var.name}-batch"

  # SageMaker writes every transform job's container logs to this account-wide group (streams
  # <job name>/<instance id>-<time>) and creates the group if it is missing. Every environment of the account shares
  # it, so no environment's Terraform owns it.
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TransformJobs"

  # Both buckets are private_bucket's SSE-KMS with the AWS managed key aws/s3, whose key ID differs per account and
  # region; KMS, S3 and SageMaker (TransformOutput.KmsKeyId) take its alias ARN wherever a key is named.
  kms_key_arn = "arn:${local.partition}:kms:${local.region}:${local.account_id}:alias/aws/s3"
}

################################################################################
# Bucket: input/ and output/ of the transform jobs
################################################################################

module "bucket" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second log bucket; the objects are staging copies of the user's CSVs and their scores, which expire within days. Enable CloudTrail S3 data events on this bucket if object-level audit is required.
  #checkov:skip=CKV_AWS_144:Cross-region replication would copy comment text to a second region for no gain: everything here is regenerated from the user's CSVs by running the job again.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events: the CLI starts the job and polls it.
  source = "../private_bucket"

  bucket_name   = var.bucket_name
  force_destroy = var.force_destroy

  # Comment text is only staged here: the inputs and outputs expire after object_expiration_days, and whatever
  # expires, is deleted or is overwritten is gone for good a day later. Unfinished uploads are dropped after a day.
  expiration_days_by_prefix = {
    (local.input_prefix)  = var.object_expiration_days
    (local.output_prefix) = var.object_expiration_days
  }
  noncurrent_version_expiration_days     = 1
  abort_incomplete_multipart_upload_days = 1

  tags = var.tags
}

################################################################################
# Transform role: SageMaker's execution role for the CLI's models
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "SageMakerAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    # Confused-deputy guard: only SageMaker acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "transform" {
  name                 = "${var.name}-sagemaker-transform"
  description          = "Lets SageMaker batch transform jobs of ${var.name} read input/ of the batch bucket and the published model archives, write output/, pull the serving image and write their logs."
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

# S3 calls KMS as its caller: GenerateDataKey to write, Decrypt to read and to complete a multipart upload
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html). Only through S3, and only for the
# objects of these two buckets: with a bucket key (private_bucket turns it on) S3 passes the bucket's ARN as encryption
# context, without one the object's (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html). The
# conditions name the key: the AWS managed key's ARN is not known without a lookup. Shared by the role and the operator.
data "aws_iam_policy_document" "bucket_keys" {
  statement {
    sid       = "UseBucketKeysThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [module.bucket.bucket_arn, "${module.bucket.bucket_arn}/*", var.artifact_bucket_arn, "${var.artifact_bucket_arn}/*"]
    }
  }
}

# What SageMaker does as this role while a transform job runs
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createtransformjob-perms),
# held to this stack's prefixes, model archives, serving image and log streams.
data "aws_iam_policy_document" "transform" {
  source_policy_documents = [data.aws_iam_policy_document.bucket_keys.json]

  # The job lists the staging prefix it is given (S3DataType S3Prefix), which the CLI puts under input/.
  statement {
    sid       = "ListBatchInput"
    actions   = ["s3:ListBucket"]
    resources = [module.bucket.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.input_prefix}*"]
    }
  }

  statement {
    sid       = "ReadBatchInput"
    actions   = ["s3:GetObject"]
    resources = ["${module.bucket.bucket_arn}/${local.input_prefix}*"]
  }

  # The published models' archives (the model's ModelDataUrl): not their manifests, not the rest of the bucket.
  statement {
    sid       = "ReadModelArchives"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifact_bucket_arn}/models/*/model.tar.gz"]
  }

  # Large outputs go up in parts, each a PutObject; AbortMultipartUpload clears the parts of a failed upload.
  statement {
    sid       = "WriteBatchOutput"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${module.bucket.bucket_arn}/${local.output_prefix}*"]
  }

  # The same image as the endpoint's, from AWS's regional registry.
  statement {
    sid       = "PullServingImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [var.serving_image_repository_arn]
  }

  # GetAuthorizationToken supports no resource-level permissions; the token opens only the repository above.
  statement {
    sid       = "GetEcrAuthorizationToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "CreateTransformLogStreams"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"]
    resources = [local.log_group_arn, "${local.log_group_arn}:*"]
  }

  # Log events only into the streams of this stack's jobs (named after the job): not into another environment's.
  statement {
    sid       = "WriteTransformLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:log-stream:${local.name_prefix}-*"]
  }

  # The instances' CPU, memory and disk metrics. PutMetricData has no resource-level permissions; the namespace
  # condition is its scope.
  statement {
    sid       = "PublishTransformMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TransformJobs"]
    }
  }
}

resource "aws_iam_role_policy" "transform" {
  name   = "batch-transform"
  role   = aws_iam_role.transform.id
  policy = data.aws_iam_policy_document.transform.json
}

################################################################################
# Operator policy: what `toxiguard score --cloud` does with its user's credentials
################################################################################

# Attached by whoever administers the team's access (to their role, group, or an IAM Identity Center permission set
# as a customer managed policy): the stack's deploy role may create it but attach it to none of these.
data "aws_iam_policy_document" "operator" {
  source_policy_documents = [data.aws_iam_policy_document.bucket_keys.json]

  # A model per published version, reused by every later job of that version.
  statement {
    sid       = "BatchModels"
    actions   = ["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags"]
    resources = ["arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:model/${local.name_prefix}-*"]
  }

  statement {
    sid = "TransformJobs"
    actions = [
      "sagemaker:CreateTransformJob",
      "sagemaker:DescribeTransformJob",
      "sagemaker:StopTransformJob",
      "sagemaker:AddTags",
    ]
    resources = ["arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:transform-job/${local.name_prefix}-*"]
  }

  # CreateModel hands SageMaker the transform role: that role only, and to SageMaker only.
  statement {
    sid       = "PassTransformRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.transform.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  # The user's CSVs and the staged JSON Lines under input/; the job's predictions and the joined CSVs under output/.
  statement {
    sid       = "ListBatchPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [module.bucket.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.input_prefix}*", "${local.output_prefix}*"]
    }
  }

  statement {
    sid       = "ReadWriteBatchPrefixes"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${module.bucket.bucket_arn}/${local.input_prefix}*", "${module.bucket.bucket_arn}/${local.output_prefix}*"]
  }

  # The published versions (the newest is the default) and their manifests: labels and thresholds for the join.
  statement {
    sid       = "ListPublishedModels"
    actions   = ["s3:ListBucket"]
    resources = [var.artifact_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["models/*"]
    }
  }

  statement {
    sid       = "ReadPublishedManifests"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifact_bucket_arn}/models/*/manifest.json"]
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${var.name}-batch-operator"
  description = "Run toxiguard score --cloud on ${var.name}: SageMaker models and transform jobs named ${local.name_prefix}-*, the transform role passed to SageMaker only, input/ and output/ of the batch bucket, the published manifests."
  policy      = data.aws_iam_policy_document.operator.json

  tags = var.tags
}
