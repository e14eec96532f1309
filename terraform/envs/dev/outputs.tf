# What users, the smoke test and the deploy workflow read (terraform output -raw <name>).

output "api_url" {
  description = "Base URL of the moderation API (POST /v1/moderate, GET /v1/health)."
  value       = module.stack.api_url
}

output "site_url" {
  description = "URL of the web page."
  value       = module.stack.site_url
}

output "endpoint_name" {
  description = "Name of the SageMaker endpoint."
  value       = module.stack.endpoint_name
}

output "artifact_bucket_name" {
  description = "Bucket that `make publish` uploads models/<version>/ to."
  value       = module.stack.artifact_bucket_name
}

output "lambda_function_name" {
  description = "Name of the API's Lambda function."
  value       = module.stack.lambda_function_name
}

output "site_bucket_name" {
  description = "Private bucket holding the web page's files."
  value       = module.stack.site_bucket_name
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution of the web page (for cache invalidations)."
  value       = module.stack.cloudfront_distribution_id
}
