locals {
  environment = "prod"
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
# The whole stack: the wiring lives in modules/stack; the sizing below is all that makes this prod
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

  auth                      = var.auth
  auth_domain_prefix        = var.auth_domain_prefix
  auth_extra_redirect_urls  = var.auth_extra_redirect_urls
  allow_unauthenticated_api = var.allow_unauthenticated_api
  permissions_boundary_arn  = var.permissions_boundary_arn

  # Provisioned instances (no cold starts) with autoscaling, two at least so one Availability Zone can fail.
  # Canary deployments: one of the two new instances (SageMaker caps a canary at 50% of the fleet) takes
  # traffic for 10 minutes under the rollback alarms before the rest shifts.
  endpoint_instance_type      = "ml.c6i.large"
  endpoint_instance_count_min = 2
  endpoint_instance_count_max = 4
  endpoint_traffic_routing = {
    type              = "CANARY"
    step_size_percent = 50
    wait_seconds      = 600
  }
  lambda_reserved_concurrency = 100

  api_throttling_rate_limit  = 200
  api_throttling_burst_limit = 400
  log_retention_days         = 90

  # Published models, moderators' accounts and their decisions outlive a destroy: it stops at the artifact bucket
  # while it holds any, and at the user pool and the review queue's table until their deletion protection is off.
  force_destroy_artifacts     = false
  auth_deletion_protection    = true
  reviews_deletion_protection = true
}
