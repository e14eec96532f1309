locals {
  # botocore client settings the handler reads. The worst case of one call is
  # attempts x (connect + read) plus backoff: the function's timeout must cover it.
  sagemaker_client = {
    connect_timeout_seconds = 1
    read_timeout_seconds    = 5
    max_attempts            = 3
  }
  sagemaker_worst_case_seconds = local.sagemaker_client.max_attempts * (local.sagemaker_client.connect_timeout_seconds + local.sagemaker_client.read_timeout_seconds)

  # One JSON object per request; request and response bodies are never logged (comments are user content).
  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    ip                 = "$context.identity.sourceIp"
    requestTime        = "$context.requestTime"
    httpMethod         = "$context.httpMethod"
    routeKey           = "$context.routeKey"
    path               = "$context.path"
    status             = "$context.status"
    protocol           = "$context.protocol"
    responseLength     = "$context.responseLength"
    integrationLatency = "$context.integrationLatency"
    responseLatency    = "$context.responseLatency"
    integrationError   = "$context.integrationErrorMessage"
  })

  # Every route goes to the handler, and who may call it: a token carrying one of the listed scopes (by name, as in
  # jwt_authorizer.scopes), or anyone when the list is empty. Public are the health probe (answered from a cached
  # endpoint call) and CORS preflights, which browsers send without credentials: OPTIONS /{proxy+} takes them before
  # $default, so the handler answers them from ALLOWED_ORIGINS as before. $default (unknown paths, wrong methods)
  # sends clients the handler's JSON 404/405 instead of API Gateway's {"message":"Not Found"}, for any token of
  # this API.
  route_scope_names = {
    "POST /v1/moderate" = ["moderate"]
    "GET /v1/health"    = []
    "OPTIONS /{proxy+}" = []
    "$default"          = ["moderate", "review"]
  }

  # The scopes each route demands from the authorizer: only routes with scope names, and only while it is on.
  route_authorization_scopes = {
    for route_key, scope_names in local.route_scope_names :
    route_key => [for name in scope_names : var.jwt_authorizer.scopes[name]]
    if var.jwt_authorizer != null && length(scope_names) > 0
  }
}

################################################################################
# Log groups (created before the function so Lambda never creates one without retention)
################################################################################

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with an AWS-owned key; a customer managed KMS key costs $1/month plus a key policy and adds nothing here because INFO logs carry no comment text.
  #checkov:skip=CKV_AWS_338:Retention is an input (14 days in dev, 90 in prod); a year of request logs is more than operations needs and keeps personal data longer than necessary.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with an AWS-owned key; a customer managed KMS key costs $1/month plus a key policy for no gain on access logs without bodies.
  #checkov:skip=CKV_AWS_338:Retention is an input (14 days in dev, 90 in prod); access logs hold client IP addresses, which should not be kept for a year by default.
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

################################################################################
# Execution role: invoke this one endpoint, write this one log group
################################################################################

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Confused-deputy guard: only Lambda acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name                 = "${var.name}-lambda"
  description          = "Execution role of the ${var.name} API function"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "InvokeModelEndpoint"
    effect    = "Allow"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [var.endpoint_arn]
  }

  statement {
    # The log group exists already (Terraform creates it), so no logs:CreateLogGroup.
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "invoke-endpoint-and-log"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

################################################################################
# Lambda function
################################################################################

data "archive_file" "handler" {
  type        = "zip"
  source_file = var.lambda_source_file
  # build/ is git-ignored; the zip is rebuilt from handler.py on every plan.
  output_path = "${path.root}/build/${var.name}-handler.zip"
  # Fixed permission bits: the same zip (and source_code_hash) on a laptop and in CI, so no spurious updates.
  output_file_mode = "0644"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray tracing needs xray:PutTraceSegments on Resource "*", which would break the wildcard-free role; the handler logs Latency and ModelLatency (EMF metrics) per request instead. PassThrough keeps upstream trace headers.
  #checkov:skip=CKV_AWS_116:API Gateway invokes the function synchronously; a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The function only calls the public SageMaker Runtime API; a VPC would need NAT or interface endpoints (cost) and protects nothing here.
  #checkov:skip=CKV_AWS_173:Environment variables hold no secrets (endpoint name, version, thresholds, origins); Lambda encrypts them at rest with its AWS managed key.
  #checkov:skip=CKV_AWS_272:The package is one reviewed source file zipped by Terraform from the repository; code signing needs a Signer profile and a signed S3 upload, which this pipeline does not use.
  function_name = var.name
  description   = "toxiguard API: validates requests, calls the SageMaker endpoint, applies the thresholds"
  role          = aws_iam_role.lambda.arn

  filename         = data.archive_file.handler.output_path
  source_code_hash = data.archive_file.handler.output_base64sha256
  handler          = "handler.lambda_handler"
  runtime          = "python3.12"
  architectures    = ["arm64"]

  memory_size                    = var.memory_size
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    # Names and formats read by Settings.from_environment in lambda/handler.py. MAX_TEXTS, MAX_TEXT_CHARS and
    # MAX_BODY_BYTES keep the handler's defaults: they are the public contract in docs/api.md and docs/openapi.yaml.
    variables = {
      SAGEMAKER_ENDPOINT_NAME           = var.endpoint_name
      MODEL_VERSION                     = var.model_version
      MODEL_LABELS                      = join(",", var.model_labels)
      MODEL_THRESHOLDS                  = jsonencode(var.model_thresholds)
      ALLOWED_ORIGINS                   = join(",", var.allowed_origins)
      LOG_LEVEL                         = var.log_level
      SAGEMAKER_CONNECT_TIMEOUT_SECONDS = tostring(local.sagemaker_client.connect_timeout_seconds)
      SAGEMAKER_READ_TIMEOUT_SECONDS    = tostring(local.sagemaker_client.read_timeout_seconds)
      SAGEMAKER_MAX_ATTEMPTS            = tostring(local.sagemaker_client.max_attempts)
      HEALTH_CACHE_SECONDS              = tostring(var.health_cache_seconds)
    }
  }

  logging_config {
    # The handler writes its own one-line JSON objects; Text keeps them as they are.
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = var.tags

  lifecycle {
    precondition {
      # 2 s on top of the timeouts for botocore's backoff between attempts.
      condition     = var.timeout_seconds >= local.sagemaker_worst_case_seconds + 2
      error_message = "timeout_seconds must be at least ${local.sagemaker_worst_case_seconds + 2}: the handler's worst-case SageMaker call (attempts x (connect + read) + backoff), so clients get its 504 rather than a cut-off invocation."
    }
  }

  # The role's log permissions must exist before the first cold start writes a line.
  depends_on = [aws_iam_role_policy.lambda]
}

################################################################################
# HTTP API
################################################################################

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "toxiguard moderation API (POST /v1/moderate, GET /v1/health)"
  protocol_type = "HTTP"

  # No cors_configuration: the handler does CORS from ALLOWED_ORIGINS (preflights reach it through the public
  # OPTIONS /{proxy+} route and get its documented 403 origin_not_allowed). API-level CORS would make this resource
  # depend on the site's CloudFront domain while the site's CSP depends on api_endpoint: a dependency cycle.

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "lambda" {
  api_id                 = aws_apigatewayv2_api.this.id
  description            = "Lambda proxy to ${var.name}"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this.invoke_arn
  payload_format_version = "2.0"
}

# Cognito's access tokens (or any OIDC issuer's): API Gateway checks signature, issuer, expiry, audience (aud, or
# client_id when a token has no aud) and the route's scopes, and answers 401/403 itself before the function runs.
resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.jwt_authorizer == null ? 0 : 1

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_authorizer.issuer
    audience = var.jwt_authorizer.audience
  }
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:GET /v1/health and CORS preflights (OPTIONS /{proxy+}) are public by design, and an environment may run the whole API open (auth = "none", refused in prod unless overridden); every other route carries the JWT authorizer when jwt_authorizer is set, which tests/infra/rules/api.py (check_api_authorization) proves.
  for_each = local.route_scope_names

  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.lambda.id}"

  authorization_type   = contains(keys(local.route_authorization_scopes), each.key) ? "JWT" : "NONE"
  authorizer_id        = contains(keys(local.route_authorization_scopes), each.key) ? aws_apigatewayv2_authorizer.jwt[0].id : null
  authorization_scopes = lookup(local.route_authorization_scopes, each.key, null)
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }

  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "apigateway.amazonaws.com"
  # Any stage and route of this API only.
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
