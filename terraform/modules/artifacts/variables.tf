variable "bucket_name" {
  description = "Globally unique name of the S3 bucket that holds model artifacts under models/<version>/ (S3 naming rules, checked by private_bucket)."
  type        = string
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket while it still holds objects (every version of every model). Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which an overwritten or deleted object version is removed for good (a whole number >= 1, checked by private_bucket)."
  type        = number
  default     = 90
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which parts of an unfinished multipart upload (an interrupted publish) are deleted (a whole number >= 1, checked by private_bucket)."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
