variable "name" {
  description = "Name of the user pool, e.g. \"toxiguard-prod\"; also prefixes the app clients (\"<name>-backend\", \"<name>-web\")."
  type        = string

  validation {
    # Cognito's pattern for pool and client names, leaving room for the "-backend" suffix in 128 characters.
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,119}$", var.name))
    error_message = "name must be 1-120 letters, digits, dots, underscores or hyphens, starting with a letter or digit."
  }
}

variable "domain_prefix" {
  description = "Prefix of the hosted UI domain, https://<prefix>.auth.<region>.amazoncognito.com: unique in the region across all AWS accounts."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix))
    error_message = "domain_prefix must be 1-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen."
  }

  validation {
    condition     = length(regexall("aws|amazon|cognito", var.domain_prefix)) == 0
    error_message = "domain_prefix must not contain the words Cognito reserves: aws, amazon, cognito."
  }
}

variable "redirect_urls" {
  description = "URLs the hosted UI may send a person back to after signing in and after signing out (the web client's callback and sign-out URLs): the site's own URL, plus e.g. a development page on http://localhost."
  type        = list(string)

  validation {
    # Cognito accepts plain http only for localhost, and never a fragment.
    condition     = length(var.redirect_urls) > 0 && alltrue([for url in var.redirect_urls : can(regex("^(https://[^/#]+|http://localhost(:[0-9]+)?)(/[^#]*)?$", url))])
    error_message = "redirect_urls must be one or more https:// URLs (or http://localhost[:port]) without a fragment."
  }
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access (and ID) tokens in minutes: how long a token stays usable after the client is removed or the person is disabled."
  type        = number
  default     = 60

  validation {
    condition     = var.access_token_validity_minutes >= 5 && var.access_token_validity_minutes <= 1440 && floor(var.access_token_validity_minutes) == var.access_token_validity_minutes
    error_message = "access_token_validity_minutes must be a whole number from 5 to 1440 (Cognito's limits)."
  }
}

variable "refresh_token_validity_days" {
  description = "Lifetime of the web client's refresh tokens in days: how long the page keeps a person signed in without the hosted UI."
  type        = number
  default     = 30

  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650 && floor(var.refresh_token_validity_days) == var.refresh_token_validity_days
    error_message = "refresh_token_validity_days must be a whole number from 1 to 3650 (Cognito's limits)."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the user pool (and with it every account) until this is set to false and applied first."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource of this module that takes them (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
