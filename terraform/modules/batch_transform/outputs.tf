output "bucket_name" {
  description = "Name of the batch bucket."
  value       = module.bucket.bucket_name
}

output "bucket_arn" {
  description = "ARN of the batch bucket."
  value       = module.bucket.bucket_arn
}

output "input_uri" {
  description = "s3://<bucket>/input/: where the CLI's input CSVs and staged JSON Lines go (the only prefix the transform role reads)."
  value       = "s3://${module.bucket.bucket_name}/${local.input_prefix}"
}

output "output_uri" {
  description = "s3://<bucket>/output/: where the transform jobs and the CLI's join write (the only prefix the transform role writes)."
  value       = "s3://${module.bucket.bucket_name}/${local.output_prefix}"
}

output "kms_key_arn" {
  description = "Alias ARN of the KMS key both buckets encrypt with, the AWS managed key aws/s3 (TransformOutput.KmsKeyId)."
  value       = local.kms_key_arn
}

output "transform_role_arn" {
  description = "ARN of the transform role: the ExecutionRoleArn of the CLI's SageMaker models."
  value       = aws_iam_role.transform.arn
}

output "name_prefix" {
  description = "Prefix of the SageMaker models (<prefix>-<model version>) and transform jobs (<prefix>-...) the CLI creates: the only names the operator policy allows."
  value       = local.name_prefix
}

output "operator_policy_arn" {
  description = "ARN of the managed policy holding what toxiguard score --cloud needs of its user; attach it to the people's role."
  value       = aws_iam_policy.operator.arn
}

output "operator_policy_json" {
  description = "The operator policy's document, for granting it where a managed policy of this account cannot be attached (e.g. an inline policy of an IAM Identity Center permission set)."
  value       = data.aws_iam_policy_document.operator.json
}
