variable "name" {
  description = "Name prefix of the site's resources, e.g. \"toxiguard-dev\"; the bucket is \"<name>-site-<account id>\"."
  type        = string

  validation {
    # S3 bucket names stop at 63 characters: name + "-site-" + a 12-digit account id.
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,44}$", var.name))
    error_message = "name must be 1-45 lower-case letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "frontend_dir" {
  description = "Path to the frontend/ folder; its web files are uploaded as they are, except config.js, which this module writes."
  type        = string

  validation {
    condition     = fileexists("${var.frontend_dir}/index.html")
    error_message = "frontend_dir must be the folder holding index.html (the repository's frontend/)."
  }
}

variable "api_url" {
  description = "Base URL of the moderation API written into config.js (module api's api_endpoint); its origin is allowed in the page's CSP connect-src."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+/?$", var.api_url))
    error_message = "api_url must be a base URL like https://abc123.execute-api.eu-west-1.amazonaws.com (no path)."
  }
}

variable "price_class" {
  description = "CloudFront price class: which edge locations serve the site (PriceClass_100 = North America and Europe, the cheapest)."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket with its objects and old versions (everything in it is generated from the repository)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
