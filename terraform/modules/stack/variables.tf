################################################################################
# Identity
################################################################################

variable "project" {
  description = "Project name, the first part of every resource name (\"<project>-<environment>\")."
  type        = string
  default     = "toxiguard"

  validation {
    # "<project>-<environment>" must fit the endpoint's 36 characters and the site bucket's prefix.
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.project))
    error_message = "project must be 1-20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, e.g. \"dev\" or \"prod\"; the second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,9}$", var.environment))
    error_message = "environment must be 1-10 lower-case letters or digits, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (the env roots set Project, Environment and ManagedBy as provider default_tags)."
  type        = map(string)
  default     = {}
}

# Validated by api and model_endpoint, whose roles carry it.
variable "permissions_boundary_arn" {
  description = "ARN of the permissions boundary every IAM role of the stack carries: the bootstrap's output permissions_boundary_arns[<environment>], the only boundary the environment's deploy role may create roles with."
  type        = string
}

################################################################################
# Model (from the artifact's manifest.json; validated by model_endpoint and api, which use the values)
################################################################################

variable "model_version" {
  description = "Version of the published artifact to serve (manifest \"version\"), e.g. \"20261124T103915Z-2b97625\"."
  type        = string
}

variable "model_labels" {
  description = "The model's labels in output order (manifest \"labels\")."
  type        = list(string)
  default     = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
}

variable "model_thresholds" {
  description = "Per-label thresholds (manifest \"thresholds\"): exactly the labels of model_labels, each from 0 to 1."
  type        = map(number)
}

variable "model_block_thresholds" {
  description = "Per-label block thresholds (manifest \"block_thresholds\", written by toxiguard publish): a number from the label's review threshold to 1, or null for a label that never blocks by itself. {} (a manifest from before block thresholds): nothing blocks."
  type        = map(number)
  default     = {}
}

################################################################################
# Sizing (validated by the module each value is passed to)
################################################################################

variable "endpoint_serverless" {
  description = "Serverless endpoint capacity (memory_size_in_mb, max_concurrency, optional provisioned_concurrency); null deploys provisioned instances with autoscaling."
  type = object({
    memory_size_in_mb       = number
    max_concurrency         = number
    provisioned_concurrency = optional(number)
  })
  default = null
}

variable "endpoint_instance_type" {
  description = "Instance type of a provisioned endpoint (unused when endpoint_serverless is set)."
  type        = string
  default     = "ml.c6i.large"
}

variable "endpoint_instance_count_min" {
  description = "Autoscaling floor of a provisioned endpoint."
  type        = number
  default     = 1
}

variable "endpoint_instance_count_max" {
  description = "Autoscaling ceiling of a provisioned endpoint."
  type        = number
  default     = 2
}

variable "endpoint_traffic_routing" {
  description = "Blue/green traffic shifting of endpoint updates: type ALL_AT_ONCE, CANARY or LINEAR, wait_seconds of alarm-watched baking, step_size_percent (serverless supports ALL_AT_ONCE only)."
  type = object({
    type              = string
    wait_seconds      = number
    step_size_percent = optional(number)
  })
  default = {
    type         = "ALL_AT_ONCE"
    wait_seconds = 300
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the API function: the most requests in flight to the endpoint."
  type        = number
}

variable "log_retention_days" {
  description = "Retention in days of the Lambda, API access and endpoint log groups."
  type        = number
}

variable "api_throttling_rate_limit" {
  description = "HTTP API stage steady-state rate limit, requests per second."
  type        = number
}

variable "api_throttling_burst_limit" {
  description = "HTTP API stage burst limit, requests."
  type        = number
}

variable "site_price_class" {
  description = "CloudFront price class of the web page."
  type        = string
  default     = "PriceClass_100"
}

################################################################################
# Who may call the API
################################################################################

variable "auth" {
  description = "\"jwt\": every route but GET /v1/health and CORS preflights needs a Cognito access token (a user pool, its app clients and hosted UI are created); \"none\": the API is open to anyone (demos)."
  type        = string
  default     = "jwt"

  validation {
    condition     = contains(["jwt", "none"], var.auth)
    error_message = "auth must be \"jwt\" or \"none\"."
  }

  validation {
    condition     = var.auth == "jwt" || var.environment != "prod" || var.allow_unauthenticated_api
    error_message = "auth = \"none\" in prod opens the moderation API (and the model's cost) to anyone on the internet; set allow_unauthenticated_api = true as well if that is really meant."
  }
}

variable "allow_unauthenticated_api" {
  description = "Let prod run with auth = \"none\". An open production API lets anyone spend its SageMaker and Lambda budget and probe the model, so it takes this second, explicit setting; other environments need none."
  type        = bool
  default     = false
}

# Validated by auth.
variable "auth_domain_prefix" {
  description = "Prefix of the Cognito hosted UI domain (https://<prefix>.auth.<region>.amazoncognito.com), unique in the region across all accounts; null: \"<project>-<environment>-<account id>\"."
  type        = string
  default     = null
}

# Validated by auth, as part of its redirect_urls.
variable "auth_extra_redirect_urls" {
  description = "Sign-in and sign-out redirect URLs besides the site's own, e.g. \"http://localhost:8000/\" for a development page against this pool."
  type        = list(string)
  default     = []
}

variable "auth_deletion_protection" {
  description = "Protect the user pool (every account in it) from terraform destroy until this is set to false and applied."
  type        = bool
  default     = true
}

################################################################################
# Moderation policy and review queue (validated by api and reviews_table)
################################################################################

variable "block_thresholds" {
  description = "This environment's block thresholds by label, merged over the manifest's (model_block_thresholds): a number from the label's review threshold to 1, or null to never block on that label. {} keeps the manifest's."
  type        = map(number)
  default     = {}
}

variable "reviews_store_default" {
  description = "Whether moderation requests without a store field queue their review and block results for moderators (clients can ask per request either way)."
  type        = bool
  default     = false
}

variable "reviews_ttl_days" {
  description = "Days a review item stays in the queue, decided or not, before DynamoDB's TTL deletes it (1-365)."
  type        = number
  default     = 30
}

variable "reviews_deletion_protection" {
  description = "Protect the review queue's table (every stored comment and moderator decision) from terraform destroy until this is set to false and applied."
  type        = bool
  default     = true
}

################################################################################
# Operations
################################################################################

# Validated by api, as part of its allowed_origins.
variable "extra_allowed_origins" {
  description = "Origins allowed to call the API besides the site's own CloudFront origin (e.g. a custom domain or another app), like \"https://moderation.example.org\"."
  type        = list(string)
  default     = []
}

# Validated by monitoring.
variable "alarm_email" {
  description = "Email address that receives alarm notifications (AWS asks it to confirm first); \"\" subscribes nobody."
  type        = string
  default     = ""
}

variable "force_destroy_artifacts" {
  description = "Let terraform destroy delete the artifact bucket with every published model in it (throwaway environments only)."
  type        = bool
  default     = false
}
