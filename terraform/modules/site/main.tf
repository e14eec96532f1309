data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_cloudfront_cache_policy" "caching_optimized" {
  name = "Managed-CachingOptimized"
}

locals {
  bucket_name = "${var.name}-site-${data.aws_caller_identity.current.account_id}"
  # Written from the name rather than read from module.bucket, which takes the read grant below as an input:
  # checkov loses the bucket's encryption, versioning and public access block across that loop.
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"
  origin_id  = "site-bucket"

  # The only other origins the page may fetch from: the API, and with sign-in on, Cognito's hosted UI domain (the
  # page exchanges the authorization code and refreshes tokens at its /oauth2/token; sign-in and sign-out are
  # navigations, which connect-src does not govern).
  connect_origins = compact([
    regex("^https?://[^/]+", var.api_url),
    var.auth_hosted_ui_url == null ? null : regex("^https://[^/]+", var.auth_hosted_ui_url),
  ])

  # The page has no inline scripts or styles (styles are set through the CSSOM) and loads nothing from other origins.
  content_security_policy = join("; ", [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' ${join(" ", local.connect_origins)}",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ])

  site_url = "https://${aws_cloudfront_distribution.this.domain_name}"
  # Where Cognito sends a person back after signing in and out: the page itself (index.html at "/").
  redirect_url = "${local.site_url}/"

  # How the page signs in (the "auth" member of config.js): Cognito's hosted UI with this page's client, or not at
  # all. The two shapes differ, so they are picked by key rather than by a conditional (which needs one type).
  page_auth = {
    none = { mode = "none" }
    cognito = {
      mode        = "cognito"
      domain      = var.auth_hosted_ui_url
      clientId    = var.auth_client_id
      redirectUri = local.redirect_url
      logoutUri   = local.redirect_url
      scopes      = var.auth_scopes
    }
  }[var.auth_hosted_ui_url == null ? "none" : "cognito"]

  # The object is JSON (what the local gateway writes too, and what the deploy smoke test parses).
  config_js = <<-EOT
    // Written by Terraform (terraform/modules/site): where the page finds the moderation API and how it signs in.
    window.TOXIGUARD_CONFIG = ${jsonencode({ apiUrl = var.api_url, auth = local.page_auth })};
  EOT

  content_types = {
    html = "text/html; charset=utf-8"
    css  = "text/css; charset=utf-8"
    js   = "text/javascript; charset=utf-8"
    json = "application/json"
    svg  = "image/svg+xml"
    png  = "image/png"
    ico  = "image/x-icon"
  }

  # Cache-Control travels with each object, so it governs CloudFront (CachingOptimized honours it, minimum TTL 1 s)
  # and browsers alike. HTML and config.js are revalidated on every load (cheap 304s by ETag) so a deploy shows at
  # once; the other files have unversioned names, so they are cached for minutes, not days.
  cache_control_revalidate = "no-cache"
  cache_control_assets     = "public, max-age=300"

  # Web files only (README.md and the like are not published); the repository's config.js is replaced below.
  assets = {
    for path in fileset(var.frontend_dir, "**") :
    path => local.content_types[lower(regex("[^.]*$", path))]
    if path != "config.js" && contains(keys(local.content_types), lower(regex("[^.]*$", path)))
  }
}

################################################################################
# Private bucket (only CloudFront reads it)
################################################################################

# SSE-S3, not private_bucket's default SSE-KMS: see the CKV_AWS_145 skip.
module "bucket" {
  #checkov:skip=CKV_AWS_18:Server access logs of a bucket only CloudFront reads would duplicate nothing useful and need a log bucket of their own.
  #checkov:skip=CKV_AWS_144:Every object is generated from the repository by Terraform; cross-region replication would copy what a re-apply recreates.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events for a static site.
  #checkov:skip=CKV_AWS_145:SSE-S3 on purpose: with SSE-KMS, CloudFront's OAC needs kms:Decrypt in a customer managed key policy, and object ETags stop being MD5s (Terraform's etag = filemd5 change detection relies on them). The content is public web files.
  source = "../private_bucket"

  bucket_name      = local.bucket_name
  force_destroy    = var.force_destroy
  sse_algorithm    = "AES256"
  policy_documents = [data.aws_iam_policy_document.cloudfront_read.json]

  # Old versions are only a short undo window: every deploy rewrites the files.
  noncurrent_version_expiration_days     = 30
  abort_incomplete_multipart_upload_days = 1

  tags = var.tags
}

data "aws_iam_policy_document" "cloudfront_read" {
  statement {
    sid       = "AllowCloudFrontRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    # This distribution only, not any CloudFront distribution in any account.
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }
}

################################################################################
# Site files
################################################################################

resource "aws_s3_object" "asset" {
  for_each = local.assets

  bucket        = module.bucket.bucket_name
  key           = each.key
  source        = "${var.frontend_dir}/${each.key}"
  etag          = filemd5("${var.frontend_dir}/${each.key}")
  content_type  = each.value
  cache_control = endswith(each.key, ".html") ? local.cache_control_revalidate : local.cache_control_assets
}

resource "aws_s3_object" "config_js" {
  bucket        = module.bucket.bucket_name
  key           = "config.js"
  content       = local.config_js
  etag          = md5(local.config_js)
  content_type  = local.content_types.js
  cache_control = local.cache_control_revalidate
}

################################################################################
# CloudFront
################################################################################

resource "aws_cloudfront_origin_access_control" "this" {
  name                              = var.name
  description                       = "CloudFront reads ${local.bucket_name} with SigV4"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "security" {
  name    = "${var.name}-security-headers"
  comment = "CSP (API origin allowed), HSTS, nosniff, frame deny, no referrer"

  security_headers_config {
    content_security_policy {
      content_security_policy = local.content_security_policy
      override                = true
    }

    # One year. includeSubDomains and preload cover nothing more on a *.cloudfront.net name, and are what a
    # custom domain should send.
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }

    content_type_options {
      override = true
    }

    frame_options {
      frame_option = "DENY"
      override     = true
    }

    # Comment text never travels in URLs, but nothing needs the page's address either.
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
  }
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_68:No AWS WAF web ACL in the default stack (about $5/month plus per-rule and per-request fees) for a static page; the API is protected by stage throttling and reserved concurrency.
  #checkov:skip=CKV2_AWS_47:Same as CKV_AWS_68: no WAF (and so no Log4j managed rule); the origin is static files in S3, not Java.
  #checkov:skip=CKV_AWS_86:No CloudFront standard logs: they need a log bucket with ACLs enabled, and the API's access logs already record every request that matters.
  #checkov:skip=CKV_AWS_174:No custom domain, so the default *.cloudfront.net certificate is used and CloudFront fixes its minimum protocol to TLSv1; set an ACM certificate and TLSv1.2_2021 with a custom domain.
  #checkov:skip=CKV2_AWS_42:No custom domain: the default *.cloudfront.net certificate serves HTTPS.
  #checkov:skip=CKV_AWS_310:A single S3 origin; origin failover would need a replicated second bucket for a page that is regenerated by apply.
  #checkov:skip=CKV_AWS_374:The page is meant to be reachable wherever its users are; restrict with geo_restriction if a deployment needs it.
  enabled             = true
  comment             = "${var.name} web page"
  default_root_object = "index.html"
  price_class         = var.price_class
  http_version        = "http2and3"
  is_ipv6_enabled     = true

  origin {
    origin_id                = local.origin_id
    domain_name              = module.bucket.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this.id
  }

  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_optimized.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }

  tags = var.tags
}
