################################################################################
# What users and the smoke test need
################################################################################

output "api_url" {
  description = "Base URL of the moderation API (POST /v1/moderate, GET /v1/health)."
  value       = module.api.api_endpoint
}

output "site_url" {
  description = "URL of the web page."
  value       = module.site.site_url
}

output "endpoint_name" {
  description = "Name of the SageMaker endpoint."
  value       = module.model_endpoint.endpoint_name
}

################################################################################
# What the deploy pipeline needs
################################################################################

output "artifact_bucket_name" {
  description = "Bucket that `make publish` uploads models/<version>/ to."
  value       = module.artifacts.bucket_name
}

output "lambda_function_name" {
  description = "Name of the API's Lambda function (its logs: /aws/lambda/<name>)."
  value       = module.api.lambda_function_name
}

output "site_bucket_name" {
  description = "Private bucket holding the web page's files."
  value       = module.site.bucket_name
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution of the web page (for cache invalidations after an upload)."
  value       = module.site.cloudfront_distribution_id
}
