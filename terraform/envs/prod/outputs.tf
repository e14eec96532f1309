# What users, the smoke test and the deploy workflow read (terraform output -raw <name>).

output "api_url" {
  description = "Base URL of the moderation API (POST /v1/moderate, GET /v1/health, /v1/reviews)."
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
  description = "Name of the API's scoring function."
  value       = module.stack.lambda_function_name
}

output "reviews_function_name" {
  description = "Name of the reviews function (the moderators' queue)."
  value       = module.stack.reviews_function_name
}

output "reviews_table_name" {
  description = "DynamoDB table of the review queue (toxiguard export-decisions --table <name>)."
  value       = module.stack.reviews_table_name
}

output "site_bucket_name" {
  description = "Private bucket holding the web page's files."
  value       = module.stack.site_bucket_name
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution of the web page (for cache invalidations)."
  value       = module.stack.cloudfront_distribution_id
}

# What toxiguard score --cloud reads (make score-cloud writes terraform output -json to a file).

output "transform_role_arn" {
  description = "SageMaker execution role of the batch scoring models."
  value       = module.stack.transform_role_arn
}

output "batch_input_uri" {
  description = "s3://<batch bucket>/input/: the input CSVs of toxiguard score --cloud go under it."
  value       = module.stack.batch_input_uri
}

output "batch_output_uri" {
  description = "s3://<batch bucket>/output/: the --out of toxiguard score --cloud goes under it."
  value       = module.stack.batch_output_uri
}

output "batch_kms_key_arn" {
  description = "KMS key of the batch and artifact buckets (alias ARN of aws/s3)."
  value       = module.stack.batch_kms_key_arn
}

output "batch_name_prefix" {
  description = "Prefix of the SageMaker models and transform jobs of toxiguard score --cloud."
  value       = module.stack.batch_name_prefix
}

output "batch_operator_policy_arn" {
  description = "Managed policy with what toxiguard score --cloud needs of its user: attach it to the people who score."
  value       = module.stack.batch_operator_policy_arn
}

output "serving_image_uri" {
  description = "The TensorFlow Serving image of the endpoint and of the batch scoring models."
  value       = module.stack.serving_image_uri
}

# Sign-in (null when auth = "none").

output "auth_user_pool_id" {
  description = "ID of the Cognito user pool (invite moderators with aws cognito-idp admin-create-user)."
  value       = module.stack.auth_user_pool_id
}

output "auth_issuer_url" {
  description = "Issuer of the API's access tokens."
  value       = module.stack.auth_issuer_url
}

output "auth_jwks_url" {
  description = "The user pool's signing keys (the local gateway's AUTH_JWKS_URL)."
  value       = module.stack.auth_jwks_url
}

output "auth_backend_client_id" {
  description = "App client ID for platform backends (client credentials); its secret: see the README."
  value       = module.stack.auth_backend_client_id
}

output "auth_web_client_id" {
  description = "App client ID of the web page (authorization code with PKCE)."
  value       = module.stack.auth_web_client_id
}

output "auth_hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI."
  value       = module.stack.auth_hosted_ui_url
}

output "auth_token_url" {
  description = "OAuth token endpoint for client credentials (TOXIGUARD_TOKEN_URL)."
  value       = module.stack.auth_token_url
}
