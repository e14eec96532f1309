################################################################################
# Bucket
################################################################################

variable "bucket_name" {
  description = "Globally unique name of the bucket: the one to create, or with create_bucket = false the existing bucket to configure."
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

variable "create_bucket" {
  description = "Create the aws_s3_bucket here. false: only configure the existing bucket bucket_name, which the caller declares itself, e.g. to give it lifecycle { prevent_destroy = true } (a module input cannot set that)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket while it still holds objects (every version of each). Keep false for anything that cannot be regenerated. Ignored when create_bucket is false."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of the bucket (on top of the provider's default_tags). Ignored when create_bucket is false."
  type        = map(string)
  default     = {}
}

################################################################################
# Encryption and access
################################################################################

variable "sse_algorithm" {
  description = "Default encryption: \"aws:kms\" (SSE-KMS with the AWS managed key aws/s3 and a bucket key) or \"AES256\" (SSE-S3, e.g. behind CloudFront origin access control, which cannot decrypt with aws/s3)."
  type        = string
  default     = "aws:kms"

  validation {
    condition     = contains(["aws:kms", "AES256"], var.sse_algorithm)
    error_message = "sse_algorithm must be \"aws:kms\" or \"AES256\"."
  }
}

variable "policy_documents" {
  description = "IAM policy documents (JSON, e.g. data.aws_iam_policy_document.<name>.json) whose statements the bucket policy holds next to the module's TLS-only denies. Statement ids must be unique; DenyInsecureTransport and DenyOutdatedTls are the module's."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for document in var.policy_documents : can(jsondecode(document).Statement)])
    error_message = "Each of policy_documents must be a JSON policy document with a Statement."
  }
}

################################################################################
# Lifecycle
################################################################################

variable "noncurrent_version_expiration_days" {
  description = "Days after which an overwritten or deleted object version is removed for good (the undo window)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number >= 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which the parts of an unfinished multipart upload are deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number >= 1."
  }
}

variable "expiration_days_by_prefix" {
  description = "Key prefix (e.g. \"input/\") => days after which its current objects expire: each becomes a noncurrent version, removed noncurrent_version_expiration_days later. {}: nothing expires."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for prefix, days in var.expiration_days_by_prefix : length(prefix) > 0 && days >= 1 && floor(days) == days])
    error_message = "expiration_days_by_prefix takes non-empty prefixes, each with a whole number of days >= 1."
  }
}
