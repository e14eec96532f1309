################################################################################
# HTTP API
################################################################################

output "api_endpoint" {
  description = "Base URL of the API, https://<api-id>.execute-api.<region>.amazonaws.com (the $default stage has no path prefix)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "api_id" {
  description = "ID of the HTTP API (the ApiId dimension of its CloudWatch metrics)."
  value       = aws_apigatewayv2_api.this.id
}

output "stage_name" {
  description = "Name of the stage (\"$default\"; the Stage dimension of its CloudWatch metrics)."
  value       = aws_apigatewayv2_stage.default.name
}

output "access_log_group_name" {
  description = "CloudWatch log group of the API's access logs."
  value       = aws_cloudwatch_log_group.access.name
}

################################################################################
# Lambda functions
################################################################################

output "lambda_function_name" {
  description = "Name of the scoring function (moderation, health, preflights)."
  value       = aws_lambda_function.this["scoring"].function_name
}

output "lambda_function_arn" {
  description = "ARN of the scoring function."
  value       = aws_lambda_function.this["scoring"].arn
}

output "lambda_role_arn" {
  description = "ARN of the scoring function's execution role."
  value       = aws_iam_role.lambda["scoring"].arn
}

output "lambda_log_group_name" {
  description = "CloudWatch log group of the scoring function."
  value       = aws_cloudwatch_log_group.lambda["scoring"].name
}

output "reviews_function_name" {
  description = "Name of the reviews function (the moderators' queue)."
  value       = aws_lambda_function.this["reviews"].function_name
}

output "reviews_function_arn" {
  description = "ARN of the reviews function."
  value       = aws_lambda_function.this["reviews"].arn
}

output "reviews_role_arn" {
  description = "ARN of the reviews function's execution role."
  value       = aws_iam_role.lambda["reviews"].arn
}

output "reviews_log_group_name" {
  description = "CloudWatch log group of the reviews function."
  value       = aws_cloudwatch_log_group.lambda["reviews"].name
}
