output "site_url" {
  description = "URL of the web page, https://<distribution>.cloudfront.net."
  value       = local.site_url
}

output "site_origin" {
  description = "Origin of the web page (scheme and host, no trailing slash), for the API's allowed origins."
  value       = local.site_url
}

output "site_redirect_url" {
  description = "The page's address as an OAuth redirect, https://<distribution>.cloudfront.net/: config.js's redirectUri and logoutUri, to register as the web client's callback and sign-out URL."
  value       = local.redirect_url
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
