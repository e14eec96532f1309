output "state_bucket_name" {
  description = "S3 bucket for the environments' Terraform state (GitHub variable TF_STATE_BUCKET; bucket in each backend.hcl)."
  value       = aws_s3_bucket.state.id
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider for GitHub Actions (created here or looked up)."
  value       = local.oidc_provider_arn
}

output "plan_role_arns" {
  description = "Plan role ARN per environment (GitHub repository variables AWS_PLAN_ROLE_ARN_<ENV>)."
  value       = { for env in var.environments : env => aws_iam_role.github["plan/${env}"].arn }
}

output "deploy_role_arns" {
  description = "Deploy role ARN per environment (GitHub environment variable AWS_DEPLOY_ROLE_ARN of that environment)."
  value       = { for env in var.environments : env => aws_iam_role.github["deploy/${env}"].arn }
}

output "permissions_boundary_arns" {
  description = "Permissions boundary per environment, which every IAM role of that environment's stack must carry (the environment root's permissions_boundary_arn; GitHub repository variables PERMISSIONS_BOUNDARY_ARN_<ENV>)."
  value       = { for env in var.environments : env => aws_iam_policy.permissions_boundary[env].arn }
}

output "training_role_arn" {
  description = "SageMaker training execution role ARN (GitHub repository variable SAGEMAKER_TRAINING_ROLE_ARN_<TRAINING ENV>); null unless enable_cloud_training."
  value       = one(aws_iam_role.training[*].arn)
}

output "github_variables" {
  description = "Every GitHub Actions variable the deploy workflows read, by where it is set: repository, or each GitHub environment. TRAINING_DATA_URI is yours to fill in (see README)."
  value = {
    repository = merge(
      {
        AWS_REGION      = var.region
        TF_STATE_BUCKET = aws_s3_bucket.state.id
      },
      { for env in var.environments : "AWS_PLAN_ROLE_ARN_${upper(env)}" => aws_iam_role.github["plan/${env}"].arn },
      { for env in var.environments : "PERMISSIONS_BOUNDARY_ARN_${upper(env)}" => aws_iam_policy.permissions_boundary[env].arn },
      { for role in aws_iam_role.training : "SAGEMAKER_TRAINING_ROLE_ARN_${upper(var.training_environment)}" => role.arn },
    )
    environments = { for env in var.environments : env => { AWS_DEPLOY_ROLE_ARN = aws_iam_role.github["deploy/${env}"].arn } }
  }
}
