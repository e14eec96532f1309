variable "bucket_name" {
  description = "Globally unique name of the S3 bucket that holds model artifacts under models/<version>/."
  type        = string

  validation {
    # S3 general purpose bucket naming rules: 3-63 characters of lowercase letters, digits, dots and hyphens,
    # starting and ending with a letter or digit.
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit."
  }

  validation {
    condition     = !strcontains(var.bucket_name, "..") && !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.bucket_name))
    error_message = "bucket_name must not contain '..' nor be formatted as an IP address."
  }

  validation {
    # Reserved by AWS for access point aliases, Object Lambda aliases and S3 Express directory buckets.
    condition     = !anytrue([for prefix in ["xn--", "sthree-"] : startswith(var.bucket_name, prefix)]) && !anytrue([for suffix in ["-s3alias", "--ol-s3", "--x-s3"] : endswith(var.bucket_name, suffix)])
    error_message = "bucket_name must not use a prefix or suffix AWS reserves (xn--, sthree-, -s3alias, --ol-s3, --x-s3)."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket while it still holds objects (every version of every model). Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which an overwritten or deleted object version is removed for good."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number >= 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which parts of an unfinished multipart upload (an interrupted publish) are deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number >= 1."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
