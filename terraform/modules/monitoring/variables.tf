################################################################################
# What is monitored
################################################################################

variable "name" {
  description = "Prefix of every alarm, topic and key alias name (e.g. \"toxiguard-dev\")."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,199}$", var.name))
    error_message = "name must be 1-200 characters of letters, digits, '-' and '_', starting with a letter or digit."
  }
}

variable "api_id" {
  description = "ID of the API Gateway HTTP API (dimension ApiId)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+$", var.api_id))
    error_message = "api_id must be an API Gateway API ID (lowercase letters and digits)."
  }
}

variable "api_stage" {
  description = "Stage of the HTTP API (dimension Stage)."
  type        = string
  default     = "$default"

  validation {
    condition     = length(var.api_stage) >= 1 && length(var.api_stage) <= 128
    error_message = "api_stage must be 1-128 characters."
  }
}

variable "lambda_function_name" {
  description = "Name of the API's Lambda function (dimension FunctionName)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.lambda_function_name))
    error_message = "lambda_function_name must be 1-64 characters of letters, digits, '-' and '_'."
  }
}

variable "endpoint_name" {
  description = "Name of the SageMaker endpoint (dimension EndpointName). Pass the name string, not the endpoint resource's attribute, so the endpoint can depend on these alarms for rollback."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.endpoint_name))
    error_message = "endpoint_name must be a SageMaker endpoint name (1-63 letters, digits and hyphens)."
  }
}

variable "variant_name" {
  description = "Production variant of the endpoint (dimension VariantName)."
  type        = string
  default     = "AllTraffic"

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.variant_name))
    error_message = "variant_name must be a SageMaker variant name (1-63 letters, digits and hyphens)."
  }
}

################################################################################
# Thresholds
################################################################################

variable "api_5xx_rate_threshold" {
  description = "Fraction of API requests answered with 5xx (0.05 = 5%) above which the API alarm fires."
  type        = number
  default     = 0.05

  validation {
    condition     = var.api_5xx_rate_threshold > 0 && var.api_5xx_rate_threshold <= 1
    error_message = "api_5xx_rate_threshold is a fraction: > 0 and <= 1."
  }
}

variable "api_latency_p99_threshold_ms" {
  description = "p99 API Gateway latency, in milliseconds, above which the API latency alarm fires."
  type        = number
  default     = 3000

  validation {
    condition     = var.api_latency_p99_threshold_ms > 0
    error_message = "api_latency_p99_threshold_ms must be > 0."
  }
}

variable "model_latency_p99_threshold_ms" {
  description = "p99 SageMaker ModelLatency, in milliseconds (converted to the metric's microseconds), above which the endpoint latency alarm fires."
  type        = number
  default     = 1000

  validation {
    condition     = var.model_latency_p99_threshold_ms > 0
    error_message = "model_latency_p99_threshold_ms must be > 0."
  }
}

variable "error_count_threshold" {
  description = "Errors per minute (Lambda Errors and Throttles, endpoint Invocation5XXErrors and InvocationModelErrors) at or above which the count alarms fire."
  type        = number
  default     = 1

  validation {
    condition     = var.error_count_threshold > 0
    error_message = "error_count_threshold must be > 0."
  }
}

variable "evaluation_periods" {
  description = "Consecutive one-minute periods that must breach before an alarm fires (also how quickly a blue/green deployment rolls back)."
  type        = number
  default     = 3

  validation {
    condition     = var.evaluation_periods >= 1 && var.evaluation_periods <= 60 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods must be a whole number between 1 and 60."
  }
}

################################################################################
# Notifications
################################################################################

variable "create_sns_topic" {
  description = "Create an encrypted SNS topic that receives every alarm and OK transition. Without it the alarms only show in the console (and still drive deployment rollbacks)."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Email address subscribed to the topic (AWS sends a confirmation mail first). \"\" subscribes nobody."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address or \"\"."
  }

  validation {
    condition     = var.alarm_email == "" || var.create_sns_topic
    error_message = "alarm_email needs create_sns_topic = true: the subscription is made on this module's topic."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
