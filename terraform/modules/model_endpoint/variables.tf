################################################################################
# Identity and artifact
################################################################################

variable "name" {
  description = "Endpoint name (e.g. \"toxiguard-dev\"); also the prefix of the model, endpoint configuration, role and log group names."
  type        = string

  validation {
    # SageMaker name pattern. 36 characters max: the endpoint configuration's name_prefix ("<name>-") gets a
    # 26-character unique suffix and the result must stay within SageMaker's 63-character limit.
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9])*$", var.name)) && length(var.name) <= 36
    error_message = "name must be 1-36 characters of letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "model_version" {
  description = "Version of the published model (e.g. \"20261124T103915Z-2b97625\"); the SageMaker model is named \"<name>-<model_version>\"."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$", var.model_version))
    error_message = "model_version must look like 20261124T103915Z-2b97625 (UTC timestamp, '-', 7-40 hex digits of the git commit)."
  }
}

variable "artifact_bucket_name" {
  description = "Name of the S3 bucket holding models/<version>/model.tar.gz (output bucket_name of the artifacts module)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_name))
    error_message = "artifact_bucket_name must be a valid S3 bucket name."
  }
}

variable "artifact_bucket_arn" {
  description = "ARN of the same bucket (output bucket_arn of the artifacts module); the execution role may read only its models/ prefix."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_arn))
    error_message = "artifact_bucket_arn must be an S3 bucket ARN such as arn:aws:s3:::my-bucket."
  }
}

variable "model_data_key" {
  description = "Object key of the model archive. null means models/<model_version>/model.tar.gz, where `make publish` puts it."
  type        = string
  default     = null

  validation {
    # The execution role can only read models/*, so any other key would fail at endpoint creation.
    condition     = var.model_data_key == null || can(regex("^models/[^/].*\\.tar\\.gz$", var.model_data_key))
    error_message = "model_data_key must be a .tar.gz key under models/ (the only prefix the execution role may read)."
  }
}

variable "image_tag" {
  description = "Tag of AWS's tensorflow-inference Deep Learning Container; its TensorFlow Serving must load the exported SavedModel."
  type        = string
  default     = "2.19-cpu-py312-sagemaker"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+(\\.[0-9]+)?-(cpu|gpu)-py3[0-9]+", var.image_tag))
    error_message = "image_tag must be a tensorflow-inference tag such as 2.19-cpu-py312-sagemaker or 2.19.0-cpu-py312-ubuntu22.04-sagemaker."
  }
}

################################################################################
# Capacity
################################################################################

variable "serverless" {
  description = "Serverless capacity (memory_size_in_mb, max_concurrency, optional provisioned_concurrency). null deploys provisioned instances with autoscaling instead."
  type = object({
    memory_size_in_mb       = number
    max_concurrency         = number
    provisioned_concurrency = optional(number)
  })
  default = null

  validation {
    condition     = var.serverless == null ? true : contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless.memory_size_in_mb)
    error_message = "serverless.memory_size_in_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144."
  }

  validation {
    condition     = var.serverless == null ? true : (var.serverless.max_concurrency >= 1 && var.serverless.max_concurrency <= 200 && floor(var.serverless.max_concurrency) == var.serverless.max_concurrency)
    error_message = "serverless.max_concurrency must be a whole number between 1 and 200."
  }

  validation {
    condition = var.serverless == null ? true : (
      var.serverless.provisioned_concurrency == null ? true : (
        var.serverless.provisioned_concurrency >= 1
        && var.serverless.provisioned_concurrency <= var.serverless.max_concurrency
        && floor(var.serverless.provisioned_concurrency) == var.serverless.provisioned_concurrency
      )
    )
    error_message = "serverless.provisioned_concurrency must be a whole number between 1 and max_concurrency."
  }
}

variable "instance_type" {
  description = "ML instance type of the provisioned variant (ignored when serverless is set)."
  type        = string
  default     = "ml.c6i.large"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be a SageMaker instance type such as ml.c6i.large."
  }
}

variable "instance_count_min" {
  description = "Instances the provisioned variant starts with after every deployment, and the autoscaling floor."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count_min >= 1 && floor(var.instance_count_min) == var.instance_count_min
    error_message = "instance_count_min must be a whole number >= 1."
  }
}

variable "instance_count_max" {
  description = "Autoscaling ceiling of the provisioned variant."
  type        = number
  default     = 2

  validation {
    condition     = var.instance_count_max >= var.instance_count_min && floor(var.instance_count_max) == var.instance_count_max
    error_message = "instance_count_max must be a whole number >= instance_count_min."
  }
}

variable "invocations_per_instance_target" {
  description = "Target of SageMakerVariantInvocationsPerInstance (invocations per instance per minute) that autoscaling keeps the variant at; measure it with `make bench`."
  type        = number
  default     = 300

  validation {
    condition     = var.invocations_per_instance_target > 0
    error_message = "invocations_per_instance_target must be > 0."
  }
}

variable "scale_in_cooldown_seconds" {
  description = "Seconds after a scale-in before autoscaling may remove another instance."
  type        = number
  default     = 300

  validation {
    condition     = var.scale_in_cooldown_seconds >= 0 && floor(var.scale_in_cooldown_seconds) == var.scale_in_cooldown_seconds
    error_message = "scale_in_cooldown_seconds must be a whole number >= 0."
  }
}

variable "scale_out_cooldown_seconds" {
  description = "Seconds after a scale-out before autoscaling may add another instance."
  type        = number
  default     = 60

  validation {
    condition     = var.scale_out_cooldown_seconds >= 0 && floor(var.scale_out_cooldown_seconds) == var.scale_out_cooldown_seconds
    error_message = "scale_out_cooldown_seconds must be a whole number >= 0."
  }
}

################################################################################
# TensorFlow Serving
################################################################################

variable "tfs_batching" {
  description = "TensorFlow Serving server-side batching, passed to the container as SAGEMAKER_TFS_* variables. null disables batching; unset optional fields keep the container's defaults (CPU count)."
  type = object({
    max_batch_size       = optional(number, 64)
    batch_timeout_micros = optional(number, 2000)
    num_batch_threads    = optional(number)
    max_enqueued_batches = optional(number)
  })
  default = {}

  validation {
    # TF Serving rejects a request holding more instances than max_batch_size, so it must cover the API's
    # MAX_TEXTS (64 texts per request).
    condition     = var.tfs_batching == null ? true : var.tfs_batching.max_batch_size >= 1 && floor(var.tfs_batching.max_batch_size) == var.tfs_batching.max_batch_size
    error_message = "tfs_batching.max_batch_size must be a whole number >= 1 (and at least the API's MAX_TEXTS)."
  }

  validation {
    condition     = var.tfs_batching == null ? true : var.tfs_batching.batch_timeout_micros >= 0 && floor(var.tfs_batching.batch_timeout_micros) == var.tfs_batching.batch_timeout_micros
    error_message = "tfs_batching.batch_timeout_micros must be a whole number >= 0."
  }

  validation {
    condition = var.tfs_batching == null ? true : alltrue([
      for v in [var.tfs_batching.num_batch_threads, var.tfs_batching.max_enqueued_batches] : v == null ? true : v >= 1 && floor(v) == v
    ])
    error_message = "tfs_batching.num_batch_threads and max_enqueued_batches must be whole numbers >= 1 when set."
  }
}

################################################################################
# Deployment
################################################################################

variable "traffic_routing" {
  description = "Blue/green traffic shifting: type ALL_AT_ONCE, CANARY or LINEAR; wait_seconds of alarm-watched baking per step; step_size_percent of capacity for the canary or each linear step. Serverless endpoints support ALL_AT_ONCE only."
  type = object({
    type              = string
    wait_seconds      = number
    step_size_percent = optional(number)
  })
  default = {
    type         = "ALL_AT_ONCE"
    wait_seconds = 300
  }

  validation {
    condition     = contains(["ALL_AT_ONCE", "CANARY", "LINEAR"], var.traffic_routing.type)
    error_message = "traffic_routing.type must be ALL_AT_ONCE, CANARY or LINEAR."
  }

  validation {
    condition     = var.traffic_routing.wait_seconds >= 0 && var.traffic_routing.wait_seconds <= 3600 && floor(var.traffic_routing.wait_seconds) == var.traffic_routing.wait_seconds
    error_message = "traffic_routing.wait_seconds must be a whole number between 0 and 3600."
  }

  validation {
    # SageMaker: a canary is at most 50% of the new fleet, a linear step 10-50%.
    condition = (
      var.traffic_routing.type == "ALL_AT_ONCE" ? var.traffic_routing.step_size_percent == null :
      var.traffic_routing.step_size_percent == null ? false :
      var.traffic_routing.step_size_percent >= (var.traffic_routing.type == "LINEAR" ? 10 : 1)
      && var.traffic_routing.step_size_percent <= 50
      && floor(var.traffic_routing.step_size_percent) == var.traffic_routing.step_size_percent
    )
    error_message = "traffic_routing.step_size_percent is required for CANARY (1-50) and LINEAR (10-50) and must be unset for ALL_AT_ONCE."
  }
}

variable "termination_wait_seconds" {
  description = "Seconds the old (blue) fleet is kept after traffic has fully shifted, so a manual rollback stays instant."
  type        = number
  default     = 0

  validation {
    condition     = var.termination_wait_seconds >= 0 && var.termination_wait_seconds <= 3600 && floor(var.termination_wait_seconds) == var.termination_wait_seconds
    error_message = "termination_wait_seconds must be a whole number between 0 and 3600."
  }
}

variable "deployment_timeout_seconds" {
  description = "maximum_execution_timeout_in_seconds of a blue/green deployment. null derives it from the baking and termination waits plus 30 minutes for provisioning the new fleet."
  type        = number
  default     = null

  validation {
    condition     = var.deployment_timeout_seconds == null ? true : var.deployment_timeout_seconds >= 600 && var.deployment_timeout_seconds <= 14400
    error_message = "deployment_timeout_seconds must be between 600 and 14400."
  }
}

variable "rollback_alarm_names" {
  description = "CloudWatch alarms (output endpoint_rollback_alarm_names of the monitoring module) that roll a deployment back if they fire while traffic shifts. Empty disables automatic rollback."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.rollback_alarm_names) <= 10 && alltrue([for n in var.rollback_alarm_names : length(n) >= 1 && length(n) <= 255])
    error_message = "rollback_alarm_names takes at most 10 alarm names (SageMaker's limit), each 1-255 characters."
  }
}

################################################################################
# Operations
################################################################################

variable "log_retention_days" {
  description = "Retention of the endpoint's container log group /aws/sagemaker/Endpoints/<name>."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
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
