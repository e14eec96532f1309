output "endpoint_name" {
  description = "Name of the SageMaker endpoint (the Lambda's SAGEMAKER_ENDPOINT_NAME)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint (the only resource the API's role may invoke)."
  value       = aws_sagemaker_endpoint.this.arn
}

output "model_name" {
  description = "Name of the SageMaker model currently configured (\"<name>-<model_version>\")."
  value       = aws_sagemaker_model.this.name
}

output "endpoint_configuration_name" {
  description = "Generated name of the endpoint configuration the endpoint is deployed with."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "execution_role_arn" {
  description = "ARN of the IAM role SageMaker assumes to run the model."
  value       = aws_iam_role.execution.arn
}

output "variant_name" {
  description = "Name of the production variant (dimension VariantName of the endpoint's CloudWatch metrics)."
  value       = local.variant_name
}

output "image_registry_path" {
  description = "Full ECR path of the TensorFlow Serving image the model runs."
  value       = data.aws_sagemaker_prebuilt_ecr_image.tensorflow_serving.registry_path
}

output "image_repository_arn" {
  description = "ARN of the ECR repository of that image (in AWS's regional registry): what a role running the image may pull from."
  value       = local.image_repository_arn
}

output "log_group_name" {
  description = "CloudWatch log group of the endpoint's containers."
  value       = aws_cloudwatch_log_group.endpoint.name
}
