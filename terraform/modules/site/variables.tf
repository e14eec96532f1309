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

variable "auth_hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI the page signs in with (module auth's hosted_ui_url, https://<prefix>.auth.<region>.amazoncognito.com): written into config.js, and its origin joins the CSP's connect-src. null: the API is open and the page does not sign in."
  type        = string
  default     = null

  validation {
    condition     = var.auth_hosted_ui_url == null ? true : can(regex("^https://[^/]+$", var.auth_hosted_ui_url))
    error_message = "auth_hosted_ui_url must be a base URL like https://toxiguard-prod.auth.eu-west-1.amazoncognito.com (no path, no trailing slash)."
  }
}

# Apart from auth_hosted_ui_url on purpose: the client's callback URL is this site's address, so the client is created
# after the distribution, and only config.js (not the distribution's CSP) may wait for it.
variable "auth_client_id" {
  description = "App client ID the page signs in with (module auth's web_client_id), written into config.js; set exactly when auth_hosted_ui_url is."
  type        = string
  default     = null

  validation {
    condition     = (var.auth_client_id == null) == (var.auth_hosted_ui_url == null)
    error_message = "auth_client_id and auth_hosted_ui_url must be set together (sign-in on) or both left null (sign-in off)."
  }
}

variable "auth_scopes" {
  description = "OAuth scopes the page asks for at sign-in (module auth's web_client_scopes), written into config.js."
  type        = list(string)
  default     = []

  validation {
    condition     = var.auth_hosted_ui_url == null || length(var.auth_scopes) > 0
    error_message = "auth_scopes must name at least one scope when auth_hosted_ui_url is set."
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
