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

  # The two functions, built from the same package (every Python module of lambda/): the scoring function answers the
  # moderation and health routes, CORS preflights and unknown paths, and stores review items; the reviews function
  # serves the moderators' queue. Each has its own role, log group and reserved concurrency.
  functions = {
    scoring = {
      name                 = var.name
      handler              = "handler.lambda_handler"
      description          = "toxiguard API: validates requests, calls the SageMaker endpoint, applies the thresholds, queues review items"
      reserved_concurrency = var.reserved_concurrency
      # Names and formats read by Settings.from_environment in lambda/handler.py. MAX_TEXTS, MAX_TEXT_CHARS and
      # MAX_BODY_BYTES keep the handler's defaults: they are the public contract in docs/api.md and docs/openapi.yaml.
      environment = {
        SAGEMAKER_ENDPOINT_NAME           = var.endpoint_name
        MODEL_VERSION                     = var.model_version
        MODEL_LABELS                      = join(",", var.model_labels)
        MODEL_THRESHOLDS                  = jsonencode(var.model_thresholds)
        MODEL_BLOCK_THRESHOLDS            = jsonencode(local.block_thresholds)
        ALLOWED_ORIGINS                   = join(",", var.allowed_origins)
        LOG_LEVEL                         = var.log_level
        SAGEMAKER_CONNECT_TIMEOUT_SECONDS = tostring(local.sagemaker_client.connect_timeout_seconds)
        SAGEMAKER_READ_TIMEOUT_SECONDS    = tostring(local.sagemaker_client.read_timeout_seconds)
        SAGEMAKER_MAX_ATTEMPTS            = tostring(local.sagemaker_client.max_attempts)
        HEALTH_CACHE_SECONDS              = tostring(var.health_cache_seconds)
        REVIEWS_TABLE                     = var.reviews_table.table_name
        REVIEWS_STORE_DEFAULT             = tostring(var.reviews_store_default)
        REVIEWS_TTL_DAYS                  = tostring(var.reviews_ttl_days)
      }
    }
    reviews = {
      name                 = var.reviews_function_name
      handler              = "reviews.lambda_handler"
      description          = "toxiguard review queue: lists review items and records moderators' decisions"
      reserved_concurrency = var.reviews_reserved_concurrency
      # Read by lambda/reviews.py. Its metrics go to the API's one Service, the scoring function's name (that
      # function's default), so the dashboard's requests and error codes cover both functions.
      environment = {
        REVIEWS_TABLE   = var.reviews_table.table_name
        ALLOWED_ORIGINS = join(",", var.allowed_origins)
        LOG_LEVEL       = var.log_level
        METRICS_SERVICE = var.name
        # A decision: {"decision", "note"} with a note of at most 1,000 characters, under 16 KiB even fully escaped.
        MAX_BODY_BYTES = "16384"
      }
    }
  }

  # Every label of the model, null where neither the manifest nor the environment sets a block threshold (the label
  # never blocks by itself): the handler wants exactly the labels of MODEL_LABELS.
  block_thresholds = { for label in var.model_labels : label => lookup(var.model_block_thresholds, label, null) }

  # The table's key, used by both functions' roles, and only through DynamoDB (every item holds a comment's text).
  table_key_actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]

  # Every route, the function it goes to and who may call it: a token carrying one of the listed scopes (by name, as
  # in jwt_authorizer.scopes), or anyone when the list is empty. Public are the health probe (answered from a cached
  # endpoint call) and CORS preflights, which browsers send without credentials: OPTIONS /{proxy+} takes them before
  # $default, so the scoring function answers them from ALLOWED_ORIGINS for every route, the review routes included.
  # $default (unknown paths, wrong methods) sends clients the handler's JSON 404/405 instead of API Gateway's
  # {"message":"Not Found"}, for any token of this API. The review routes are the moderators': scope review only.
  routes = {
    "POST /v1/moderate"              = { function = "scoring", scopes = ["moderate"] }
    "GET /v1/health"                 = { function = "scoring", scopes = [] }
    "GET /v1/reviews"                = { function = "reviews", scopes = ["review"] }
    "GET /v1/reviews/{id}"           = { function = "reviews", scopes = ["review"] }
    "POST /v1/reviews/{id}/decision" = { function = "reviews", scopes = ["review"] }
    "OPTIONS /{proxy+}"              = { function = "scoring", scopes = [] }
    "$default"                       = { function = "scoring", scopes = ["moderate", "review"] }
  }

  # The scopes each route demands from the authorizer: only routes with scope names, and only while it is on.
  route_authorization_scopes = {
    for route_key, route in local.routes :
    route_key => [for name in route.scopes : var.jwt_authorizer.scopes[name]]
    if var.jwt_authorizer != null && length(route.scopes) > 0
  }
}

################################################################################
# Log groups (created before the functions so Lambda never creates one without retention)
################################################################################

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with an AWS-owned key; a customer managed KMS key costs $1/month plus a key policy and adds nothing here because INFO logs carry no comment text (neither function logs texts but at DEBUG).
  #checkov:skip=CKV_AWS_338:Retention is an input (14 days in dev, 90 in prod); a year of request logs is more than operations needs and keeps personal data longer than necessary.
  for_each = local.functions

  name              = "/aws/lambda/${each.value.name}"
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
# Execution roles: each function its own, with only what its routes need
################################################################################

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

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
  for_each = local.functions

  name                 = "${each.value.name}-lambda"
  description          = "Execution role of the ${each.value.name} API function"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

# DynamoDB encrypts and decrypts the table with its key on behalf of the caller, so both roles may use the key, and
# only through DynamoDB: neither can decrypt anything with it directly.
data "aws_iam_policy_document" "table_key" {
  statement {
    sid       = "UseTableKeyThroughDynamoDb"
    effect    = "Allow"
    actions   = local.table_key_actions
    resources = [var.reviews_table.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

# Scoring: invoke this one endpoint, add new items to the review queue (PutItem only: it can neither read, change nor
# delete an item), write its own log group.
data "aws_iam_policy_document" "scoring" {
  source_policy_documents = [data.aws_iam_policy_document.table_key.json]

  statement {
    sid       = "InvokeModelEndpoint"
    effect    = "Allow"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [var.endpoint_arn]
  }

  statement {
    sid       = "QueueReviewItems"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem"]
    resources = [var.reviews_table.table_arn]
  }

  statement {
    # The log group exists already (Terraform creates it), so no logs:CreateLogGroup.
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda["scoring"].arn}:*"]
  }
}

# Reviews: read the queue through its index, read and decide single items (no PutItem, no DeleteItem: items are made
# by scoring and removed by TTL only), write its own log group.
data "aws_iam_policy_document" "reviews" {
  source_policy_documents = [data.aws_iam_policy_document.table_key.json]

  statement {
    sid       = "ReadReviewQueue"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = [var.reviews_table.index_arn]
  }

  statement {
    sid       = "ReadAndDecideReviewItems"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [var.reviews_table.table_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda["reviews"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.functions

  name   = "function-permissions"
  role   = aws_iam_role.lambda[each.key].id
  policy = { scoring = data.aws_iam_policy_document.scoring.json, reviews = data.aws_iam_policy_document.reviews.json }[each.key]

  # The scoring function's policy was named for its first two permissions; the new one must exist before the old goes.
  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Lambda functions
################################################################################

# Every Python module of lambda/ (both entry points and what they share), nothing else: not the README, not a
# __pycache__ a local test run leaves. Standard library + the runtime's boto3, so no dependencies to bundle.
data "archive_file" "lambda" {
  type = "zip"

  dynamic "source" {
    for_each = fileset(var.lambda_source_dir, "*.py")

    content {
      content  = file("${var.lambda_source_dir}/${source.value}")
      filename = source.value
    }
  }

  # build/ is git-ignored; the zip is rebuilt from lambda/ on every plan.
  output_path = "${path.root}/build/${var.name}-lambda.zip"
  # Fixed permission bits: the same zip (and source_code_hash) on a laptop and in CI, so no spurious updates.
  output_file_mode = "0644"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray tracing needs xray:PutTraceSegments on Resource "*", which would break the wildcard-free roles; the functions log Latency and ModelLatency (EMF metrics) per request instead. PassThrough keeps upstream trace headers.
  #checkov:skip=CKV_AWS_116:API Gateway invokes the functions synchronously; a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The functions only call the public SageMaker Runtime and DynamoDB APIs; a VPC would need NAT or interface endpoints (cost) and protects nothing here.
  #checkov:skip=CKV_AWS_173:Environment variables hold no secrets (endpoint and table names, version, thresholds, origins); Lambda encrypts them at rest with its AWS managed key.
  #checkov:skip=CKV_AWS_272:The package is the reviewed Python modules of lambda/, zipped by Terraform from the repository; code signing needs a Signer profile and a signed S3 upload, which this pipeline does not use.
  for_each = local.functions

  function_name = each.value.name
  description   = each.value.description
  role          = aws_iam_role.lambda[each.key].arn

  filename         = data.archive_file.lambda.output_path
  source_code_hash = data.archive_file.lambda.output_base64sha256
  handler          = each.value.handler
  runtime          = "python3.12"
  architectures    = ["arm64"]

  memory_size                    = var.memory_size
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = each.value.reserved_concurrency

  environment {
    variables = each.value.environment
  }

  logging_config {
    # The functions write their own one-line JSON objects; Text keeps them as they are.
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda[each.key].name
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
  description   = "toxiguard moderation API (POST /v1/moderate, GET /v1/health, the /v1/reviews queue)"
  protocol_type = "HTTP"

  # No cors_configuration: the handler does CORS from ALLOWED_ORIGINS (preflights reach it through the public
  # OPTIONS /{proxy+} route and get its documented 403 origin_not_allowed). API-level CORS would make this resource
  # depend on the site's CloudFront domain while the site's CSP depends on api_endpoint: a dependency cycle.

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "lambda" {
  for_each = local.functions

  api_id                 = aws_apigatewayv2_api.this.id
  description            = "Lambda proxy to ${each.value.name}"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this[each.key].invoke_arn
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
  for_each = local.routes

  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.lambda[each.value.function].id}"

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
  for_each = local.functions

  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  # Any stage and route of this API only.
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

################################################################################
# State moves: the scoring function's resources, from before the reviews function existed
################################################################################

moved {
  from = aws_cloudwatch_log_group.lambda
  to   = aws_cloudwatch_log_group.lambda["scoring"]
}

moved {
  from = aws_iam_role.lambda
  to   = aws_iam_role.lambda["scoring"]
}

moved {
  from = aws_iam_role_policy.lambda
  to   = aws_iam_role_policy.lambda["scoring"]
}

moved {
  from = aws_lambda_function.this
  to   = aws_lambda_function.this["scoring"]
}

moved {
  from = aws_apigatewayv2_integration.lambda
  to   = aws_apigatewayv2_integration.lambda["scoring"]
}

moved {
  from = aws_lambda_permission.api
  to   = aws_lambda_permission.api["scoring"]
}
