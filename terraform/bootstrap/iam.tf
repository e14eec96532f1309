################################################################################
# Scope: what each environment's roles may touch
################################################################################

locals {
  # Everything an environment root creates is named <project>-<env>...; every ARN pattern below starts from that
  # prefix. SageMaker lowercases names in ARNs (hence the lowercase-only project and environment names).
  scopes = {
    for env in var.environments : env => {
      prefix        = "${var.project}-${env}"
      state_objects = "${aws_s3_bucket.state.arn}/${var.project}/${env}/*"
      state_prefix  = "${var.project}/${env}/"

      # The artifact, batch and site buckets; the artifact and batch buckets by their exact names (modules/stack names
      # them).
      buckets         = "arn:${local.partition}:s3:::${var.project}-${env}*"
      objects         = "arn:${local.partition}:s3:::${var.project}-${env}*/*"
      artifact_bucket = "arn:${local.partition}:s3:::${var.project}-${env}-artifacts-${local.account_id}"
      models          = "arn:${local.partition}:s3:::${var.project}-${env}-artifacts-${local.account_id}/models/*"
      batch_bucket    = "arn:${local.partition}:s3:::${var.project}-${env}-batch-${local.account_id}"

      sagemaker = [
        for type in ["model", "endpoint-config", "endpoint"] :
        "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:${type}/${var.project}-${env}*"
      ]
      functions = "arn:${local.partition}:lambda:${var.region}:${local.account_id}:function:${var.project}-${env}*"
      # Lambda, API access and SageMaker endpoint log groups: /aws/<service>/.../<project>-<env>...
      log_groups = [
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/*/${var.project}-${env}*",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${var.project}-${env}*",
      ]
      # The stack's own alarms, and the ones Application Auto Scaling's target tracking creates for the endpoint.
      alarms = [
        "arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:${var.project}-${env}*",
        "arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:TargetTracking-endpoint/${var.project}-${env}*",
      ]
      # Dashboards are global: no region in their ARNs.
      dashboards = "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${var.project}-${env}*"
      topics     = "arn:${local.partition}:sns:${var.region}:${local.account_id}:${var.project}-${env}*"
      aliases    = "arn:${local.partition}:kms:${var.region}:${local.account_id}:alias/${var.project}-${env}*"
      roles      = "arn:${local.partition}:iam::${local.account_id}:role/${var.project}-${env}*"
      policies   = "arn:${local.partition}:iam::${local.account_id}:policy/${var.project}-${env}*"
      endpoints  = "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:endpoint/${var.project}-${env}*"
      tables     = "arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.project}-${env}*"
    }
  }

  # Resources named by a generated ID, not by us, so their ARNs cannot say which environment they belong to: HTTP
  # APIs (/apis/<id>), CloudFront distributions, origin access controls and response headers policies, Application
  # Auto Scaling scalable targets, KMS keys and Cognito user pools. The environment roots tag everything with Project
  # and Environment (provider default_tags); where a service can authorize by those tags, the deploy roles' statements
  # below are conditioned on them, and where it cannot, the statement's comment says why it covers the whole account.
  apigateway = {
    apis = "arn:${local.partition}:apigateway:${var.region}::/apis"
    # An API and everything under it; an API's tags only reach the API itself and its stages.
    api_tree = "arn:${local.partition}:apigateway:${var.region}::/apis/*"
    stages   = "arn:${local.partition}:apigateway:${var.region}::/apis/*/stages"
    # The parts of an API the stack creates that carry no tags: routes, integrations, authorizers, each as the
    # collection (create) and its members (update, delete).
    untagged_parts = flatten([
      for part in ["routes", "integrations", "authorizers"] : [
        "arn:${local.partition}:apigateway:${var.region}::/apis/*/${part}",
        "arn:${local.partition}:apigateway:${var.region}::/apis/*/${part}/*",
      ]
    ])
    tags = "arn:${local.partition}:apigateway:${var.region}::/tags/*"
  }
  cloudfront_arns = {
    distributions             = "arn:${local.partition}:cloudfront::${local.account_id}:distribution/*"
    origin_access_controls    = "arn:${local.partition}:cloudfront::${local.account_id}:origin-access-control/*"
    response_headers_policies = "arn:${local.partition}:cloudfront::${local.account_id}:response-headers-policy/*"
  }
  scalable_targets = "arn:${local.partition}:application-autoscaling:${var.region}:${local.account_id}:scalable-target/*"
  kms_keys         = "arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"
  # userpool/<region>_<id>. A pool's app clients, domain, resource servers and groups have no ARNs of their own: IAM
  # authorizes every action on them against the pool, with the pool's tags.
  cognito_user_pools = "arn:${local.partition}:cognito-idp:${var.region}:${local.account_id}:userpool/*"

  # Actions with no resource-level permissions at all (the Service Authorization Reference lists no resource type
  # for them), so IAM only accepts Resource "*". The only other "*" statements: the tag-conditioned kms:CreateKey
  # below, and the training role's ECR token and namespace-conditioned metrics.
  actions_without_resource_level_read = [
    # Application Auto Scaling's Describe* calls (refreshing the endpoint's scalable target and policy).
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScalingActivities",
    # CloudFront is global: its List* calls, and reads of the AWS-managed cache/response headers policies a site
    # may reference by name, are not in this account's ARN space.
    "cloudfront:Get*",
    "cloudfront:List*",
    # The optional alarm e-mail subscription (subscription ARNs are not a resource type).
    "sns:GetSubscriptionAttributes",
    # Refreshing the alarm topic key's alias.
    "kms:ListAliases",
  ]
  actions_without_resource_level_write = [
    # HTTP API access logging goes through CloudWatch Logs "vended log" deliveries, which API Gateway asks the
    # caller to manage; none of these actions has a resource type.
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    # Managing the optional alarm e-mail subscription.
    "sns:SetSubscriptionAttributes",
    "sns:Unsubscribe",
  ]
}

################################################################################
# Trust: GitHub OIDC tokens of this repository only
################################################################################

locals {
  # Each role accepts one exact subject claim of the repository's tokens (keys "<role kind>/<environment>").
  github_trust = merge(
    # Plan roles: the deploy workflow's plan job runs without a GitHub environment, so its token's subject is the
    # branch.
    {
      for env in var.environments : "plan/${env}" => {
        sid     = "GitHubActionsDeployBranch"
        subject = "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
      }
    },
    # Deploy roles: only jobs that run in the GitHub environment of the same name (where the reviewers are).
    {
      for env in var.environments : "deploy/${env}" => {
        sid     = "GitHubActionsEnvironment"
        subject = "repo:${var.github_repository}:environment:${env}"
      }
    },
  )
}

data "aws_iam_policy_document" "github_trust" {
  for_each = local.github_trust

  statement {
    sid     = each.value.sid
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:sub"
      values   = [each.value.subject]
    }
  }
}

################################################################################
# Read policy (plan and deploy roles): state, and a refresh of everything the environment root manages
################################################################################

data "aws_iam_policy_document" "read" {
  for_each = local.scopes

  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${each.value.state_prefix}*"]
    }
  }

  statement {
    sid       = "StateRead"
    actions   = ["s3:GetObject"]
    resources = [each.value.state_objects]
  }

  statement {
    sid       = "SageMakerRead"
    actions   = ["sagemaker:Describe*", "sagemaker:ListTags"]
    resources = each.value.sagemaker
  }

  statement {
    sid       = "LambdaRead"
    actions   = ["lambda:Get*", "lambda:List*"]
    resources = [each.value.functions]
  }

  statement {
    sid       = "ApiGatewayRead"
    actions   = ["apigateway:GET"]
    resources = [local.apigateway.apis, local.apigateway.api_tree, local.apigateway.tags]
  }

  # The artifact and site buckets' configuration and objects (the plan job also reads published manifests).
  statement {
    sid       = "S3Read"
    actions   = ["s3:Get*", "s3:List*"]
    resources = [each.value.buckets, each.value.objects]
  }

  statement {
    sid       = "IamRead"
    actions   = ["iam:Get*", "iam:List*"]
    resources = [each.value.roles, each.value.policies]
  }

  statement {
    sid       = "LogsRead"
    actions   = ["logs:Describe*", "logs:List*"]
    resources = each.value.log_groups
  }

  # The provider refreshes a log group by listing groups with its name as prefix; the call is authorized
  # against the account's log-group:* ARN, whatever prefix is asked for.
  statement {
    sid       = "LogsDescribeGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
  }

  statement {
    sid       = "CloudWatchRead"
    actions   = ["cloudwatch:Describe*", "cloudwatch:List*"]
    resources = each.value.alarms
  }

  statement {
    sid       = "CloudWatchDashboardsRead"
    actions   = ["cloudwatch:GetDashboard"]
    resources = [each.value.dashboards]
  }

  statement {
    sid       = "SnsRead"
    actions   = ["sns:Get*", "sns:List*"]
    resources = [each.value.topics]
  }

  statement {
    sid       = "KmsReadEnvironmentKeys"
    actions   = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"]
    resources = [local.kms_keys]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # The environment's user pool and its app clients, resource server and group, by the pool's tags. Named actions, no
  # Describe*/Get*/List*: those would include ListUsers and AdminGetUser (the moderators' e-mail addresses).
  # DescribeUserPoolClient returns the backend client's secret, which terraform plan refreshes into the state anyway
  # and the deploy workflow's smoke test needs for a token.
  statement {
    sid = "CognitoReadEnvironmentUserPools"
    actions = [
      "cognito-idp:DescribeUserPool",
      "cognito-idp:GetUserPoolMfaConfig",
      "cognito-idp:ListTagsForResource",
      "cognito-idp:DescribeUserPoolClient",
      "cognito-idp:DescribeResourceServer",
      "cognito-idp:GetGroup",
    ]
    resources = [local.cognito_user_pools]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # Account-wide (this region's user pool domains): DescribeUserPoolDomain looks a domain up by its name alone, and the
  # Service Authorization Reference lists no resource type and no condition key for it, so IAM accepts only Resource "*"
  # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncognitouserpools.html). It returns a
  # domain's pool ID, status and CloudFront distribution: nothing about users or app clients.
  statement {
    sid       = "CognitoDomainsReadAccountWide"
    actions   = ["cognito-idp:DescribeUserPoolDomain"]
    resources = ["*"]
  }

  # The review queue's table: what refreshing it reads (its description, PITR, TTL and tags), never its items.
  statement {
    sid = "DynamoDbRead"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:DescribeContinuousBackups",
      "dynamodb:DescribeTimeToLive",
      "dynamodb:ListTagsOfResource",
    ]
    resources = [each.value.tables]
  }

  statement {
    sid       = "AutoScalingReadTags"
    actions   = ["application-autoscaling:ListTagsForResource"]
    resources = [local.scalable_targets]
  }

  statement {
    sid       = "ReadWithoutResourceLevelPermissions"
    actions   = local.actions_without_resource_level_read
    resources = ["*"]
  }
}

################################################################################
# Plan role policy: lock the state, publish models to the artifact bucket
################################################################################

data "aws_iam_policy_document" "publish" {
  for_each = local.scopes

  # terraform plan takes the state lock (<key>.tflock) but never writes the state itself.
  statement {
    sid       = "StateLock"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/${each.value.state_prefix}*.tflock"]
  }

  # toxiguard publish: multipart upload of model.tar.gz, then manifest.json, under models/<version>/.
  statement {
    sid       = "PublishModels"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [each.value.models]
  }
}

################################################################################
# Deploy role policies: what terraform apply of one environment needs, scoped to that environment's names
################################################################################

# Four documents: as one they would pass IAM's 6,144-character limit for a managed policy (tests/infra renders each
# with the longest names the variables accept and checks it). IAM has its own, being what holds the permissions
# boundary; Cognito has its own, the sign-in of the API and the page.
#
# HTTP APIs, CloudFront distributions, scalable targets and KMS keys have generated IDs in their ARNs, so for them the
# environment is a tag: each such service gets a pair of statements, one creating resources only with this
# environment's Project and Environment tags (aws:RequestTag; the aws:ResourceTag ...IfExists condition keeps a
# tagging call from pulling another environment's resource into this one) and one changing resources only while they
# carry them (aws:ResourceTag). The environment roots set both tags on everything (provider default_tags).
data "aws_iam_policy_document" "deploy_serving" {
  #checkov:skip=CKV_AWS_356:Only statement KmsCreateEnvironmentKey: KMS authorizes a new key's tags (kms:TagResource with CreateKey) before the key has an ARN, so Resource must be "*"; aws:RequestTag limits it to this environment's Project/Environment tags, and aws:ResourceTag (IfExists) keeps TagResource off other environments' keys. Every other statement names its resources.
  for_each = local.scopes

  statement {
    sid       = "StateWrite"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = [each.value.state_objects]
  }

  statement {
    sid = "SageMakerWrite"
    actions = [
      "sagemaker:CreateModel",
      "sagemaker:DeleteModel",
      "sagemaker:CreateEndpointConfig",
      "sagemaker:DeleteEndpointConfig",
      "sagemaker:CreateEndpoint",
      "sagemaker:UpdateEndpoint",
      "sagemaker:DeleteEndpoint",
      # Registering the endpoint variant as a scalable target requires it of the caller.
      "sagemaker:UpdateEndpointWeightsAndCapacities",
      "sagemaker:AddTags",
      "sagemaker:DeleteTags",
    ]
    resources = each.value.sagemaker
  }

  # Application Auto Scaling authorizes every write on the scalable target, which carries tags (RegisterScalableTarget
  # takes aws:RequestTag; it and the other writes, scaling policies included, take aws:ResourceTag).
  statement {
    sid       = "AutoScalingRegisterEnvironmentTargets"
    actions   = ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource"]
    resources = [local.scalable_targets]

    dynamic "condition" {
      for_each = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "AutoScalingManageEnvironmentTargets"
    actions = [
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:DeleteScalingPolicy",
      "application-autoscaling:TagResource",
      "application-autoscaling:UntagResource",
    ]
    resources = [local.scalable_targets]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "LambdaWrite"
    actions = [
      "lambda:CreateFunction",
      "lambda:DeleteFunction",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
      "lambda:PutFunctionConcurrency",
      "lambda:DeleteFunctionConcurrency",
      "lambda:AddPermission",
      "lambda:RemovePermission",
      "lambda:TagResource",
      "lambda:UntagResource",
    ]
    resources = [each.value.functions]
  }

  statement {
    sid = "LogGroupsWrite"
    actions = [
      "logs:CreateLogGroup",
      "logs:DeleteLogGroup",
      "logs:PutRetentionPolicy",
      "logs:DeleteRetentionPolicy",
      "logs:TagResource",
      "logs:UntagResource",
      "logs:TagLogGroup",
      "logs:UntagLogGroup",
    ]
    resources = each.value.log_groups
  }

  # The flag-rate alarm's ANOMALY_DETECTION_BAND needs nothing more: CloudWatch trains the band's model for the alarm
  # itself, and the Service Authorization Reference names no action PutMetricAlarm depends on but cloudwatch:TagResource
  # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html), so no
  # PutAnomalyDetector or DescribeAnomalyDetectors.
  statement {
    sid = "CloudWatchAlarmsWrite"
    actions = [
      "cloudwatch:PutMetricAlarm",
      "cloudwatch:DeleteAlarms",
      "cloudwatch:TagResource",
      "cloudwatch:UntagResource",
    ]
    resources = each.value.alarms
  }

  # The stack's dashboard, by name. PutDashboard creates and replaces it; the provider reads it by name (GetDashboard,
  # in the read policy), never lists dashboards, and sets no tags on it.
  statement {
    sid       = "CloudWatchDashboardsWrite"
    actions   = ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"]
    resources = [each.value.dashboards]
  }

  statement {
    sid = "SnsWrite"
    actions = [
      "sns:CreateTopic",
      "sns:DeleteTopic",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:TagResource",
      "sns:UntagResource",
    ]
    resources = [each.value.topics]
  }

  # The alarm topic's customer managed key: created only with this environment's tags, managed only while tagged so.
  statement {
    sid       = "KmsCreateEnvironmentKey"
    actions   = ["kms:CreateKey", "kms:TagResource"]
    resources = ["*"]

    dynamic "condition" {
      for_each = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "KmsManageEnvironmentKeys"
    actions = [
      "kms:PutKeyPolicy",
      "kms:EnableKeyRotation",
      "kms:UpdateKeyDescription",
      "kms:UntagResource",
      "kms:ScheduleKeyDeletion",
      "kms:CreateAlias",
      "kms:UpdateAlias",
      "kms:DeleteAlias",
    ]
    resources = [local.kms_keys]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # Creating a table encrypted with a customer managed key: DynamoDB creates the grants it uses the key with, on behalf
  # of the caller (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html), so
  # only through DynamoDB, only grants for an AWS resource, and only on this environment's keys.
  statement {
    sid       = "KmsGrantsForEnvironmentTables"
    actions   = ["kms:CreateGrant"]
    resources = [local.kms_keys]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  # An alias operation is authorized on the alias and on its key (above).
  statement {
    sid       = "KmsAliases"
    actions   = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]
    resources = [each.value.aliases]
  }

  # The review queue's table and its settings; items are the functions' business, not the deployment's.
  statement {
    sid = "DynamoDbTablesWrite"
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:UpdateTable",
      "dynamodb:DeleteTable",
      "dynamodb:UpdateTimeToLive",
      "dynamodb:UpdateContinuousBackups",
      "dynamodb:TagResource",
      "dynamodb:UntagResource",
    ]
    resources = [each.value.tables]
  }

  statement {
    sid       = "WriteWithoutResourceLevelPermissions"
    actions   = local.actions_without_resource_level_write
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "deploy_web" {
  for_each = local.scopes

  # An HTTP API and its stages carry tags (CreateApi and CreateStage take aws:RequestTag, the Api and Stage resource
  # types aws:ResourceTag). No PUT: that is a whole-API reimport, which the stack never does.
  statement {
    sid       = "ApiGatewayCreateEnvironmentApis"
    actions   = ["apigateway:POST"]
    resources = [local.apigateway.apis, local.apigateway.stages]

    dynamic "condition" {
      for_each = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "ApiGatewayManageEnvironmentApis"
    actions   = ["apigateway:PATCH", "apigateway:DELETE"]
    resources = [local.apigateway.api_tree]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # Account-wide (this region's HTTP APIs): routes, integrations and authorizers cannot be tagged, and unlike a REST
  # API's resources they do not inherit their API's tags
  # (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-tagging-supported-resources.html), while
  # their ARNs hold the API's generated ID: no condition tells one environment's from another's. The API and its
  # stages themselves stay behind the tag conditions above.
  statement {
    sid       = "ApiGatewayRoutesAccountWide"
    actions   = ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"]
    resources = local.apigateway.untagged_parts
  }

  # Account-wide (this region's HTTP APIs): tag changes are authorized on /tags/<resource ARN>, which is none of the
  # resource types the Service Authorization Reference lists for API Gateway V2, so no aws:ResourceTag applies
  # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagementv2.html).
  # aws:TagKeys keeps every such call off the Project and Environment tags that the statements above rely on.
  statement {
    sid       = "ApiGatewayTagsAccountWide"
    actions   = ["apigateway:POST", "apigateway:DELETE"]
    resources = [local.apigateway.tags]

    condition {
      test     = "ForAllValues:StringNotEquals"
      variable = "aws:TagKeys"
      values   = ["Project", "Environment"]
    }
  }

  statement {
    sid = "S3BucketsWrite"
    actions = [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:PutBucketVersioning",
      "s3:PutEncryptionConfiguration",
      "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketOwnershipControls",
      "s3:PutBucketPolicy",
      "s3:DeleteBucketPolicy",
      "s3:PutLifecycleConfiguration",
      "s3:PutBucketTagging",
    ]
    resources = [each.value.buckets]
  }

  # The site's pages and config.js (tagged through the provider's default_tags).
  statement {
    sid = "S3ObjectsWrite"
    actions = [
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
    ]
    resources = [each.value.objects]
  }

  # Published models belong to the plan job's quality-gated publish step; apply never rewrites them.
  statement {
    sid    = "DenyModelRewrite"
    effect = "Deny"
    actions = [
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
    ]
    resources = [each.value.models]
  }

  # Distributions carry tags (CreateDistribution takes aws:RequestTag, the distribution resource type aws:ResourceTag):
  # created only with this environment's tags (creating one with tags is authorized as CreateDistribution plus
  # TagResource), changed only while they carry them.
  statement {
    sid       = "CloudFrontCreateEnvironmentDistributions"
    actions   = ["cloudfront:CreateDistribution", "cloudfront:TagResource"]
    resources = [local.cloudfront_arns.distributions]

    dynamic "condition" {
      for_each = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "CloudFrontManageEnvironmentDistributions"
    actions = [
      "cloudfront:UpdateDistribution",
      "cloudfront:DeleteDistribution",
      "cloudfront:TagResource",
      "cloudfront:UntagResource",
      # The workflow refreshes the CDN after apply.
      "cloudfront:CreateInvalidation",
    ]
    resources = [local.cloudfront_arns.distributions]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # Account-wide (CloudFront is global): origin access controls and response headers policies cannot be tagged, the
  # Service Authorization Reference lists no condition key for either resource type
  # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudfront.html), and their ARNs
  # hold generated IDs. CloudFront refuses to delete one that a distribution still uses.
  statement {
    sid = "CloudFrontPoliciesAccountWide"
    actions = [
      "cloudfront:CreateOriginAccessControl",
      "cloudfront:UpdateOriginAccessControl",
      "cloudfront:DeleteOriginAccessControl",
      "cloudfront:CreateResponseHeadersPolicy",
      "cloudfront:UpdateResponseHeadersPolicy",
      "cloudfront:DeleteResponseHeadersPolicy",
    ]
    resources = [
      local.cloudfront_arns.origin_access_controls,
      local.cloudfront_arns.response_headers_policies,
    ]
  }
}

# Cognito user pools have generated IDs (userpool/<region>_<id>), so, as for HTTP APIs and distributions, a pool's
# Project and Environment tags (the environment roots' default_tags) are what tell environments apart. Every action on a
# pool's app clients, hosted UI domain, resource server and groups is authorized against the pool and takes its
# aws:ResourceTag (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncognitouserpools.html),
# so one tag condition covers the whole auth module. Reading is in the read policy, scoped the same way.
data "aws_iam_policy_document" "deploy_auth" {
  for_each = local.scopes

  # CreateUserPool has no resource type (the pool has no ARN yet) but takes aws:RequestTag: a pool is created only with
  # this environment's tags.
  statement {
    sid       = "CognitoCreateEnvironmentUserPools"
    actions   = ["cognito-idp:CreateUserPool"]
    resources = ["*"]

    dynamic "condition" {
      for_each = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # Creating a pool with tags is also authorized as cognito-idp:TagResource on the new pool: only with this
  # environment's tags, and never on a pool that already carries another environment's.
  statement {
    sid       = "CognitoTagNewEnvironmentUserPools"
    actions   = ["cognito-idp:TagResource"]
    resources = [local.cognito_user_pools]

    dynamic "condition" {
      for_each = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  # The environment's pool and what is in it, while the pool carries this environment's tags. No user actions (Admin*,
  # ListUsers): moderators are invited by an administrator, not by a deployment.
  statement {
    sid = "CognitoManageEnvironmentUserPools"
    actions = [
      "cognito-idp:UpdateUserPool",
      "cognito-idp:SetUserPoolMfaConfig",
      "cognito-idp:DeleteUserPool",
      "cognito-idp:CreateUserPoolClient",
      "cognito-idp:UpdateUserPoolClient",
      "cognito-idp:DeleteUserPoolClient",
      "cognito-idp:CreateUserPoolDomain",
      "cognito-idp:UpdateUserPoolDomain",
      "cognito-idp:DeleteUserPoolDomain",
      "cognito-idp:CreateResourceServer",
      "cognito-idp:UpdateResourceServer",
      "cognito-idp:DeleteResourceServer",
      "cognito-idp:CreateGroup",
      "cognito-idp:UpdateGroup",
      "cognito-idp:DeleteGroup",
    ]
    resources = [local.cognito_user_pools]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }

  # Changing the pool's other tags (the stack's var.tags), never its Project or Environment tag: the conditions above
  # rely on those, and a deploy role could otherwise hand its pool to another environment.
  statement {
    sid       = "CognitoRetagEnvironmentUserPools"
    actions   = ["cognito-idp:TagResource", "cognito-idp:UntagResource"]
    resources = [local.cognito_user_pools]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }

    condition {
      test     = "ForAllValues:StringNotEquals"
      variable = "aws:TagKeys"
      values   = ["Project", "Environment"]
    }
  }
}

data "aws_iam_policy_document" "deploy_iam" {
  for_each = local.scopes

  # A role of the stack is created, and given permissions, only with this environment's permissions boundary, so no
  # policy a deploy role writes can let a role do more than the boundary allows. iam:PermissionsBoundary is the
  # boundary the request sets (CreateRole, PutRolePermissionsBoundary) or the one the role has (PutRolePolicy).
  statement {
    sid       = "IamRolesWithBoundary"
    actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"]
    resources = [each.value.roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.permissions_boundary[each.key].arn]
    }
  }

  # Taking permissions away needs no boundary: an apply can still clean up a role made before the boundary existed.
  statement {
    sid = "IamRolesWrite"
    actions = [
      "iam:DeleteRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
      "iam:UpdateAssumeRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
    ]
    resources = [each.value.roles]
  }

  # The stack's managed policies (the batch operator policy): the provider updates one by creating a version and then
  # making it the default.
  statement {
    sid = "IamPoliciesWrite"
    actions = [
      "iam:CreatePolicy",
      "iam:DeletePolicy",
      "iam:CreatePolicyVersion",
      "iam:SetDefaultPolicyVersion",
      "iam:DeletePolicyVersion",
      "iam:TagPolicy",
      "iam:UntagPolicy",
    ]
    resources = [each.value.policies]
  }

  # Only the environment's own managed policies can be attached to its roles (never e.g. AdministratorAccess), and only
  # to roles with its boundary.
  statement {
    sid       = "IamAttachOwnPolicies"
    actions   = ["iam:AttachRolePolicy"]
    resources = [each.value.roles]

    condition {
      test     = "ArnLike"
      variable = "iam:PolicyARN"
      values   = [each.value.policies]
    }

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.permissions_boundary[each.key].arn]
    }
  }

  # The boundary holds only while no deploy role can take it off a role or rewrite it. The boundaries and the GitHub
  # roles' own policies live under this root's IAM path, which no <project>-<env>* pattern above matches; the denies
  # keep it so should an allow ever widen.
  statement {
    sid       = "DenyBoundaryRemoval"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["*"]
  }

  statement {
    sid    = "DenyBootstrapPolicyChanges"
    effect = "Deny"
    actions = [
      "iam:CreatePolicyVersion",
      "iam:SetDefaultPolicyVersion",
      "iam:DeletePolicyVersion",
      "iam:DeletePolicy",
      "iam:TagPolicy",
      "iam:UntagPolicy",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:policy${local.iam_path}*"]
  }

  # The Lambda and SageMaker execution roles, handed only to those two services.
  statement {
    sid       = "IamPassRoleToStack"
    actions   = ["iam:PassRole"]
    resources = [each.value.roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com", "sagemaker.amazonaws.com"]
    }
  }

  # First scalable target of the account: Application Auto Scaling's SageMaker service-linked role.
  statement {
    sid       = "AutoScalingServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpointVariant"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["sagemaker.application-autoscaling.amazonaws.com"]
    }
  }
}

################################################################################
# Permissions boundary of the stack's roles: the most any role a deploy role creates can do
################################################################################

locals {
  # SageMaker writes every transform job of the account to this group (a stream per job and instance, named after the
  # job), so environments are told apart by their streams.
  transform_log_group = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/TransformJobs"
}

# The stack's Lambda function, SageMaker endpoint and batch transform roles (modules/api, modules/model_endpoint,
# modules/batch_transform) each hold a narrower inline policy of their own; the boundary caps every role of the
# environment at what those roles need of the environment's own resources (the review queue's table and its key, the
# batch bucket's prefixes among them), whatever policy a deploy role writes.
# No IAM, STS or Organizations action: a role under it can neither create nor assume anything.
data "aws_iam_policy_document" "permissions_boundary" {
  for_each = local.scopes

  # Lambda (/aws/lambda/<name>) and the endpoint (/aws/sagemaker/Endpoints/<name>), their log streams included.
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = each.value.log_groups
  }

  statement {
    sid       = "InvokeOwnEndpoints"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [each.value.endpoints]
  }

  # The published models, and the batch bucket's input/ (transform jobs).
  statement {
    sid       = "ReadOwnModelsAndBatchInput"
    actions   = ["s3:GetObject"]
    resources = [each.value.models, "${each.value.batch_bucket}/input/*"]
  }

  statement {
    sid       = "ListOwnBatchInput"
    actions   = ["s3:ListBucket"]
    resources = [each.value.batch_bucket]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["input/*"]
    }
  }

  statement {
    sid       = "WriteOwnBatchOutput"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${each.value.batch_bucket}/output/*"]
  }

  # The artifact and batch buckets' objects are encrypted with the AWS managed key aws/s3, used through S3 only: to
  # read them, and to write the transform jobs' output.
  statement {
    sid       = "UseS3KeysThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_keys]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "PullServingImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${local.partition}:ecr:${var.region}:${data.aws_sagemaker_prebuilt_ecr_image.tensorflow_inference.registry_id}:repository/tensorflow-inference"]
  }

  # GetAuthorizationToken has no resource type; the token opens only the repository above.
  statement {
    sid       = "EcrToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # SageMaker's account-wide log group of transform jobs: streams of any job, events only into this environment's.
  statement {
    sid       = "TransformLogStreams"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"]
    resources = [local.transform_log_group, "${local.transform_log_group}:*"]
  }

  statement {
    sid       = "WriteOwnTransformLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.transform_log_group}:log-stream:${each.value.prefix}*"]
  }

  # PutMetricData has no resource type; the namespace condition is its scope.
  statement {
    sid       = "PublishSageMakerMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/Endpoints", "/aws/sagemaker/TransformJobs"]
    }
  }

  # Tables named <project>-<env>* and their indexes (the review queue).
  statement {
    sid       = "OwnTableItems"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    resources = [each.value.tables]
  }

  # The environment's customer managed keys, which carry its tags (like the deploy roles' key statements).
  statement {
    sid       = "UseOwnKeys"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [local.kms_keys]

    dynamic "condition" {
      for_each = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key }

      content {
        test     = "StringEquals"
        variable = condition.key
        values   = [condition.value]
      }
    }
  }
}

# The serving image's registry (AWS's account for the region); the provider knows it without an API call.
data "aws_sagemaker_prebuilt_ecr_image" "tensorflow_inference" {
  repository_name = "tensorflow-inference"
}

# Under this root's IAM path, like every policy here: no deploy role's policy/<project>-<env>* pattern reaches it.
resource "aws_iam_policy" "permissions_boundary" {
  for_each = local.scopes

  name        = "${each.value.prefix}-permissions-boundary"
  path        = local.iam_path
  description = "Permissions boundary of every IAM role of ${each.key}'s stack: its own logs, endpoint, models, tables and keys."
  policy      = data.aws_iam_policy_document.permissions_boundary[each.key].json
}

################################################################################
# The GitHub roles and their managed policies (documents above)
################################################################################

locals {
  # <env>/<policy> => its document and what it is for.
  github_policies = merge([
    for env, scope in local.scopes : {
      "${env}/read" = {
        env         = env
        name        = "read"
        document    = data.aws_iam_policy_document.read[env].json
        description = "Read ${env}'s Terraform state and refresh the resources its root manages."
      }
      "${env}/publish" = {
        env         = env
        name        = "publish"
        document    = data.aws_iam_policy_document.publish[env].json
        description = "Lock ${env}'s Terraform state for a plan and publish models to its artifact bucket."
      }
      "${env}/deploy-serving" = {
        env         = env
        name        = "deploy-serving"
        document    = data.aws_iam_policy_document.deploy_serving[env].json
        description = "Apply ${env}'s root: state, SageMaker endpoint and its scaling, Lambda, logs, alarms, topic, review table and keys (${env}'s only)."
      }
      "${env}/deploy-web" = {
        env         = env
        name        = "deploy-web"
        document    = data.aws_iam_policy_document.deploy_web[env].json
        description = "Apply ${env}'s root: HTTP API, S3 buckets, CloudFront (${env}'s only, but for the account-wide statements)."
      }
      "${env}/deploy-auth" = {
        env         = env
        name        = "deploy-auth"
        document    = data.aws_iam_policy_document.deploy_auth[env].json
        description = "Apply ${env}'s root: the Cognito user pool, its app clients, hosted UI domain, resource server and group (${env}'s only)."
      }
      "${env}/deploy-iam" = {
        env         = env
        name        = "deploy-iam"
        document    = data.aws_iam_policy_document.deploy_iam[env].json
        description = "Apply ${env}'s root: the stack's IAM roles (${scope.prefix}*), only with ${env}'s permissions boundary."
      }
    }
  ]...)

  # <kind>/<env>, the keys of the trust documents => what the role is for and the policies it holds.
  github_roles = merge([
    for env, scope in local.scopes : {
      "plan/${env}" = {
        env         = env
        kind        = "plan"
        description = "GitHub Actions (${var.github_repository}@${var.github_branch}): publish the model and plan ${env}."
        policies    = ["read", "publish"]
      }
      "deploy/${env}" = {
        env         = env
        kind        = "deploy"
        description = "GitHub Actions (${var.github_repository}, environment ${env}): apply the reviewed plan."
        policies    = ["read", "deploy-serving", "deploy-web", "deploy-auth", "deploy-iam"]
      }
    }
  ]...)
}

resource "aws_iam_policy" "github" {
  for_each = local.github_policies

  name        = "${local.scopes[each.value.env].prefix}-github-${each.value.name}"
  path        = local.iam_path
  description = each.value.description
  policy      = each.value.document
}

resource "aws_iam_role" "github" {
  for_each = local.github_roles

  name                 = "${local.scopes[each.value.env].prefix}-github-${each.value.kind}"
  path                 = local.iam_path
  description          = each.value.description
  assume_role_policy   = data.aws_iam_policy_document.github_trust[each.key].json
  max_session_duration = var.role_max_session_duration_seconds
}

resource "aws_iam_role_policy_attachment" "github" {
  for_each = merge([
    for role, spec in local.github_roles : {
      for policy in spec.policies : "${role}/${policy}" => { role = role, policy = "${spec.env}/${policy}" }
    }
  ]...)

  role       = aws_iam_role.github[each.value.role].name
  policy_arn = aws_iam_policy.github[each.value.policy].arn
}

################################################################################
# Cloud training (optional): SageMaker execution role + the plan role's right to start jobs with it
################################################################################

locals {
  training_scope = local.scopes[var.training_environment]
  # Training job names must start with <project>- (toxiguard train-cloud names them so).
  training_jobs      = "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:training-job/${var.project}-*"
  training_log_group = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs"
}

# AWS's TensorFlow training image lives in a per-region AWS account; the provider knows it without an API call.
data "aws_sagemaker_prebuilt_ecr_image" "tensorflow_training" {
  count = var.enable_cloud_training ? 1 : 0

  repository_name = "tensorflow-training"
}

data "aws_iam_policy_document" "training_trust" {
  count = var.enable_cloud_training ? 1 : 0

  statement {
    sid     = "SageMakerTraining"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    # Confused-deputy guard: only SageMaker acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "training" {
  count = var.enable_cloud_training ? 1 : 0

  statement {
    sid       = "ListInputs"
    actions   = ["s3:ListBucket"]
    resources = [local.training_scope.artifact_bucket]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["data/*", "embeddings/*", "code/*"]
    }
  }

  statement {
    sid     = "ReadInputs"
    actions = ["s3:GetObject"]
    resources = [
      "${local.training_scope.artifact_bucket}/data/*",
      "${local.training_scope.artifact_bucket}/embeddings/*",
      "${local.training_scope.artifact_bucket}/code/*",
    ]
  }

  statement {
    sid       = "WriteOutputs"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.training_scope.artifact_bucket}/training/*"]
  }

  statement {
    sid = "WriteLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [local.training_log_group, "${local.training_log_group}:*"]
  }

  statement {
    sid       = "PullTrainingImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = ["arn:${local.partition}:ecr:${var.region}:${data.aws_sagemaker_prebuilt_ecr_image.tensorflow_training[0].registry_id}:repository/tensorflow-training"]
  }

  # ECR issues registry tokens account-wide: GetAuthorizationToken has no resource type.
  statement {
    sid       = "EcrToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # PutMetricData has no resource type; the namespace condition is what scopes it.
  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }
}

resource "aws_iam_role" "training" {
  count = var.enable_cloud_training ? 1 : 0

  name               = "${local.training_scope.prefix}-sagemaker-training"
  path               = local.iam_path
  description        = "SageMaker training jobs of ${var.training_environment}: read data/ and code/, write training/ of its artifact bucket."
  assume_role_policy = data.aws_iam_policy_document.training_trust[0].json
}

resource "aws_iam_role_policy" "training" {
  count = var.enable_cloud_training ? 1 : 0

  name   = "training"
  role   = aws_iam_role.training[0].id
  policy = data.aws_iam_policy_document.training[0].json
}

data "aws_iam_policy_document" "training_launch" {
  count = var.enable_cloud_training ? 1 : 0

  statement {
    sid = "TrainingJobs"
    actions = [
      "sagemaker:CreateTrainingJob",
      "sagemaker:DescribeTrainingJob",
      "sagemaker:StopTrainingJob",
      "sagemaker:AddTags",
    ]
    resources = [local.training_jobs]
  }

  statement {
    sid       = "PassTrainingRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.training[0].arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  # train-cloud uploads the ml/ source to code/ and downloads the result from training/ (read policy).
  statement {
    sid       = "UploadCode"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.training_scope.artifact_bucket}/code/*"]
  }

  # --wait follows the job's log.
  statement {
    sid       = "FollowTrainingLogs"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
    resources = [local.training_log_group, "${local.training_log_group}:*"]
  }
}

resource "aws_iam_policy" "training_launch" {
  count = var.enable_cloud_training ? 1 : 0

  name        = "${local.training_scope.prefix}-github-training"
  path        = local.iam_path
  description = "Start SageMaker training jobs of ${var.training_environment} with its training role."
  policy      = data.aws_iam_policy_document.training_launch[0].json
}

resource "aws_iam_role_policy_attachment" "plan_training" {
  count = var.enable_cloud_training ? 1 : 0

  role       = aws_iam_role.github["plan/${var.training_environment}"].name
  policy_arn = aws_iam_policy.training_launch[0].arn
}
