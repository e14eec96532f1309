variable "name" {
  description = "Name of the table, e.g. \"toxiguard-dev-reviews\"; also the key alias (alias/<name>) and the alarms' prefix."
  type        = string

  validation {
    # DynamoDB's table name pattern; the alarm names add at most 19 characters to CloudWatch's 255.
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,236}$", var.name))
    error_message = "name must be 3-236 letters, digits, '_', '-' or '.' (DynamoDB's table names, leaving room for the alarm suffixes)."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the table (and every review item and moderator decision in it) until this is set to false and applied first."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic that receives the table's alarm and OK notifications (the monitoring module's sns_topic_arn); null: the alarms only show in the console."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>) or null."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module that takes them (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
