output "site_url" {
  description = "URL of the web page, https://<distribution>.cloudfront.net."
  value       = "https://${aws_cloudfront_distribution.this.domain_name}"
}

output "site_origin" {
  description = "Origin of the web page (scheme and host, no trailing slash), for the API's allowed origins."
  value       = "https://${aws_cloudfront_distribution.this.domain_name}"
}

output "bucket_name" {
  description = "Name of the private bucket holding the site files."
  value       = module.bucket.bucket_name
}

output "cloudfront_distribution_id" {
  description = "ID of the CloudFront distribution (for cache invalidations)."
  value       = aws_cloudfront_distribution.this.id
}

output "cloudfront_distribution_arn" {
  description = "ARN of the CloudFront distribution."
  value       = aws_cloudfront_distribution.this.arn
}
