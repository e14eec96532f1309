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
# The whole stack (wiring lives in modules/stack; this root only sets values)
################################################################################

module "stack" {
  source = "../../modules/stack"

  project     = var.project
  environment = local.environment

  model_version    = var.model_version
  model_labels     = var.model_labels
  model_thresholds = var.model_thresholds

  alarm_email           = var.alarm_email
  extra_allowed_origins = var.extra_allowed_origins

  lambda_reserved_concurrency = var.lambda_reserved_concurrency
  api_throttling_rate_limit   = var.api_throttling_rate_limit
  api_throttling_burst_limit  = var.api_throttling_burst_limit
  log_retention_days          = var.log_retention_days

  # Prod: provisioned instances (no cold starts) with autoscaling, two at least so one Availability Zone can
  # fail. Canary deployments: one of the two new instances (SageMaker caps a canary at 50% of the fleet) takes
  # traffic for 10 minutes under the rollback alarms before the rest shifts.
  endpoint_instance_type      = "ml.c6i.large"
  endpoint_instance_count_min = 2
  endpoint_instance_count_max = 4
  endpoint_traffic_routing = {
    type              = "CANARY"
    step_size_percent = 50
    wait_seconds      = 600
  }
}
