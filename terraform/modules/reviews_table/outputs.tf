output "table_name" {
  description = "Name of the table (the functions' REVIEWS_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table: the scoring function's role may PutItem on it, the reviews function's GetItem and UpdateItem."
  value       = aws_dynamodb_table.this.arn
}

output "index_name" {
  description = "Name of the global secondary index the moderators' queue is read through (status, newest first)."
  value       = local.index_name
}

output "index_arn" {
  description = "ARN of that index (\"<table_arn>/index/<index_name>\"): the reviews function's role may Query it."
  value       = "${aws_dynamodb_table.this.arn}/index/${local.index_name}"
}

output "kms_key_arn" {
  description = "ARN of the customer managed key the table is encrypted with: the functions' roles use it through DynamoDB only."
  value       = aws_kms_key.table.arn
}

output "alarm_arns" {
  description = "ARN of each of the table's alarms, keyed by its name without the name prefix (\"throttled-requests\", \"system-errors\")."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }
}
