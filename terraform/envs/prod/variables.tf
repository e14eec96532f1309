################################################################################
# What one deployment sets. Each value is validated once, by the module that uses it (modules/stack for
# project, api / model_endpoint / monitoring for the rest); the AWS provider checks region.
################################################################################

variable "region" {
  description = "AWS region of the stack (CloudFront is global; everything else lives here)."
  type        = string
}

variable "project" {
  description = "Project name, the first part of every resource name (\"<project>-<environment>\")."
  type        = string
  default     = "toxiguard"
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the stack's IAM roles: the bootstrap's output permissions_boundary_arns[\"prod\"]. The deploy role may create roles only with it."
  type        = string
}

################################################################################
# Model: the values `toxiguard publish` writes to model.auto.tfvars.json
################################################################################

variable "model_version" {
  description = "Published artifact version to serve (manifest \"version\"), e.g. \"20261124T103915Z-2b97625\"."
  type        = string
}

variable "model_labels" {
  description = "The model's labels in output order (manifest \"labels\")."
  type        = list(string)
  default     = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
}

variable "model_thresholds" {
  description = "Per-label thresholds of that version (manifest \"thresholds\"): exactly the labels of model_labels, each from 0 to 1."
  type        = map(number)
}

variable "model_block_thresholds" {
  description = "Per-label block thresholds of that version (manifest \"block_thresholds\"): a number from the label's review threshold to 1, or null (never blocks by itself). {}: nothing blocks."
  type        = map(number)
  default     = {}
}

################################################################################
# Moderation policy and review queue of prod
################################################################################

variable "block_thresholds" {
  description = "prod's block thresholds by label, over the manifest's: a number from the label's review threshold to 1, or null to never block on that label. {} keeps the manifest's."
  type        = map(number)
  default     = {}
}

variable "reviews_store_default" {
  description = "Whether moderation requests without a store field queue their review and block results for moderators."
  type        = bool
  default     = false
}

variable "reviews_ttl_days" {
  description = "Days a review item stays in the queue, decided or not, before it is deleted (1-365)."
  type        = number
  default     = 30
}

################################################################################
# Operations
################################################################################

variable "alarm_email" {
  description = "Email address that receives alarm notifications (confirm AWS's subscription mail); \"\" for none."
  type        = string
  default     = ""
}

variable "extra_allowed_origins" {
  description = "Origins allowed to call the API besides the site's CloudFront origin, e.g. a custom domain such as \"https://moderation.example.org\"."
  type        = list(string)
  default     = []
}

################################################################################
# Who may call the API
################################################################################

variable "auth" {
  description = "\"jwt\" (the default here): every route but GET /v1/health and CORS preflights needs a Cognito access token; \"none\" is refused unless allow_unauthenticated_api is true."
  type        = string
  default     = "jwt"
}

variable "allow_unauthenticated_api" {
  description = "Set to true, together with auth = \"none\", only to run prod without tokens on purpose: anyone could then spend the endpoint's budget and probe the model."
  type        = bool
  default     = false
}

variable "auth_domain_prefix" {
  description = "Prefix of the Cognito hosted UI domain, unique in the region across all accounts; null: \"<project>-prod-<account id>\"."
  type        = string
  default     = null
}

variable "auth_extra_redirect_urls" {
  description = "Sign-in and sign-out redirect URLs besides the site's own, e.g. \"http://localhost:8000/\" for a development page."
  type        = list(string)
  default     = []
}
