output "bucket_name" {
  description = "Name of the artifact bucket."
  value       = module.bucket.bucket_name
}

output "bucket_arn" {
  description = "ARN of the artifact bucket (object ARNs are \"<arn>/<key>\")."
  value       = module.bucket.bucket_arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the artifact bucket."
  value       = module.bucket.bucket_regional_domain_name
}
