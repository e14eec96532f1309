provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project   = var.project
      ManagedBy = "terraform/bootstrap"
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  state_bucket_name = coalesce(var.state_bucket_name, "${var.project}-tfstate-${local.account_id}")

  # The roles and policies made here live under their own IAM path, so their ARNs
  # (arn:aws:iam::<account>:role/<project>-bootstrap/...) never match the deploy roles' role/<project>-<env>*
  # patterns: a deploy role cannot edit itself, its sibling roles or the training role.
  iam_path = "/${var.project}-bootstrap/"
}

################################################################################
# Terraform state bucket (the environments lock with S3 native lock files: no DynamoDB table)
################################################################################

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second bucket; state reads and writes are audited with CloudTrail (the roles reading it are OIDC sessions named per workflow run).
  #checkov:skip=CKV_AWS_144:Cross-region replication is not worth a second region for this project: versioning keeps every previous state, and the stack can be re-imported from AWS.
  #checkov:skip=CKV2_AWS_62:Nothing consumes state object events.
  bucket = local.state_bucket_name

  # Losing the bucket loses every environment's state; destroying it takes a deliberate edit of this line.
  lifecycle {
    prevent_destroy = true
  }
}

# Versioning, SSE-KMS with the AWS managed key aws/s3 (state holds resource attributes, sometimes secrets: decrypts
# are logged in CloudTrail), public access block, ACLs disabled, TLS 1.2+ only, lifecycle. The bucket itself stays
# above because a module input cannot set prevent_destroy (see README, State bucket).
module "state_bucket" {
  # checkov reads the module's aws_s3_bucket even with create_bucket = false; the bucket is aws_s3_bucket.state.
  #checkov:skip=CKV_AWS_18:No bucket is created in this module here (create_bucket = false); aws_s3_bucket.state carries this skip and its reason.
  #checkov:skip=CKV_AWS_144:No bucket is created in this module here (create_bucket = false); aws_s3_bucket.state carries this skip and its reason.
  #checkov:skip=CKV2_AWS_62:No bucket is created in this module here (create_bucket = false); aws_s3_bucket.state carries this skip and its reason.
  source = "../modules/private_bucket"

  create_bucket = false
  bucket_name   = aws_s3_bucket.state.id

  # Versioning is the backup: every apply writes a new state version and a bad one can be restored.
  noncurrent_version_expiration_days = var.state_noncurrent_version_expiration_days
}


################################################################################
# GitHub Actions OIDC identity provider
################################################################################

locals {
  github_oidc_host = "token.actions.githubusercontent.com"

  oidc_provider_arn = (
    var.create_oidc_provider
    ? aws_iam_openid_connect_provider.github[0].arn
    : data.aws_iam_openid_connect_provider.github[0].arn
  )
}

# No thumbprint_list: for GitHub's issuer IAM validates the TLS certificate against its own trusted CAs, and the
# argument is optional in provider 6.
resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.github_oidc_host}"
}
