################################################################################
# Where and for whom
################################################################################

variable "region" {
  description = "AWS region of the state bucket and of every environment (the GitHub variable AWS_REGION)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1."
  }
}

variable "project" {
  description = "Project name: prefix of every resource name the environments create (<project>-<environment>*), which is what the deploy roles are scoped to, and first segment of the state keys (<project>/<environment>/terraform.tfstate). The workflows hardcode the state key prefix toxiguard/, so change both together."
  type        = string
  default     = "toxiguard"

  validation {
    # Lowercase only: SageMaker lowercases names in its ARNs, so a mixed-case prefix would never match them.
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project))
    error_message = "project must be 3-32 characters of a-z, 0-9 and '-', starting with a letter and not ending with '-'."
  }
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the roles, as owner/name with GitHub's exact casing (the OIDC subject claim is compared case-sensitively)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must look like owner/name (e.g. acme/toxiguard)."
  }
}

variable "github_branch" {
  description = "Branch whose workflow runs may assume the plan roles (the deploy workflow runs on pushes to it; its plan job has no GitHub environment)."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_branch)) && !strcontains(var.github_branch, "*")
    error_message = "github_branch must be a plain branch name without wildcards."
  }
}

variable "environments" {
  description = "Deployment environments: each gets a plan role, a deploy role, a permissions boundary and its own state prefix. Names must match the Terraform roots under terraform/envs/ and the GitHub environments; none may start another's name or \"bootstrap\"."
  type        = list(string)
  default     = ["dev", "prod"]

  validation {
    condition     = length(var.environments) > 0 && length(distinct(var.environments)) == length(var.environments)
    error_message = "environments must be a non-empty list without duplicates."
  }

  validation {
    condition     = alltrue([for env in var.environments : can(regex("^[a-z][a-z0-9]{1,15}$", env))])
    error_message = "Each environment must be 2-16 characters of a-z and 0-9, starting with a letter."
  }

  validation {
    # The deploy roles are scoped by the pattern <project>-<env>*: with "dev" and "dev2", dev's pattern would reach
    # dev2's resources, and an environment starting "bootstrap" would reach this root's own roles and policies.
    condition     = alltrue([for env in var.environments : !startswith("bootstrap", env) && alltrue([for other in var.environments : other == env || !startswith(other, env)])])
    error_message = "No environment name may be the start of another one's, or of \"bootstrap\"."
  }
}

variable "tags" {
  description = "Extra tags for every resource this root creates (added to Project and ManagedBy through the provider's default_tags)."
  type        = map(string)
  default     = {}
}

################################################################################
# GitHub OIDC provider
################################################################################

variable "create_oidc_provider" {
  description = "Create the account's IAM OIDC provider for token.actions.githubusercontent.com. Set false when the account already has one (IAM allows one per URL); it is then looked up."
  type        = bool
  default     = true
}

################################################################################
# State bucket
################################################################################

variable "state_bucket_name" {
  description = "Name of the S3 bucket for the environments' Terraform state. null => <project>-tfstate-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be 3-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit."
  }
}

variable "state_noncurrent_version_expiration_days" {
  description = "Days a superseded state version is kept (the recovery window for a damaged state file)."
  type        = number
  default     = 90

  validation {
    condition     = var.state_noncurrent_version_expiration_days >= 1 && floor(var.state_noncurrent_version_expiration_days) == var.state_noncurrent_version_expiration_days
    error_message = "state_noncurrent_version_expiration_days must be a whole number >= 1."
  }
}

################################################################################
# Roles
################################################################################

variable "role_max_session_duration_seconds" {
  description = "Longest session the plan and deploy roles allow: at least what the deploy workflow asks for (role-duration-seconds 10800 in the plan job, which may wait for a SageMaker training job; 7200 in the apply job, which waits for a canary deployment)."
  type        = number
  default     = 10800

  validation {
    condition     = var.role_max_session_duration_seconds >= 3600 && var.role_max_session_duration_seconds <= 43200
    error_message = "role_max_session_duration_seconds must be between 3600 and 43200."
  }
}

variable "enable_cloud_training" {
  description = "Create the SageMaker training execution role and let the plan role of training_environment start training jobs with it (deploy workflow input train = true)."
  type        = bool
  default     = false
}

variable "training_environment" {
  description = "Environment whose workflow stage trains (the deploy workflow trains in dev only and hands the model to prod). Its artifact bucket holds data/, code/ and training/."
  type        = string
  default     = "dev"

  validation {
    condition     = contains(var.environments, var.training_environment)
    error_message = "training_environment must be one of environments."
  }
}
