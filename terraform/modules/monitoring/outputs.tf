output "alarm_arns" {
  description = "ARN of every alarm, keyed by its name without the name prefix (e.g. \"api-5xx-rate\", \"review-store-failures\")."
  value = merge(
    { "api-5xx-rate" = aws_cloudwatch_metric_alarm.api_5xx_rate.arn },
    { "flagged-share-anomaly" = aws_cloudwatch_metric_alarm.flagged_share_anomaly.arn },
    { "review-store-failures" = aws_cloudwatch_metric_alarm.review_store_failures.arn },
    { for key, alarm in aws_cloudwatch_metric_alarm.single_metric : key => alarm.arn },
  )
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (the same as var.name)."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_arn
}

output "endpoint_rollback_alarm_names" {
  description = "Names of the endpoint's own alarms (model latency, invocation 5xx, model errors), for model_endpoint.rollback_alarm_names: SageMaker rolls a blue/green deployment back when one fires."
  # Read from the resources, not rebuilt from strings, so the endpoint that consumes them waits for the alarms.
  value = [for key, alarm in aws_cloudwatch_metric_alarm.single_metric : alarm.alarm_name if local.metric_alarms[key].rollback]
}

output "sns_topic_arn" {
  description = "ARN of the alarm topic, or null when create_sns_topic is false."
  value       = var.create_sns_topic ? aws_sns_topic.alarms[0].arn : null
}
