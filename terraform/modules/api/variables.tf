################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name of the scoring function and of the HTTP API, e.g. \"toxiguard-dev\"; also prefixes the scoring function's role and the log groups."
  type        = string

  validation {
    # The role is "<name>-lambda" and IAM role names stop at 64 characters.
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,56}$", var.name))
    error_message = "name must be 1-57 letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "tags" {
  description = "Tags for every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary" {
  description = "ARN of the IAM policy that every role of this module carries as its permissions boundary (the bootstrap's <project>-<environment>-permissions-boundary, without which the deploy roles may not create roles); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\\w+=,.@/-]+$", var.permissions_boundary))
    error_message = "permissions_boundary must be an IAM policy ARN (arn:aws:iam::<account>:policy/<path><name>) or null."
  }
}

################################################################################
# Lambda function
################################################################################

variable "lambda_source_dir" {
  description = "Path to lambda/: every Python module in it goes into the one deployment package of both functions (standard library + boto3 from the runtime)."
  type        = string

  validation {
    condition     = fileexists("${var.lambda_source_dir}/handler.py") && fileexists("${var.lambda_source_dir}/reviews.py")
    error_message = "lambda_source_dir must be a directory holding handler.py and reviews.py (entry points handler.lambda_handler and reviews.lambda_handler)."
  }
}

variable "reviews_function_name" {
  description = "Name of the reviews function (the moderators' queue, lambda/reviews.py), e.g. \"toxiguard-dev-reviews\"; also prefixes its role and log group."
  type        = string

  validation {
    # Its role is "<name>-lambda" and IAM role names stop at 64 characters.
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,56}$", var.reviews_function_name))
    error_message = "reviews_function_name must be 1-57 letters, digits or hyphens, starting with a letter or digit."
  }

  validation {
    condition     = var.reviews_function_name != var.name
    error_message = "reviews_function_name must differ from name, the scoring function's name."
  }
}

variable "memory_size" {
  description = "Memory of each function in MB (CPU scales with it)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout_seconds" {
  description = "Timeout of each function in seconds: must cover the handler's SageMaker retries (3 x (1 s connect + 5 s read) + backoff) and stay under the HTTP API's 30 s integration limit."
  type        = number
  default     = 20

  validation {
    # The lower bound (the handler's retries) is a precondition on the function, next to the client settings.
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 29 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number of seconds under API Gateway's 30 s integration limit (at most 29)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the scoring function: caps how many requests reach the endpoint at once and keeps the rest of the account's Lambda pool free."
  type        = number

  validation {
    condition     = var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number >= 1 (0 would disable the function)."
  }
}

variable "reviews_reserved_concurrency" {
  description = "Reserved concurrent executions of the reviews function: moderators' page loads and decisions, a few at a time."
  type        = number
  default     = 5

  validation {
    condition     = var.reviews_reserved_concurrency >= 1 && floor(var.reviews_reserved_concurrency) == var.reviews_reserved_concurrency
    error_message = "reviews_reserved_concurrency must be a whole number >= 1 (0 would disable the function)."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's and the API's access log groups, in days (one of CloudWatch Logs' allowed values)."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_level" {
  description = "Handler LOG_LEVEL. Only DEBUG logs comment text."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

################################################################################
# Model endpoint the function calls
################################################################################

variable "endpoint_name" {
  description = "SageMaker endpoint name (SAGEMAKER_ENDPOINT_NAME)."
  type        = string

  validation {
    # InvokeEndpoint's EndpointName pattern, the same one the handler checks at cold start.
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.endpoint_name))
    error_message = "endpoint_name must match SageMaker's endpoint name pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}."
  }
}

variable "endpoint_arn" {
  description = "ARN of that endpoint: the only resource the function's role may call sagemaker:InvokeEndpoint on."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:endpoint/[a-zA-Z0-9-]+$", var.endpoint_arn))
    error_message = "endpoint_arn must be a SageMaker endpoint ARN (arn:aws:sagemaker:<region>:<account>:endpoint/<name>), not a wildcard."
  }
}

variable "model_version" {
  description = "Version of the deployed artifact (MODEL_VERSION), e.g. \"20261124T103915Z-2b97625\"."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$", var.model_version))
    error_message = "model_version must look like 20261124T103915Z-2b97625 (<UTC time>-<git sha>)."
  }
}

variable "model_labels" {
  description = "The model's output labels in output order (the manifest's labels; MODEL_LABELS)."
  type        = list(string)

  validation {
    condition     = length(var.model_labels) > 0 && length(distinct(var.model_labels)) == length(var.model_labels) && alltrue([for label in var.model_labels : can(regex("^[a-z][a-z0-9_]*$", label))])
    error_message = "model_labels must be distinct, non-empty snake_case names."
  }
}

variable "model_thresholds" {
  description = "Per-label thresholds from the manifest (MODEL_THRESHOLDS): exactly the labels of model_labels, each in [0, 1]."
  type        = map(number)

  validation {
    condition     = alltrue([for threshold in values(var.model_thresholds) : threshold >= 0 && threshold <= 1])
    error_message = "Every model_thresholds value must be from 0 to 1."
  }

  validation {
    condition     = sort(keys(var.model_thresholds)) == sort(var.model_labels)
    error_message = "model_thresholds must have exactly the labels of model_labels (the handler refuses to start otherwise)."
  }
}

variable "model_block_thresholds" {
  description = "Per-label block thresholds (MODEL_BLOCK_THRESHOLDS): the manifest's block_thresholds with the environment's overrides merged over them. A label that is missing or null never blocks by itself; each number is from the label's review threshold (model_thresholds) to 1."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for label in keys(var.model_block_thresholds) : contains(var.model_labels, label)])
    error_message = "model_block_thresholds may only name labels of model_labels."
  }

  validation {
    # A block threshold under the review threshold would block what is not even flagged for review.
    condition     = alltrue([for label, threshold in var.model_block_thresholds : threshold == null ? true : threshold <= 1 && threshold >= lookup(var.model_thresholds, label, 0)])
    error_message = "Every model_block_thresholds value must be null or a number from that label's review threshold (model_thresholds) to 1."
  }
}

################################################################################
# Review queue
################################################################################

variable "reviews_table" {
  description = "The review queue's DynamoDB table (the reviews_table module's outputs): its name (REVIEWS_TABLE of both functions), its ARN (the scoring role may PutItem on it, the reviews role GetItem and UpdateItem), its index's ARN (the reviews role may Query it) and its KMS key's ARN (both roles use it through DynamoDB only)."
  type = object({
    table_name  = string
    table_arn   = string
    index_arn   = string
    kms_key_arn = string
  })

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}$", var.reviews_table.table_arn)) && endswith(var.reviews_table.table_arn, ":table/${var.reviews_table.table_name}")
    error_message = "reviews_table.table_arn must be the DynamoDB ARN of the table named reviews_table.table_name (arn:aws:dynamodb:<region>:<account>:table/<name>), not a wildcard."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", trimprefix(var.reviews_table.index_arn, "${var.reviews_table.table_arn}/index/"))) && startswith(var.reviews_table.index_arn, "${var.reviews_table.table_arn}/index/")
    error_message = "reviews_table.index_arn must be an index of that table (<table_arn>/index/<name>), not a wildcard."
  }

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-)?[0-9a-f-]+$", var.reviews_table.kms_key_arn))
    error_message = "reviews_table.kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias or a wildcard."
  }
}

variable "reviews_store_default" {
  description = "Whether a moderation request without a store field queues its review and block results for moderators (REVIEWS_STORE_DEFAULT); clients can still ask per request with store: true or false."
  type        = bool
  default     = false
}

variable "reviews_ttl_days" {
  description = "Days a review item stays in the queue before DynamoDB's TTL deletes it, decided or not (REVIEWS_TTL_DAYS)."
  type        = number
  default     = 30

  validation {
    condition     = var.reviews_ttl_days >= 1 && var.reviews_ttl_days <= 365 && floor(var.reviews_ttl_days) == var.reviews_ttl_days
    error_message = "reviews_ttl_days must be a whole number of days from 1 to 365."
  }
}

################################################################################
# HTTP API
################################################################################

variable "allowed_origins" {
  description = "Origins the browser may call the API from (the site's CloudFront origin, like \"https://d111111abcdef8.cloudfront.net\"): the handler's ALLOWED_ORIGINS, which drives its CORS answers."
  type        = list(string)

  validation {
    condition     = length(var.allowed_origins) > 0 && alltrue([for origin in var.allowed_origins : can(regex("^https?://[^/]+$", origin))])
    error_message = "allowed_origins must be one or more origins like https://example.org (scheme and host, no path or trailing slash)."
  }
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady-state request rate limit (requests per second) before API Gateway answers 429."
  type        = number

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be greater than 0."
  }
}

variable "throttling_burst_limit" {
  description = "Stage-wide burst limit (concurrent requests the token bucket admits at once)."
  type        = number

  validation {
    condition     = var.throttling_burst_limit >= 1 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number >= 1."
  }
}

variable "health_cache_seconds" {
  description = "How long the function reuses its last endpoint probe for GET /v1/health (HEALTH_CACHE_SECONDS): at most one InvokeEndpoint per this many seconds per warm instance, however often the public route is called."
  type        = number
  default     = 30

  validation {
    condition     = var.health_cache_seconds >= 1 && floor(var.health_cache_seconds) == var.health_cache_seconds
    error_message = "health_cache_seconds must be a whole number of seconds >= 1."
  }
}

variable "jwt_authorizer" {
  description = "The JWT authorizer of every route but GET /v1/health and CORS preflights: the token issuer URL (a Cognito user pool's), the audience (app client IDs, matched against aud or client_id) and the API's scope identifiers by name. null leaves every route open (auth = \"none\")."
  type = object({
    issuer   = string
    audience = list(string)
    scopes   = object({ moderate = string, review = string })
  })
  default = null

  validation {
    # Conditionals, not ||: Terraform evaluates both sides of ||, and null has no attributes.
    condition     = var.jwt_authorizer == null ? true : can(regex("^https://[^/]+", var.jwt_authorizer.issuer))
    error_message = "jwt_authorizer.issuer must be an https:// URL (API Gateway fetches <issuer>/.well-known/openid-configuration)."
  }

  validation {
    condition     = var.jwt_authorizer == null ? true : length(var.jwt_authorizer.audience) > 0
    error_message = "jwt_authorizer.audience must list at least one app client ID."
  }
}
