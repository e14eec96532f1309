locals {
  environment = "dev"
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = var.project
      Environment = local.environment
      ManagedBy   = "terraform"
    }
  }
}

################################################################################
# The whole stack: the wiring lives in modules/stack; the sizing below is all that makes this dev
################################################################################

module "stack" {
  source = "../../modules/stack"

  project                = var.project
  environment            = local.environment
  model_version          = var.model_version
  model_labels           = var.model_labels
  model_thresholds       = var.model_thresholds
  model_block_thresholds = var.model_block_thresholds
  block_thresholds       = var.block_thresholds
  reviews_store_default  = var.reviews_store_default
  reviews_ttl_days       = var.reviews_ttl_days
  alarm_email            = var.alarm_email
  extra_allowed_origins  = var.extra_allowed_origins

  auth                     = var.auth
  auth_domain_prefix       = var.auth_domain_prefix
  auth_extra_redirect_urls = var.auth_extra_redirect_urls
  permissions_boundary_arn = var.permissions_boundary_arn

  # A serverless endpoint: billed per request, scales to zero; cold starts are fine here. Its max concurrency
  # equals the function's reserved concurrency, so the function cannot send more concurrent calls than the
  # endpoint takes. Serverless allows ALL_AT_ONCE deployments only (the stack's default traffic routing).
  endpoint_serverless = {
    memory_size_in_mb = 2048
    max_concurrency   = 5
  }
  lambda_reserved_concurrency = 5

  api_throttling_rate_limit  = 20
  api_throttling_burst_limit = 40
  log_retention_days         = 14

  # A throwaway environment: destroy may delete the published models with the bucket, the review queue with its
  # items (and the user pool its accounts, when auth = "jwt").
  force_destroy_artifacts     = true
  auth_deletion_protection    = false
  reviews_deletion_protection = false
}
