data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  provisioned  = var.serverless == null
  variant_name = "AllTraffic"

  model_data_key = coalesce(var.model_data_key, "models/${var.model_version}/model.tar.gz")
  # Named by the model version, plus a short hash of the container settings: a new image tag or batching setting
  # for the same version is a new model too, and create_before_destroy needs the new one under a new name.
  container_hash = substr(sha1(jsonencode([var.image_tag, local.batching_environment, local.provisioned])), 0, 6)
  model_name     = "${var.name}-${var.model_version}-${local.container_hash}"

  # The container reads these at start-up and writes TF Serving's batching_parameters file from them;
  # unset values keep the container's own defaults.
  batching_environment = var.tfs_batching == null ? {} : {
    for key, value in {
      SAGEMAKER_TFS_ENABLE_BATCHING      = "true"
      SAGEMAKER_TFS_MAX_BATCH_SIZE       = var.tfs_batching.max_batch_size
      SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS = var.tfs_batching.batch_timeout_micros
      SAGEMAKER_TFS_NUM_BATCH_THREADS    = var.tfs_batching.num_batch_threads
      SAGEMAKER_TFS_MAX_ENQUEUED_BATCHES = var.tfs_batching.max_enqueued_batches
    } : key => tostring(value) if value != null
  }

  # Every step bakes for wait_seconds: one for ALL_AT_ONCE, canary + rest for CANARY, one per step for LINEAR.
  traffic_steps = {
    ALL_AT_ONCE = 1
    CANARY      = 2
    LINEAR      = ceil(100 / coalesce(var.traffic_routing.step_size_percent, 100))
  }[var.traffic_routing.type]
  # 30 minutes on top of the waits covers provisioning and health-checking the new fleet.
  deployment_timeout_seconds = coalesce(
    var.deployment_timeout_seconds,
    min(14400, max(600, local.traffic_steps * var.traffic_routing.wait_seconds + var.termination_wait_seconds + 1800)),
  )

  endpoint_log_group_name = "/aws/sagemaker/Endpoints/${var.name}"
  image_repository_name   = "tensorflow-inference"
  # The image's repository in AWS's regional registry: what a role running the image (this module's, the batch
  # transform's) may pull from.
  image_repository_arn = "arn:${data.aws_partition.current.partition}:ecr:${data.aws_region.current.region}:${data.aws_sagemaker_prebuilt_ecr_image.tensorflow_serving.registry_id}:repository/${local.image_repository_name}"
}

################################################################################
# Serving image
################################################################################

# AWS's TensorFlow Serving Deep Learning Container for the current region; the data source only builds the
# registry path, so a tag that does not exist fails when the endpoint starts, not at plan time.
data "aws_sagemaker_prebuilt_ecr_image" "tensorflow_serving" {
  repository_name = local.image_repository_name
  image_tag       = var.image_tag
}

################################################################################
# Execution role
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "SageMakerAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    # Confused-deputy guard: only SageMaker acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name}-sagemaker-execution"
  description          = "Lets SageMaker endpoint ${var.name} read its model archive, pull the serving image and write its logs."
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid     = "ReadModelArtifacts"
    actions = ["s3:GetObject"]
    # The whole models/ prefix, not just this version: during a blue/green deployment and after a rollback the
    # previous model must still be readable (the bucket's SSE-KMS uses the aws/s3 managed key, which needs no
    # extra grant).
    resources = ["${var.artifact_bucket_arn}/models/*"]
  }

  statement {
    sid       = "PullServingImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [local.image_repository_arn]
  }

  statement {
    sid     = "GetEcrAuthorizationToken"
    actions = ["ecr:GetAuthorizationToken"]
    # GetAuthorizationToken supports no resource-level permissions: "*" is the only valid resource. The action
    # list stays explicit, and the token alone grants nothing beyond the repository statement above.
    resources = ["*"]
  }

  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [aws_cloudwatch_log_group.endpoint.arn, "${aws_cloudwatch_log_group.endpoint.arn}:*"]
  }

  statement {
    sid     = "PublishEndpointMetrics"
    actions = ["cloudwatch:PutMetricData"]
    # PutMetricData has no resource-level permissions; the namespace condition is the available scope.
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/Endpoints"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "sagemaker-endpoint"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Created here rather than by SageMaker so that it has a retention period.
resource "aws_cloudwatch_log_group" "endpoint" {
  #checkov:skip=CKV_AWS_158:Container logs hold TF Serving start-up and error lines, not request bodies; the default service-side encryption suffices and a customer managed key would cost more than the data is worth.
  #checkov:skip=CKV_AWS_338:Operational logs only; retention is the log_retention_days input (30 days by default) to keep cost proportional.
  name              = local.endpoint_log_group_name
  retention_in_days = var.log_retention_days

  tags = var.tags
}

################################################################################
# Model
################################################################################

resource "aws_sagemaker_model" "this" {
  name               = local.model_name
  execution_role_arn = aws_iam_role.execution.arn
  # Serverless endpoints reject network isolation; on instances it keeps the container off the network
  # (SageMaker itself downloads the archive).
  enable_network_isolation = local.provisioned

  primary_container {
    image          = data.aws_sagemaker_prebuilt_ecr_image.tensorflow_serving.registry_path
    mode           = "SingleModel"
    model_data_url = "s3://${var.artifact_bucket_name}/${local.model_data_key}"
    environment    = local.batching_environment
  }

  tags = var.tags

  lifecycle {
    # A new version is a new model; the old one must outlive the deployment that replaces it.
    create_before_destroy = true

    precondition {
      condition     = length(local.model_name) <= 63
      error_message = "SageMaker model names are limited to 63 characters: \"${local.model_name}\" is ${length(local.model_name)}. Shorten name or use a shorter commit hash in model_version."
    }
  }

  # SageMaker checks the role when the endpoint starts; its permissions must be in place by then.
  depends_on = [aws_iam_role_policy.execution]
}

################################################################################
# Endpoint configuration
################################################################################

# Endpoint configurations are immutable (every argument forces replacement). A generated name plus
# create_before_destroy lets Terraform create the new configuration, point the endpoint at it (a blue/green
# deployment) and only then delete the old one; a fixed name would either collide or leave the old model serving.
resource "aws_sagemaker_endpoint_configuration" "this" {
  #checkov:skip=CKV_AWS_98:SageMaker already encrypts the instance storage volume with an AWS managed key; a customer managed key (kms_key_arn) would add a key policy granting the execution role to maintain, for a volume that only holds the public-image container and the model archive.
  name_prefix = "${var.name}-"

  production_variants {
    variant_name = local.variant_name
    model_name   = aws_sagemaker_model.this.name

    instance_type          = local.provisioned ? var.instance_type : null
    initial_instance_count = local.provisioned ? var.instance_count_min : null

    dynamic "serverless_config" {
      for_each = local.provisioned ? [] : [var.serverless]

      content {
        memory_size_in_mb       = serverless_config.value.memory_size_in_mb
        max_concurrency         = serverless_config.value.max_concurrency
        provisioned_concurrency = serverless_config.value.provisioned_concurrency
      }
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Endpoint
################################################################################

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name

  deployment_config {
    blue_green_update_policy {
      termination_wait_in_seconds          = var.termination_wait_seconds
      maximum_execution_timeout_in_seconds = local.deployment_timeout_seconds

      traffic_routing_configuration {
        type                     = var.traffic_routing.type
        wait_interval_in_seconds = var.traffic_routing.wait_seconds

        dynamic "canary_size" {
          for_each = var.traffic_routing.type == "CANARY" ? [var.traffic_routing.step_size_percent] : []

          content {
            type  = "CAPACITY_PERCENT"
            value = canary_size.value
          }
        }

        dynamic "linear_step_size" {
          for_each = var.traffic_routing.type == "LINEAR" ? [var.traffic_routing.step_size_percent] : []

          content {
            type  = "CAPACITY_PERCENT"
            value = linear_step_size.value
          }
        }
      }
    }

    # SageMaker watches these alarms while traffic shifts and during the baking waits, and moves traffic back to
    # the old fleet if any of them fires.
    dynamic "auto_rollback_configuration" {
      for_each = length(var.rollback_alarm_names) > 0 ? [var.rollback_alarm_names] : []

      content {
        dynamic "alarms" {
          for_each = auto_rollback_configuration.value

          content {
            alarm_name = alarms.value
          }
        }
      }
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.provisioned || var.traffic_routing.type == "ALL_AT_ONCE"
      error_message = "Serverless endpoints only support ALL_AT_ONCE traffic routing."
    }

    # After an automatic rollback the endpoint is InService again, on the previous configuration, so the
    # provider reports success. Failing here stops Terraform from deleting the configuration and model that are
    # still serving, and makes the rollback visible in the pipeline.
    postcondition {
      condition     = self.endpoint_config_name == aws_sagemaker_endpoint_configuration.this.name
      error_message = "Endpoint ${var.name} is not on the new configuration: SageMaker most likely rolled the deployment back after a rollback alarm fired. Inspect the alarms and `aws sagemaker describe-endpoint --endpoint-name ${var.name}`."
    }
  }
}

################################################################################
# Autoscaling (provisioned only)
################################################################################

# Application Auto Scaling refuses an endpoint update that changes the instance type of a registered variant.
# Replacing the scalable target whenever the instance type changes makes Terraform deregister it before the
# endpoint update and register it again afterwards (a model-only change is allowed while registered).
resource "terraform_data" "scaled_instance_type" {
  count = local.provisioned ? 1 : 0

  input = var.instance_type
}

resource "aws_appautoscaling_target" "variant" {
  count = local.provisioned ? 1 : 0

  service_namespace  = "sagemaker"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  # Built from the endpoint resource so the target is registered only once the endpoint exists.
  resource_id  = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  min_capacity = var.instance_count_min
  max_capacity = var.instance_count_max

  tags = var.tags

  lifecycle {
    replace_triggered_by = [terraform_data.scaled_instance_type[count.index]]
  }
}

resource "aws_appautoscaling_policy" "invocations_per_instance" {
  count = local.provisioned ? 1 : 0

  name               = "${var.name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.variant[count.index].service_namespace
  scalable_dimension = aws_appautoscaling_target.variant[count.index].scalable_dimension
  resource_id        = aws_appautoscaling_target.variant[count.index].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.invocations_per_instance_target
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }

  lifecycle {
    # Deregistering a target deletes its policies; recreate the policy with the target.
    replace_triggered_by = [aws_appautoscaling_target.variant[count.index]]
  }
}
