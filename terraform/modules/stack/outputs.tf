################################################################################
# What users and the smoke test need
################################################################################

output "api_url" {
  description = "Base URL of the moderation API (POST /v1/moderate, GET /v1/health, /v1/reviews)."
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
  description = "Name of the API's scoring function (its logs: /aws/lambda/<name>)."
  value       = module.api.lambda_function_name
}

output "reviews_function_name" {
  description = "Name of the reviews function, the moderators' queue (its logs: /aws/lambda/<name>)."
  value       = module.api.reviews_function_name
}

output "reviews_table_name" {
  description = "DynamoDB table of the review queue (toxiguard export-decisions --table <name>)."
  value       = module.reviews_table.table_name
}

output "site_bucket_name" {
  description = "Private bucket holding the web page's files."
  value       = module.site.bucket_name
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution of the web page (for cache invalidations after an upload)."
  value       = module.site.cloudfront_distribution_id
}

################################################################################
# What toxiguard score --cloud reads (terraform output -json)
################################################################################

output "transform_role_arn" {
  description = "SageMaker execution role of the batch scoring models: reads batch_input_uri and the model archives, writes batch_output_uri."
  value       = module.batch_transform.transform_role_arn
}

output "batch_input_uri" {
  description = "s3://<batch bucket>/input/: the input CSVs of toxiguard score --cloud go under it."
  value       = module.batch_transform.input_uri
}

output "batch_output_uri" {
  description = "s3://<batch bucket>/output/: the --out of toxiguard score --cloud goes under it."
  value       = module.batch_transform.output_uri
}

output "batch_kms_key_arn" {
  description = "KMS key of the batch and artifact buckets (alias ARN of the AWS managed key aws/s3): the transform job's output KmsKeyId."
  value       = module.batch_transform.kms_key_arn
}

output "batch_name_prefix" {
  description = "Prefix of the SageMaker models (<prefix>-<model version>) and transform jobs (<prefix>-...) of toxiguard score --cloud: the only names batch_operator_policy_arn allows."
  value       = module.batch_transform.name_prefix
}

output "batch_operator_policy_arn" {
  description = "Managed policy with what toxiguard score --cloud needs of its user (SageMaker models and jobs, passing the transform role, the batch bucket): attach it to the people who score."
  value       = module.batch_transform.operator_policy_arn
}

output "serving_image_uri" {
  description = "The TensorFlow Serving image the endpoint runs, and the batch scoring models with it."
  value       = module.model_endpoint.image_registry_path
}

################################################################################
# Sign-in (null when auth = "none")
################################################################################

output "auth_user_pool_id" {
  description = "ID of the Cognito user pool (invite moderators with aws cognito-idp admin-create-user); null when auth = \"none\"."
  value       = one(module.auth[*].user_pool_id)
}

output "auth_issuer_url" {
  description = "Issuer of the API's access tokens (the JWT authorizer's issuer); null when auth = \"none\"."
  value       = one(module.auth[*].user_pool_issuer_url)
}

output "auth_jwks_url" {
  description = "The user pool's signing keys, for checking tokens outside API Gateway (the local gateway's AUTH_JWKS_URL); null when auth = \"none\"."
  value       = one(module.auth[*].user_pool_jwks_url)
}

output "auth_backend_client_id" {
  description = "App client ID for platform backends (client credentials, scope toxiguard/moderate); read its secret with the AWS CLI (README). null when auth = \"none\"."
  value       = one(module.auth[*].backend_client_id)
}

output "auth_web_client_id" {
  description = "App client ID of the web page (authorization code with PKCE); null when auth = \"none\"."
  value       = one(module.auth[*].web_client_id)
}

output "auth_hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI (sign-in page and OAuth endpoints); null when auth = \"none\"."
  value       = one(module.auth[*].hosted_ui_url)
}

output "auth_token_url" {
  description = "OAuth token endpoint for client credentials, https://<prefix>.auth.<region>.amazoncognito.com/oauth2/token; null when auth = \"none\"."
  value       = one(module.auth[*].token_endpoint_url)
}
