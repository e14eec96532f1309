data "aws_caller_identity" "current" {}

locals {
  name = "${var.project}-${var.environment}"

  # Names fixed before their resources exist. The endpoint's blue/green deployment rolls back on monitoring's
  # alarms, and the functions are created after the endpoint, so monitoring must take these names as strings:
  # module.model_endpoint.endpoint_name or module.api.lambda_function_name there would be a dependency cycle
  # (endpoint -> alarms -> function -> endpoint; Terraform orders whole resources, not single for_each instances).
  endpoint_name         = local.name
  lambda_function_name  = local.name
  reviews_function_name = "${local.name}-reviews"

  # Known before the first apply (publish uploads here), unique across accounts; the bootstrap's roles and permissions
  # boundary name both buckets the same way.
  artifact_bucket_name = "${local.name}-artifacts-${data.aws_caller_identity.current.account_id}"
  batch_bucket_name    = "${local.name}-batch-${data.aws_caller_identity.current.account_id}"

  # Hosted UI domain prefixes are unique per region across all accounts: the account ID makes the default so.
  auth_domain_prefix = coalesce(var.auth_domain_prefix, "${local.name}-${data.aws_caller_identity.current.account_id}")
  auth_enabled       = var.auth == "jwt"
}

################################################################################
# Model artifacts and endpoint
################################################################################

module "artifacts" {
  source = "../artifacts"

  bucket_name   = local.artifact_bucket_name
  force_destroy = var.force_destroy_artifacts
  tags          = var.tags
}

module "model_endpoint" {
  source = "../model_endpoint"

  name                 = local.endpoint_name
  model_version        = var.model_version
  artifact_bucket_name = module.artifacts.bucket_name
  artifact_bucket_arn  = module.artifacts.bucket_arn

  serverless         = var.endpoint_serverless
  instance_type      = var.endpoint_instance_type
  instance_count_min = var.endpoint_instance_count_min
  instance_count_max = var.endpoint_instance_count_max
  traffic_routing    = var.endpoint_traffic_routing

  rollback_alarm_names = module.monitoring.endpoint_rollback_alarm_names
  log_retention_days   = var.log_retention_days
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

################################################################################
# Batch scoring (toxiguard score --cloud): SageMaker Batch Transform on the endpoint's image
################################################################################

module "batch_transform" {
  source = "../batch_transform"

  name                         = local.name
  bucket_name                  = local.batch_bucket_name
  artifact_bucket_arn          = module.artifacts.bucket_arn
  serving_image_repository_arn = module.model_endpoint.image_repository_arn

  # Only staged comments and their scores, which expire within days: nothing to keep from a destroy.
  force_destroy        = true
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

################################################################################
# API (Lambda + HTTP API) and web page
################################################################################

module "api" {
  source = "../api"

  name                  = local.lambda_function_name
  reviews_function_name = local.reviews_function_name
  lambda_source_dir     = "${path.module}/../../../lambda"

  # From the endpoint module, so the function is created (and updated) after the endpoint.
  endpoint_name    = module.model_endpoint.endpoint_name
  endpoint_arn     = module.model_endpoint.endpoint_arn
  model_version    = var.model_version
  model_labels     = var.model_labels
  model_thresholds = var.model_thresholds
  # The manifest's block thresholds, with this environment's overrides over them.
  model_block_thresholds = merge(var.model_block_thresholds, var.block_thresholds)

  # Both functions' roles are scoped to this table, its index and its key.
  reviews_table = {
    table_name  = module.reviews_table.table_name
    table_arn   = module.reviews_table.table_arn
    index_arn   = module.reviews_table.index_arn
    kms_key_arn = module.reviews_table.kms_key_arn
  }
  reviews_store_default = var.reviews_store_default
  reviews_ttl_days      = var.reviews_ttl_days

  # The site's origin, not "*": the browser may call the API from the page only.
  allowed_origins        = concat([module.site.site_origin], var.extra_allowed_origins)
  reserved_concurrency   = var.lambda_reserved_concurrency
  log_retention_days     = var.log_retention_days
  throttling_rate_limit  = var.api_throttling_rate_limit
  throttling_burst_limit = var.api_throttling_burst_limit
  permissions_boundary   = var.permissions_boundary_arn

  # Tokens of this pool only, issued to one of its two app clients, with the scopes its resource server defines.
  jwt_authorizer = local.auth_enabled ? {
    issuer   = module.auth[0].user_pool_issuer_url
    audience = [module.auth[0].backend_client_id, module.auth[0].web_client_id]
    scopes   = module.auth[0].resource_server_scopes
  } : null

  tags = var.tags
}

# The distribution depends on api_url (config.js and the CSP's connect-src) and the function's ALLOWED_ORIGINS on
# the distribution; no cycle, because the HTTP API (api_endpoint) depends on neither (the handler does CORS).
module "site" {
  source = "../site"

  name         = local.name
  frontend_dir = "${path.module}/../../../frontend"
  api_url      = module.api.api_endpoint
  price_class  = var.site_price_class

  # The hosted UI domain feeds the CSP and config.js; the web client, whose callback URL is this site's address,
  # feeds config.js only (an S3 object), so the distribution never waits for the client.
  auth_hosted_ui_url = local.auth_enabled ? module.auth[0].hosted_ui_url : null
  auth_client_id     = local.auth_enabled ? module.auth[0].web_client_id : null
  auth_scopes        = local.auth_enabled ? module.auth[0].web_client_scopes : []

  # Everything in the site bucket is generated from the repository, so destroying it loses nothing.
  force_destroy = true
  tags          = var.tags
}

################################################################################
# Review queue
################################################################################

module "reviews_table" {
  source = "../reviews_table"

  name                = "${local.name}-reviews"
  deletion_protection = var.reviews_deletion_protection
  # The monitoring module's topic (null without one): its policy takes alarms named <project>-<environment>-*.
  alarm_topic_arn = module.monitoring.sns_topic_arn
  tags            = var.tags
}

################################################################################
# Sign-in (Cognito), only when the API requires tokens
################################################################################

module "auth" {
  source = "../auth"
  count  = local.auth_enabled ? 1 : 0

  name          = local.name
  domain_prefix = local.auth_domain_prefix
  # The page comes back to itself after signing in and out.
  redirect_urls       = concat([module.site.site_redirect_url], var.auth_extra_redirect_urls)
  deletion_protection = var.auth_deletion_protection
  tags                = var.tags
}

################################################################################
# Monitoring
################################################################################

module "monitoring" {
  source = "../monitoring"

  name                  = local.name
  api_id                = module.api.api_id
  api_stage             = module.api.stage_name
  lambda_function_name  = local.lambda_function_name
  reviews_function_name = local.reviews_function_name
  reviews_table_name    = module.reviews_table.table_name
  endpoint_name         = local.endpoint_name
  variant_name          = module.model_endpoint.variant_name
  # Both functions' Service dimension: the scoring function's name (its default; the api module gives the reviews
  # function the same).
  metrics_service = local.lambda_function_name
  model_labels    = var.model_labels
  alarm_email     = var.alarm_email
  tags            = var.tags
}
