################################################################################
# Names
################################################################################

variable "name" {
  description = "Name of the stack (\"<project>-<environment>\"): the role is <name>-sagemaker-transform, the operator policy <name>-batch-operator, and the CLI's models and transform jobs are named <name>-batch-*."
  type        = string

  validation {
    # <name>-batch-<model version> must fit SageMaker's 63 characters; lowercase, because SageMaker lowercases names
    # in its ARNs and the operator policy matches those.
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.name))
    error_message = "name must be 1-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  description = "Globally unique name of the batch bucket, which holds the transform jobs' input/ and output/ (S3 naming rules, checked by private_bucket)."
  type        = string
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the batch bucket while it still holds objects (staged comments and scores, which expire anyway)."
  type        = bool
  default     = false
}

################################################################################
# What the transform jobs run
################################################################################

variable "artifact_bucket_arn" {
  description = "ARN of the artifact bucket; the transform role may read only its models/*/model.tar.gz, the operator only its models/*/manifest.json."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_arn))
    error_message = "artifact_bucket_arn must be an S3 bucket ARN such as arn:aws:s3:::my-bucket."
  }
}

variable "serving_image_repository_arn" {
  description = "ARN of the ECR repository of the serving image the CLI's models run (model_endpoint's image_repository_arn): the transform role may pull from it only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9][a-z0-9._/-]*$", var.serving_image_repository_arn))
    error_message = "serving_image_repository_arn must be an ECR repository ARN such as arn:aws:ecr:eu-west-1:763104351884:repository/tensorflow-inference."
  }
}

################################################################################
# Retention
################################################################################

variable "object_expiration_days" {
  description = "Days after which objects under input/ and output/ expire (comment text and its scores: join within this window); gone for good a day later (a whole number >= 1, checked by private_bucket)."
  type        = number
  default     = 7
}

################################################################################
# IAM and tags
################################################################################

variable "permissions_boundary" {
  description = "ARN of the IAM policy the transform role carries as its permissions boundary (the bootstrap's <project>-<environment>-permissions-boundary, without which the deploy roles may not create roles); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\\w+=,.@/-]+$", var.permissions_boundary))
    error_message = "permissions_boundary must be an IAM policy ARN (arn:aws:iam::<account>:policy/<path><name>) or null."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
