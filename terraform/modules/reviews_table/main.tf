data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # The store's layout (lambda/review_store.py): items by id; the moderators' queue through the index, one partition
  # per status, newest first by "<created_at>#<id>"; expires_at in epoch seconds, which DynamoDB's TTL deletes.
  hash_key       = "id"
  index_name     = "status-created"
  index_hash_key = "status"
  index_sort_key = "created_key"
  ttl_attribute  = "expires_at"

  # Throttle events of the table and of its index (a throttled index write throttles the table's write), by query id.
  table_dimensions = { TableName = var.name }
  throttle_metrics = {
    table_reads  = { metric_name = "ReadThrottleEvents", dimensions = local.table_dimensions }
    table_writes = { metric_name = "WriteThrottleEvents", dimensions = local.table_dimensions }
    index_reads  = { metric_name = "ReadThrottleEvents", dimensions = merge(local.table_dimensions, { GlobalSecondaryIndexName = local.index_name }) }
    index_writes = { metric_name = "WriteThrottleEvents", dimensions = merge(local.table_dimensions, { GlobalSecondaryIndexName = local.index_name }) }
  }
  # The calls the API's functions make (PutItem from the scoring function; Query, GetItem and UpdateItem from the
  # reviews function), by query id: SystemErrors is published per TableName and Operation only, so the alarm sums them.
  system_error_metrics = {
    for operation in ["GetItem", "PutItem", "Query", "UpdateItem"] :
    lower(operation) => { metric_name = "SystemErrors", dimensions = merge(local.table_dimensions, { Operation = operation }) }
  }

  # Five-minute periods: a throttled or failed write is an item missing from the queue, worth a look at once.
  period_seconds = 300
  alarm_actions  = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}

################################################################################
# Encryption key
################################################################################

# Only AWS's default statement: the account's IAM policies decide who may use the key. The functions' roles may use it
# only through DynamoDB (kms:ViaService), and DynamoDB itself uses it through the grants it creates, with the deploy
# role's kms:CreateGrant, when the table is created; no service principal needs a statement of its own.
data "aws_iam_policy_document" "table_key" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" is the key itself and the statement delegates to the account's IAM policies (AWS's default key policy).
  #checkov:skip=CKV_AWS_111:Key policy: "*" is the key itself and the statement delegates to the account's IAM policies (AWS's default key policy).
  #checkov:skip=CKV_AWS_356:Key policy: "*" in a key policy means this key only.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "table" {
  description         = "Encrypts the ${var.name} review queue table (comment texts of moderation results)."
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.table_key.json

  tags = var.tags
}

resource "aws_kms_alias" "table" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.table.key_id
}

################################################################################
# Table
################################################################################

resource "aws_dynamodb_table" "this" {
  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = local.hash_key

  # Only the keys are declared; the items' other attributes are free-form.
  attribute {
    name = local.hash_key
    type = "S"
  }

  attribute {
    name = local.index_hash_key
    type = "S"
  }

  attribute {
    name = local.index_sort_key
    type = "S"
  }

  # ALL: a page of the queue is one Query, with no GetItem per item.
  global_secondary_index {
    name            = local.index_name
    hash_key        = local.index_hash_key
    range_key       = local.index_sort_key
    projection_type = "ALL"
  }

  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.table.arn
  }

  deletion_protection_enabled = var.deletion_protection

  tags = var.tags
}

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = {
    "throttled-requests" = {
      description = "Requests to the ${var.name} table or its ${local.index_name} index were throttled: review items may be missing from the queue, or the queue unreadable."
      label       = "read and write throttle events, table and index"
      metrics     = local.throttle_metrics
    }
    "system-errors" = {
      description = "DynamoDB failed requests to the ${var.name} table with its own errors (500), after the SDK's retries."
      label       = "system errors, every operation the functions call"
      metrics     = local.system_error_metrics
    }
  }

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  # No traffic is no failure.
  treat_missing_data = "notBreaching"

  metric_query {
    id          = "total"
    label       = each.value.label
    expression  = "SUM([${join(", ", keys(each.value.metrics))}])"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.metrics

    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        period      = local.period_seconds
        stat        = "Sum"
      }
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = var.tags
}
