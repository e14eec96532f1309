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
  description = "Name of the API's scoring function (dimension FunctionName)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.lambda_function_name))
    error_message = "lambda_function_name must be 1-64 characters of letters, digits, '-' and '_'."
  }
}

variable "reviews_function_name" {
  description = "Name of the reviews function, the moderators' queue (dimension FunctionName of its errors and throttles alarms)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.reviews_function_name))
    error_message = "reviews_function_name must be 1-64 characters of letters, digits, '-' and '_'."
  }
}

variable "reviews_table_name" {
  description = "Name of the review queue's DynamoDB table (dimension TableName of the dashboard's table graph)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.reviews_table_name))
    error_message = "reviews_table_name must be a DynamoDB table name (3-255 letters, digits, '_', '-' or '.')."
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

variable "metrics_service" {
  description = "Service dimension of the handler's metrics (namespace toxiguard): the handler's METRICS_SERVICE, which on Lambda defaults to the function's name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", var.metrics_service))
    error_message = "metrics_service must be 1-255 letters, digits, '.', '_' or '-', starting with a letter or digit (what the handler accepts)."
  }
}

variable "model_labels" {
  description = "The model's labels (the manifest's labels, MODEL_LABELS): the handler publishes one Flags_ metric per label (Flags_toxic, ...), and the dashboard graphs each one's flag rate."
  type        = list(string)

  validation {
    condition     = length(var.model_labels) > 0 && length(distinct(var.model_labels)) == length(var.model_labels) && alltrue([for label in var.model_labels : can(regex("^[a-z][a-z0-9_]*$", label))])
    error_message = "model_labels must be distinct, non-empty snake_case names."
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

variable "flagged_share_band_width" {
  description = "Width of the flagged-share alarm's anomaly detection band, in standard deviations (ANOMALY_DETECTION_BAND's second argument): wider alarms on larger changes only."
  type        = number
  default     = 2

  validation {
    condition     = var.flagged_share_band_width > 0 && var.flagged_share_band_width <= 10
    error_message = "flagged_share_band_width must be > 0 and <= 10 standard deviations."
  }
}

variable "flagged_share_period_seconds" {
  description = "Period, in seconds, over which the flagged share (flagged texts / texts scored) is computed for its alarm and the dashboard's flag rates."
  type        = number
  default     = 900

  validation {
    condition     = var.flagged_share_period_seconds >= 60 && var.flagged_share_period_seconds <= 86400 && var.flagged_share_period_seconds % 60 == 0
    error_message = "flagged_share_period_seconds must be a multiple of 60 from 60 to 86400."
  }
}

variable "flagged_share_evaluation_periods" {
  description = "Consecutive periods of flagged_share_period_seconds outside the band before the flagged-share alarm fires."
  type        = number
  default     = 4

  validation {
    condition     = var.flagged_share_evaluation_periods >= 1 && floor(var.flagged_share_evaluation_periods) == var.flagged_share_evaluation_periods
    error_message = "flagged_share_evaluation_periods must be a whole number >= 1."
  }

  validation {
    condition     = var.flagged_share_evaluation_periods * var.flagged_share_period_seconds <= 86400
    error_message = "flagged_share_evaluation_periods x flagged_share_period_seconds must be at most 86400 s (one day), the longest an alarm evaluates."
  }
}

variable "flagged_share_min_texts" {
  description = "Texts a period needs before its flagged share counts for the alarm: periods with fewer give no data point (a share of a few texts is noise)."
  type        = number
  default     = 100

  validation {
    condition     = var.flagged_share_min_texts >= 1 && floor(var.flagged_share_min_texts) == var.flagged_share_min_texts
    error_message = "flagged_share_min_texts must be a whole number >= 1."
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
