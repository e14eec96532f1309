################################################################################
# Where and what
################################################################################

variable "region" {
  description = "AWS region of the stack (CloudFront is global; everything else lives here)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1."
  }
}

variable "project" {
  description = "Project name, the first part of every resource name (\"<project>-dev\")."
  type        = string
  default     = "toxiguard"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.project))
    error_message = "project must be 1-20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

################################################################################
# Model: the values `toxiguard publish` prints (or writes with --tfvars-out)
################################################################################

variable "model_version" {
  description = "Published artifact version to serve (manifest \"version\"), e.g. \"20261124T103915Z-2b97625\"."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$", var.model_version))
    error_message = "model_version must look like 20261124T103915Z-2b97625 (<UTC time>-<git sha>)."
  }
}

variable "model_labels" {
  description = "The model's labels in output order (manifest \"labels\")."
  type        = list(string)
  default     = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]

  validation {
    condition     = length(var.model_labels) > 0 && length(distinct(var.model_labels)) == length(var.model_labels)
    error_message = "model_labels must be a non-empty list of distinct labels."
  }
}

variable "model_thresholds" {
  description = "Per-label thresholds of that version (manifest \"thresholds\"): exactly the labels of model_labels, each from 0 to 1."
  type        = map(number)

  validation {
    condition     = alltrue([for threshold in values(var.model_thresholds) : threshold >= 0 && threshold <= 1])
    error_message = "Every model_thresholds value must be from 0 to 1."
  }

  validation {
    condition     = sort(keys(var.model_thresholds)) == sort(var.model_labels)
    error_message = "model_thresholds must have exactly the labels of model_labels (toxic, severe_toxic, obscene, threat, insult, identity_hate by default)."
  }
}

################################################################################
# Operations
################################################################################

variable "alarm_email" {
  description = "Email address that receives alarm notifications (confirm AWS's subscription mail); \"\" for none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address or \"\"."
  }
}

variable "extra_allowed_origins" {
  description = "Origins allowed to call the API besides the site's CloudFront origin, e.g. a custom domain such as \"https://moderation.example.org\"."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.extra_allowed_origins : can(regex("^https?://[^/]+$", origin))])
    error_message = "extra_allowed_origins must be origins like https://example.org (scheme and host, no path or trailing slash)."
  }
}

################################################################################
# Sizing (dev defaults)
################################################################################

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the API function: the most requests in flight to the endpoint (the serverless endpoint's max concurrency)."
  type        = number
  default     = 5

  validation {
    condition     = var.lambda_reserved_concurrency >= 1 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency
    error_message = "lambda_reserved_concurrency must be a whole number >= 1."
  }
}

variable "api_throttling_rate_limit" {
  description = "HTTP API steady-state rate limit, requests per second."
  type        = number
  default     = 20

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be greater than 0."
  }
}

variable "api_throttling_burst_limit" {
  description = "HTTP API burst limit, requests."
  type        = number
  default     = 40

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number >= 1."
  }
}

variable "log_retention_days" {
  description = "Retention in days of the Lambda, API access and endpoint log groups."
  type        = number
  default     = 14

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}
