output "bucket_name" {
  description = "Name of the bucket. Read from the encryption configuration, so whatever writes objects through this output waits until default encryption is in place."
  value       = aws_s3_bucket_server_side_encryption_configuration.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket (object ARNs are \"<arn>/<key>\")."
  value       = local.bucket_arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket (e.g. a CloudFront origin); null when create_bucket is false."
  value       = one(aws_s3_bucket.this[*].bucket_regional_domain_name)
}
