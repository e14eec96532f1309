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

  # Dev: a serverless endpoint (billed per request, scales to zero; cold starts are fine here). Its max
  # concurrency equals the function's default reserved concurrency (5), so the function cannot send more
  # concurrent calls than the endpoint takes. Serverless allows ALL_AT_ONCE deployments only.
  endpoint_serverless = {
    memory_size_in_mb = 2048
    max_concurrency   = 5
  }

  # A throwaway environment: destroy may delete the published models with the bucket.
  force_destroy_artifacts = true
}
