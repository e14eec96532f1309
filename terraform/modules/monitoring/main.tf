data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # Every metric below is published once a minute.
  period_seconds = 60

  alarm_actions = var.create_sns_topic ? [aws_sns_topic.alarms[0].arn] : []

  api_dimensions      = { ApiId = var.api_id, Stage = var.api_stage }
  endpoint_dimensions = { EndpointName = var.endpoint_name, VariantName = var.variant_name }

  # The functions' own metrics (METRICS_NAMESPACE, METRIC_UNITS and FLAG_METRIC_PREFIX in the modules of lambda/),
  # each published per Service, Errors also per Service and ErrorCode. A structure test holds the names used below to
  # the ones the functions emit.
  metrics_namespace   = "toxiguard"
  service_dimensions  = { Service = var.metrics_service }
  latency_percentiles = ["p50", "p90", "p99"]
  # The review queue's counts are small: five-minute sums, for its alarm and its graphs alike.
  review_period_seconds = 300
  # Errors of every ErrorCode that occurred: SEARCH finds the codes, so the dashboard needs no list of them.
  errors_by_code = "SEARCH('{${local.metrics_namespace},ErrorCode,Service} MetricName=\"Errors\" Service=\"${var.metrics_service}\"', 'Sum', ${local.period_seconds})"

  # Errors and throttles of both API functions, by alarm name prefix: "lambda" for the scoring function (the name it
  # has had since it was the only one), "reviews-lambda" for the reviews function.
  lambda_functions = { "lambda" = var.lambda_function_name, "reviews-lambda" = var.reviews_function_name }
  lambda_alarms = merge([
    for prefix, function_name in local.lambda_functions : {
      "${prefix}-errors" = {
        description        = "Lambda ${function_name} failed (unhandled errors or timeouts)."
        namespace          = "AWS/Lambda"
        metric_name        = "Errors"
        dimensions         = { FunctionName = function_name }
        statistic          = "Sum"
        extended_statistic = null
        operator           = "GreaterThanOrEqualToThreshold"
        threshold          = var.error_count_threshold
        rollback           = false
      }
      "${prefix}-throttles" = {
        description        = "Lambda ${function_name} is throttled: reserved concurrency exhausted."
        namespace          = "AWS/Lambda"
        metric_name        = "Throttles"
        dimensions         = { FunctionName = function_name }
        statistic          = "Sum"
        extended_statistic = null
        operator           = "GreaterThanOrEqualToThreshold"
        threshold          = var.error_count_threshold
        rollback           = false
      }
    }
  ]...)

  # Single-metric alarms. rollback = true marks the endpoint's own alarms, which SageMaker watches during
  # blue/green deployments: they must describe the new model's health only, not the API or Lambda around it.
  metric_alarms = merge(local.lambda_alarms, {
    "api-latency-p99" = {
      description        = "p99 latency of the HTTP API above ${var.api_latency_p99_threshold_ms} ms."
      namespace          = "AWS/ApiGateway"
      metric_name        = "Latency"
      dimensions         = local.api_dimensions
      statistic          = null
      extended_statistic = "p99"
      operator           = "GreaterThanThreshold"
      threshold          = var.api_latency_p99_threshold_ms
      rollback           = false
    }
    "endpoint-model-latency-p99" = {
      description = "p99 ModelLatency of endpoint ${var.endpoint_name} above ${var.model_latency_p99_threshold_ms} ms."
      namespace   = "AWS/SageMaker"
      metric_name = "ModelLatency"
      dimensions  = local.endpoint_dimensions
      statistic   = null
      # p99 via extended statistics; ModelLatency is reported in microseconds.
      extended_statistic = "p99"
      operator           = "GreaterThanThreshold"
      threshold          = var.model_latency_p99_threshold_ms * 1000
      rollback           = true
    }
    "endpoint-invocation-5xx-errors" = {
      description        = "Endpoint ${var.endpoint_name} answers invocations with 5xx (container or platform failures)."
      namespace          = "AWS/SageMaker"
      metric_name        = "Invocation5XXErrors"
      dimensions         = local.endpoint_dimensions
      statistic          = "Sum"
      extended_statistic = null
      operator           = "GreaterThanOrEqualToThreshold"
      threshold          = var.error_count_threshold
      rollback           = true
    }
    "endpoint-invocation-model-errors" = {
      description        = "The model behind endpoint ${var.endpoint_name} returns errors (e.g. TF Serving rejects the request)."
      namespace          = "AWS/SageMaker"
      metric_name        = "InvocationModelErrors"
      dimensions         = local.endpoint_dimensions
      statistic          = "Sum"
      extended_statistic = null
      operator           = "GreaterThanOrEqualToThreshold"
      threshold          = var.error_count_threshold
      rollback           = true
    }
  })
}

################################################################################
# Alarms
################################################################################

# Error rate rather than error count, so the alarm means the same at 1 and at 1000 requests per minute.
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_threshold * 100}% of HTTP API requests answered with 5xx."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_rate_threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "error_rate"
    label       = "5xx rate"
    expression  = "IF(requests > 0, errors / requests, 0)"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = local.api_dimensions
      period      = local.period_seconds
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = local.api_dimensions
      period      = local.period_seconds
      stat        = "Sum"
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "single_metric" {
  for_each = local.metric_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = local.period_seconds
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  # No traffic is not an outage (and serverless endpoints publish nothing while idle).
  treat_missing_data = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = var.tags
}

# A change in what the model flags is the drift signal of a moderation service: a new model, new thresholds, a
# broken model that flags everything or nothing, or a change in the comments themselves. The watched value is the
# share of all texts scored in a period that were flagged (sums of FlaggedTexts over TextsScored): the rate at which
# comments are flagged. The mean of per-request FlaggedShare would weigh a 64-text batch like a single comment.
# Periods with fewer than flagged_share_min_texts texts give no data point: a share of a handful of texts is noise.
# Both directions alarm: fewer flags can mean a broken model just as well.
resource "aws_cloudwatch_metric_alarm" "flagged_share_anomaly" {
  alarm_name          = "${var.name}-flagged-share-anomaly"
  alarm_description   = "The share of scored texts that were flagged left its expected band (${var.flagged_share_band_width} standard deviations of CloudWatch anomaly detection): the model, its thresholds or the comments changed."
  comparison_operator = "LessThanLowerOrGreaterThanUpperThreshold"
  threshold_metric_id = "expected"
  evaluation_periods  = var.flagged_share_evaluation_periods
  datapoints_to_alarm = var.flagged_share_evaluation_periods
  # No traffic, or too little to count, is not a change in flag rate.
  treat_missing_data = "notBreaching"

  metric_query {
    id          = "flagged_share"
    label       = "flagged texts / texts scored"
    expression  = "IF(texts >= ${var.flagged_share_min_texts}, flagged / texts)"
    return_data = true
  }

  metric_query {
    id          = "expected"
    label       = "expected flagged share"
    expression  = "ANOMALY_DETECTION_BAND(flagged_share, ${var.flagged_share_band_width})"
    return_data = true
  }

  metric_query {
    id = "flagged"

    metric {
      namespace   = local.metrics_namespace
      metric_name = "FlaggedTexts"
      dimensions  = local.service_dimensions
      period      = var.flagged_share_period_seconds
      stat        = "Sum"
    }
  }

  metric_query {
    id = "texts"

    metric {
      namespace   = local.metrics_namespace
      metric_name = "TextsScored"
      dimensions  = local.service_dimensions
      period      = var.flagged_share_period_seconds
      stat        = "Sum"
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = var.tags
}

# Review items the scoring function could not queue (the handler's ReviewStoreFailures: it answers with
# "stored": false and the scores, so clients see no error): any at all means moderators miss comments.
resource "aws_cloudwatch_metric_alarm" "review_store_failures" {
  alarm_name          = "${var.name}-review-store-failures"
  alarm_description   = "Review items could not be stored in the review queue (${var.reviews_table_name}): moderators do not see them."
  namespace           = local.metrics_namespace
  metric_name         = "ReviewStoreFailures"
  dimensions          = local.service_dimensions
  statistic           = "Sum"
  period              = local.review_period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  # Requests that store nothing publish nothing.
  treat_missing_data = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = var.tags
}

################################################################################
# Dashboard
################################################################################

# Six rows on the 24-column grid: traffic, latency and errors; flag rates; the flag-rate alarm and API Gateway's
# errors; the SageMaker endpoint; the review queue (stored, the reviews function, the table); the moderators' work.
# The functions' metrics are per minute except the flag rates, which use the alarm's period, and the review queue's
# counts, which use five minutes.
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name

  dashboard_body = jsonencode({
    widgets = [
      {
        type   = "metric"
        x      = 0
        y      = 0
        width  = 8
        height = 6
        properties = {
          title  = "Requests per minute"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period_seconds
          metrics = [
            [local.metrics_namespace, "Requests", "Service", var.metrics_service, { label = "handler requests" }],
            [local.metrics_namespace, "TextsScored", "Service", var.metrics_service, { label = "texts scored" }],
            [local.metrics_namespace, "HealthProbeCalls", "Service", var.metrics_service, { label = "health probes (endpoint calls)" }],
            ["AWS/ApiGateway", "Count", "ApiId", var.api_id, "Stage", var.api_stage, { label = "API Gateway requests" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 0
        width  = 8
        height = 6
        properties = {
          title  = "Latency (ms): whole request and InvokeEndpoint call"
          region = data.aws_region.current.region
          view   = "timeSeries"
          period = local.period_seconds
          metrics = concat(
            [for stat in local.latency_percentiles : [local.metrics_namespace, "Latency", "Service", var.metrics_service, { stat = stat, label = "request ${stat}" }]],
            [for stat in local.latency_percentiles : [local.metrics_namespace, "ModelLatency", "Service", var.metrics_service, { stat = stat, label = "model call ${stat}" }]],
          )
          yAxis = { left = { min = 0, label = "ms", showUnits = false } }
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 0
        width  = 8
        height = 6
        properties = {
          title  = "Errors per minute by code"
          region = data.aws_region.current.region
          view   = "timeSeries"
          period = local.period_seconds
          metrics = [
            [{ id = "errors", label = "", expression = local.errors_by_code }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 6
        width  = 12
        height = 6
        properties = {
          title  = "Flag rate per label (texts flagged / texts scored)"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = var.flagged_share_period_seconds
          metrics = concat(
            [[local.metrics_namespace, "TextsScored", "Service", var.metrics_service, { id = "texts", visible = false }]],
            [for index, label in var.model_labels : [local.metrics_namespace, "Flags_${label}", "Service", var.metrics_service, { id = "flags${index}", visible = false }]],
            [for index, label in var.model_labels : [{ id = "rate${index}", label = label, expression = "flags${index} / texts" }]],
          )
          yAxis = { left = { min = 0, showUnits = false } }
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 6
        width  = 12
        height = 6
        properties = {
          title  = "Flagged share"
          region = data.aws_region.current.region
          view   = "timeSeries"
          period = var.flagged_share_period_seconds
          metrics = [
            [local.metrics_namespace, "FlaggedTexts", "Service", var.metrics_service, { id = "flagged", stat = "Sum", visible = false }],
            [local.metrics_namespace, "TextsScored", "Service", var.metrics_service, { id = "texts", stat = "Sum", visible = false }],
            [{ id = "share", label = "flagged texts / texts scored (the alarm's value)", expression = "flagged / texts" }],
            [local.metrics_namespace, "FlaggedShare", "Service", var.metrics_service, { stat = "Average", label = "mean of the requests' shares" }],
          ]
          yAxis = { left = { min = 0, showUnits = false } }
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 12
        width  = 12
        height = 6
        properties = {
          title       = "Flagged-share alarm and its expected band"
          region      = data.aws_region.current.region
          annotations = { alarms = [aws_cloudwatch_metric_alarm.flagged_share_anomaly.arn] }
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 12
        width  = 12
        height = 6
        properties = {
          title  = "API Gateway 4xx and 5xx per minute"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period_seconds
          metrics = [
            ["AWS/ApiGateway", "4xx", "ApiId", var.api_id, "Stage", var.api_stage, { label = "4xx (throttling, auth, client errors)" }],
            ["AWS/ApiGateway", "5xx", "ApiId", var.api_id, "Stage", var.api_stage, { label = "5xx" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 18
        width  = 12
        height = 6
        properties = {
          title  = "SageMaker endpoint invocations per minute"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period_seconds
          metrics = [
            for name in ["Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors"] :
            ["AWS/SageMaker", name, "EndpointName", var.endpoint_name, "VariantName", var.variant_name]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 18
        width  = 12
        height = 6
        properties = {
          title  = "SageMaker ModelLatency"
          region = data.aws_region.current.region
          view   = "timeSeries"
          period = local.period_seconds
          metrics = [
            for stat in local.latency_percentiles :
            ["AWS/SageMaker", "ModelLatency", "EndpointName", var.endpoint_name, "VariantName", var.variant_name, { stat = stat, label = stat }]
          ]
          yAxis = { left = { min = 0, label = "microseconds", showUnits = false } }
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 24
        width  = 8
        height = 6
        properties = {
          title  = "Review queue: items stored and lost per 5 minutes"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.review_period_seconds
          metrics = [
            [local.metrics_namespace, "ReviewItemsStored", "Service", var.metrics_service, { label = "stored for moderators" }],
            [local.metrics_namespace, "ReviewStoreFailures", "Service", var.metrics_service, { label = "not stored (the alarm's value)" }],
          ]
          yAxis = { left = { min = 0, showUnits = false } }
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 24
        width  = 8
        height = 6
        properties = {
          title  = "Reviews function per minute"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period_seconds
          metrics = [
            for name in ["Invocations", "Errors", "Throttles"] :
            ["AWS/Lambda", name, "FunctionName", var.reviews_function_name]
          ]
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 24
        width  = 8
        height = 6
        properties = {
          title  = "Review table per minute: capacity used and throttling"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period_seconds
          metrics = [
            for name in ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ReadThrottleEvents", "WriteThrottleEvents"] :
            ["AWS/DynamoDB", name, "TableName", var.reviews_table_name]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 30
        width  = 12
        height = 6
        properties = {
          title  = "Moderators per 5 minutes: decisions and queue pages"
          region = data.aws_region.current.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.review_period_seconds
          metrics = [
            [local.metrics_namespace, "Decisions", "Service", var.metrics_service, { label = "decisions recorded" }],
            [local.metrics_namespace, "DecisionConflicts", "Service", var.metrics_service, { label = "decisions too late (another moderator's first)" }],
            [local.metrics_namespace, "ReviewsListed", "Service", var.metrics_service, { label = "items listed" }],
          ]
          yAxis = { left = { min = 0, showUnits = false } }
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 30
        width  = 12
        height = 6
        properties = {
          title  = "Review store latency (ms): the reviews function's table calls per request"
          region = data.aws_region.current.region
          view   = "timeSeries"
          period = local.period_seconds
          metrics = [
            for stat in local.latency_percentiles : [local.metrics_namespace, "StoreLatency", "Service", var.metrics_service, { stat = stat, label = stat }]
          ]
          yAxis = { left = { min = 0, label = "ms", showUnits = false } }
        }
      },
    ]
  })
}

################################################################################
# Notifications (optional)
################################################################################

# A customer managed key, not alias/aws/sns: CloudWatch alarms cannot publish to a topic encrypted with the
# AWS managed SNS key, because that key's policy cannot grant cloudwatch.amazonaws.com kms:GenerateDataKey.
data "aws_iam_policy_document" "alarm_topic_key" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" is the key itself and the statement delegates to the account's IAM policies (AWS's default key policy).
  #checkov:skip=CKV_AWS_111:Key policy: "*" is the key itself and the statement delegates to the account's IAM policies (AWS's default key policy).
  #checkov:skip=CKV_AWS_356:Key policy: "*" in a key policy means this key only.
  count = var.create_sns_topic ? 1 : 0

  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsEncryptNotifications"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    # Confused-deputy guard: only CloudWatch acting for this account's alarms may use the key.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "alarm_topic" {
  count = var.create_sns_topic ? 1 : 0

  description         = "Encrypts the ${var.name} alarm notifications topic."
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.alarm_topic_key[0].json

  tags = var.tags
}

resource "aws_kms_alias" "alarm_topic" {
  count = var.create_sns_topic ? 1 : 0

  name          = "alias/${var.name}-alarms"
  target_key_id = aws_kms_key.alarm_topic[0].key_id
}

resource "aws_sns_topic" "alarms" {
  count = var.create_sns_topic ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.alarm_topic[0].arn

  tags = var.tags
}

data "aws_iam_policy_document" "alarm_topic" {
  count = var.create_sns_topic ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    # Only this module's alarms, in this account and region.
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:alarm:${var.name}-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count = var.create_sns_topic ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic[0].json
}

resource "aws_sns_topic_subscription" "email" {
  count = var.create_sns_topic && var.alarm_email != "" ? 1 : 0

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
