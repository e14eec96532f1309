"""The bootstrap's policy documents as IAM sees them: their size, and what each role may do.

The per-environment documents are rendered for example inputs (hcl_eval.py, no AWS) as the provider writes them.
Every managed policy stays under IAM's size quota even with the longest names the bootstrap's variables accept, and
the plan and deploy roles of every environment may call what terraform-provider-aws calls for each resource and data
source type the modules declare (PROVIDER_ACTIONS): a plan or apply does not fail on a permission the roles lack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..hcl_eval import Lazy, UnsupportedExpression, evaluate_value
from .iam import action_covers, document_conditions
from .tree import Tree, as_list, first


@dataclass(frozen=True)
class BootstrapInputs:
    """Example inputs of terraform/bootstrap, to render its policy documents without AWS."""

    project: str
    environments: tuple[str, ...]
    region: str
    partition: str
    account_id: str
    state_bucket_name: str
    # AWS's account of the prebuilt SageMaker images (12 digits in every region).
    ecr_registry_id: str = "763104351884"
    github_repository: str = "example-org/toxiguard"


# The defaults of variables.tf, in an ordinary region.
TYPICAL_INPUTS = BootstrapInputs(
    "toxiguard", ("dev", "prod"), "eu-west-1", "aws", "123456789012", "toxiguard-tfstate-123456789012"
)
# The longest values variables.tf accepts (project 32 characters, environments 16, a 63-character state bucket), in
# a region and partition with long names: every ARN in the documents is as long as it can get.
LONGEST_INPUTS = BootstrapInputs(
    "p" * 32, ("e" * 15 + "1", "e" * 15 + "2"), "ap-southeast-2", "aws-us-gov", "123456789012", "s" * 63
)
# IAM's quota for a customer managed policy document, counted without whitespace
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
MANAGED_POLICY_CHARACTERS = 6144
# The bootstrap's managed policies are its documents made once per environment.
PER_ENVIRONMENT = "${local.scopes}"


class RenderError(ValueError):
    """The bootstrap uses HCL the evaluator does not understand, or lacks what the rendering needs."""


def bootstrap_scope(tree: Tree, inputs: BootstrapInputs) -> dict[str, object]:
    """The names the bootstrap's expressions refer to, for `inputs`: var, local (evaluated lazily), data, and the
    resources its documents name (the state bucket's and the boundaries' ARNs)."""
    directory = "bootstrap"
    variables = {
        variable.name: variable.body.get("default") for variable in tree.blocks("variable", directory=directory)
    }
    variables.update(
        project=inputs.project,
        environments=list(inputs.environments),
        region=inputs.region,
        github_repository=inputs.github_repository,
        state_bucket_name=inputs.state_bucket_name,
    )
    partition, account = inputs.partition, inputs.account_id
    iam_path = f"/{inputs.project}-bootstrap/"
    documents = [document.name for document in tree.blocks("data", "aws_iam_policy_document", directory)]
    scope: dict[str, object] = {
        "var": variables,
        "data": {
            "aws_caller_identity": {"current": {"account_id": account}},
            "aws_partition": {"current": {"partition": partition}},
            "aws_sagemaker_prebuilt_ecr_image": {
                "tensorflow_inference": {"registry_id": inputs.ecr_registry_id},
                "tensorflow_training": [{"registry_id": inputs.ecr_registry_id}],
            },
            # A document's .json stands for the document itself: the roles' policy lists name them.
            "aws_iam_policy_document": {
                name: {env: {"json": name} for env in inputs.environments} for name in documents
            },
        },
        "aws_s3_bucket": {"state": {"arn": f"arn:{partition}:s3:::{inputs.state_bucket_name}"}},
        "aws_iam_policy": {
            "permissions_boundary": {
                env: {
                    "arn": f"arn:{partition}:iam::{account}:policy{iam_path}{inputs.project}-{env}-permissions-boundary"
                }
                for env in inputs.environments
            }
        },
    }
    scope["local"] = {
        block.name: Lazy(lambda body=block.body: evaluate_value(body, scope))
        for block in tree.blocks("locals", directory=directory)
    }
    return scope


def flat(value) -> list:
    """A rendered attribute as a flat list (`resources = each.value.sagemaker` is a list, `[x]` one of strings)."""
    if isinstance(value, list):
        return [item for element in value for item in flat(element)]
    return [] if value is None else [value]


def render_statement(statement: dict, scope: dict[str, object]) -> dict:
    """One aws_iam_policy_document statement as the provider writes it into the JSON document."""
    rendered: dict[str, object] = {}
    if statement.get("sid"):
        rendered["Sid"] = statement["sid"]
    rendered["Effect"] = statement.get("effect", "Allow")
    for attribute, key in (
        ("actions", "Action"),
        ("not_actions", "NotAction"),
        ("resources", "Resource"),
        ("not_resources", "NotResource"),
    ):
        items = sorted({str(item) for item in flat(evaluate_value(statement.get(attribute), scope))})
        if items:
            rendered[key] = items[0] if len(items) == 1 else items
    principals: dict[str, list] = {}
    for block in as_list(statement.get("principals")):
        principals.setdefault(block.get("type"), []).extend(flat(evaluate_value(block.get("identifiers"), scope)))
    if principals:
        rendered["Principal"] = {
            kind: ids[0] if len(ids) == 1 else sorted(set(ids)) for kind, ids in principals.items()
        }
    conditions: dict[str, dict] = {}
    for condition in document_conditions(statement):
        values = sorted({str(item) for value in condition.values for item in flat(evaluate_value(value, scope))})
        variable = evaluate_value(condition.variable, scope)
        conditions.setdefault(condition.test, {})[variable] = values[0] if len(values) == 1 else values
    if conditions:
        rendered["Condition"] = conditions
    return rendered


def render_bootstrap_documents(tree: Tree, inputs: BootstrapInputs) -> dict[tuple[str, str], dict]:
    """Every per-environment policy document of the bootstrap (the GitHub roles' policies and the permissions
    boundaries), by (document name, environment), as JSON objects."""
    scope = bootstrap_scope(tree, inputs)
    rendered = {}
    try:
        scopes = evaluate_value(PER_ENVIRONMENT, scope)
        for document in tree.blocks("data", "aws_iam_policy_document", "bootstrap"):
            if document.body.get("for_each") != PER_ENVIRONMENT:
                continue
            statements = as_list(document.body.get("statement")) + [
                first(dynamic, "content")
                for entry in as_list(document.body.get("dynamic"))
                for name, dynamic in entry.items()
                if name == "statement"
            ]
            for env in inputs.environments:
                each = {**scope, "each": {"key": env, "value": scopes[env]}}
                rendered[(document.name, env)] = {
                    "Version": "2012-10-17",
                    "Statement": [render_statement(statement, each) for statement in statements],
                }
    except (UnsupportedExpression, KeyError, TypeError) as error:
        raise RenderError(f"bootstrap: cannot render the policy documents: {error}") from error
    return rendered


def bootstrap_role_documents(tree: Tree, inputs: BootstrapInputs) -> dict[str, list[str]]:
    """The documents each GitHub role holds as managed policies ("deploy/dev" => ["read", "deploy_serving", ...]),
    from local.github_roles and local.github_policies."""
    scope = bootstrap_scope(tree, inputs)
    try:
        roles = evaluate_value("${local.github_roles}", scope)
        policies = evaluate_value("${local.github_policies}", scope)
        return {
            role: [policies[f"{spec['env']}/{policy}"]["document"] for policy in spec["policies"]]
            for role, spec in roles.items()
        }
    except (UnsupportedExpression, KeyError, TypeError) as error:
        raise RenderError(f"bootstrap: cannot tell which documents the roles hold: {error}") from error


def document_size(document: dict) -> int:
    """Characters IAM counts for a policy: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def check_bootstrap_policy_sizes(tree: Tree) -> list[str]:
    """Every managed policy the bootstrap makes per environment stays under IAM's 6,144 characters, even with the
    longest project, environment, bucket, region and partition names its variables accept."""
    try:
        rendered = render_bootstrap_documents(tree, LONGEST_INPUTS)
    except RenderError as error:
        return [str(error)]
    if not rendered:
        return ["bootstrap: no aws_iam_policy_document made per environment (for_each = local.scopes)"]
    return [
        f"bootstrap: data.aws_iam_policy_document.{name} ({env}) is {size} characters, over IAM's "
        f"{MANAGED_POLICY_CHARACTERS}: split it, as the deploy policies are"
        for (name, env), document in sorted(rendered.items())
        if (size := document_size(document)) > MANAGED_POLICY_CHARACTERS
    ]


# What terraform-provider-aws (6.x) calls for each resource and data source type the modules declare: what refreshing
# it needs (terraform plan, so the plan role and the deploy role) and what creating, changing and deleting it needs on
# top (terraform apply, the deploy role). Read from internal/service/<service>/<resource>.go; not every call, but
# each one that would fail an apply or plan without its permission. A type the modules start using needs its row
# here before the tests pass, which is the point: the deploy roles are written before the resources they manage.
READ, WRITE = 0, 1
PROVIDER_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # api
    "aws_iam_role": (
        ("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
        (
            "iam:CreateRole", "iam:TagRole", "iam:PutRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy",
            "iam:DeleteRole",
        ),
    ),
    "aws_iam_role_policy": (("iam:GetRolePolicy",), ("iam:PutRolePolicy", "iam:DeleteRolePolicy")),
    # batch_transform's operator policy (iam/policy.go): an update prunes the oldest of five versions, creates one and
    # then makes it the default; a delete removes the other versions first.
    "aws_iam_policy": (
        ("iam:GetPolicy", "iam:GetPolicyVersion"),
        (
            "iam:CreatePolicy", "iam:TagPolicy", "iam:ListPolicyVersions", "iam:CreatePolicyVersion",
            "iam:SetDefaultPolicyVersion", "iam:DeletePolicyVersion", "iam:UntagPolicy", "iam:DeletePolicy",
        ),
    ),
    "aws_cloudwatch_log_group": (
        ("logs:DescribeLogGroups", "logs:ListTagsForResource"),
        ("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource", "logs:DeleteLogGroup"),
    ),
    "aws_lambda_function": (
        ("lambda:GetFunction", "lambda:ListVersionsByFunction", "lambda:GetFunctionConcurrency"),
        (
            "lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
            "lambda:PutFunctionConcurrency", "lambda:TagResource", "lambda:DeleteFunction", "iam:PassRole",
        ),
    ),
    "aws_lambda_permission": (("lambda:GetPolicy",), ("lambda:AddPermission", "lambda:RemovePermission")),
    "aws_apigatewayv2_api": (("apigateway:GET",), ("apigateway:POST", "apigateway:PATCH", "apigateway:DELETE")),
    "aws_apigatewayv2_integration": (("apigateway:GET",), ("apigateway:POST", "apigateway:PATCH", "apigateway:DELETE")),
    "aws_apigatewayv2_authorizer": (("apigateway:GET",), ("apigateway:POST", "apigateway:PATCH", "apigateway:DELETE")),
    "aws_apigatewayv2_route": (("apigateway:GET",), ("apigateway:POST", "apigateway:PATCH", "apigateway:DELETE")),
    # The stage's access logs are a CloudWatch Logs vended-log delivery that API Gateway sets up as the caller.
    "aws_apigatewayv2_stage": (
        ("apigateway:GET",),
        (
            "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE",
            "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        ),
    ),
    "data.archive_file": ((), ()),
    "terraform_data": ((), ()),
    # buckets (private_bucket, for the artifact and site buckets) and the site's objects
    "aws_s3_bucket": (
        ("s3:ListBucket", "s3:GetBucketTagging", "s3:GetBucketPolicy", "s3:GetBucketAcl"),
        ("s3:CreateBucket", "s3:PutBucketTagging", "s3:DeleteBucket"),
    ),
    "aws_s3_bucket_versioning": (("s3:GetBucketVersioning",), ("s3:PutBucketVersioning",)),
    "aws_s3_bucket_server_side_encryption_configuration": (
        ("s3:GetEncryptionConfiguration",),
        ("s3:PutEncryptionConfiguration",),
    ),
    # Deleting the block or the ownership controls is authorized as their Put.
    "aws_s3_bucket_public_access_block": (("s3:GetBucketPublicAccessBlock",), ("s3:PutBucketPublicAccessBlock",)),
    "aws_s3_bucket_ownership_controls": (("s3:GetBucketOwnershipControls",), ("s3:PutBucketOwnershipControls",)),
    "aws_s3_bucket_policy": (("s3:GetBucketPolicy",), ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy")),
    "aws_s3_bucket_lifecycle_configuration": (("s3:GetLifecycleConfiguration",), ("s3:PutLifecycleConfiguration",)),
    "aws_s3_object": (
        ("s3:GetObject", "s3:GetObjectTagging"),
        ("s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion"),
    ),
    # site
    "data.aws_cloudfront_cache_policy": (("cloudfront:ListCachePolicies", "cloudfront:GetCachePolicy"), ()),
    "aws_cloudfront_distribution": (
        ("cloudfront:GetDistribution", "cloudfront:ListTagsForResource"),
        (
            "cloudfront:CreateDistribution", "cloudfront:TagResource", "cloudfront:UpdateDistribution",
            "cloudfront:DeleteDistribution",
        ),
    ),
    "aws_cloudfront_origin_access_control": (
        ("cloudfront:GetOriginAccessControl",),
        (
            "cloudfront:CreateOriginAccessControl", "cloudfront:UpdateOriginAccessControl",
            "cloudfront:DeleteOriginAccessControl",
        ),
    ),
    "aws_cloudfront_response_headers_policy": (
        ("cloudfront:GetResponseHeadersPolicy",),
        (
            "cloudfront:CreateResponseHeadersPolicy", "cloudfront:UpdateResponseHeadersPolicy",
            "cloudfront:DeleteResponseHeadersPolicy",
        ),
    ),
    # model_endpoint
    "data.aws_sagemaker_prebuilt_ecr_image": ((), ()),
    "aws_sagemaker_model": (
        ("sagemaker:DescribeModel", "sagemaker:ListTags"),
        ("sagemaker:CreateModel", "sagemaker:AddTags", "sagemaker:DeleteModel", "iam:PassRole"),
    ),
    "aws_sagemaker_endpoint_configuration": (
        ("sagemaker:DescribeEndpointConfig", "sagemaker:ListTags"),
        ("sagemaker:CreateEndpointConfig", "sagemaker:AddTags", "sagemaker:DeleteEndpointConfig"),
    ),
    "aws_sagemaker_endpoint": (
        ("sagemaker:DescribeEndpoint", "sagemaker:ListTags"),
        ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:AddTags", "sagemaker:DeleteEndpoint"),
    ),
    "aws_appautoscaling_target": (
        ("application-autoscaling:DescribeScalableTargets", "application-autoscaling:ListTagsForResource"),
        (
            "application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource",
            "application-autoscaling:DeregisterScalableTarget", "iam:CreateServiceLinkedRole",
        ),
    ),
    "aws_appautoscaling_policy": (
        ("application-autoscaling:DescribeScalingPolicies",),
        ("application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy"),
    ),
    # monitoring. The flag-rate alarm's ANOMALY_DETECTION_BAND is part of PutMetricAlarm: CloudWatch trains the
    # model for the alarm, and the Service Authorization Reference names no other action PutMetricAlarm depends on
    # than cloudwatch:TagResource (so no cloudwatch:PutAnomalyDetector or DescribeAnomalyDetectors).
    "aws_cloudwatch_metric_alarm": (
        ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
        ("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:DeleteAlarms"),
    ),
    # No tags (so no cloudwatch:TagResource) and no ListDashboards: the provider reads a dashboard by its name.
    "aws_cloudwatch_dashboard": (
        ("cloudwatch:GetDashboard",),
        ("cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"),
    ),
    "aws_kms_key": (
        ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"),
        ("kms:CreateKey", "kms:TagResource", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion"),
    ),
    "aws_kms_alias": (("kms:ListAliases",), ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias")),
    "aws_sns_topic": (
        ("sns:GetTopicAttributes", "sns:ListTagsForResource"),
        ("sns:CreateTopic", "sns:TagResource", "sns:SetTopicAttributes", "sns:DeleteTopic"),
    ),
    "aws_sns_topic_policy": (("sns:GetTopicAttributes",), ("sns:SetTopicAttributes",)),
    "aws_sns_topic_subscription": (("sns:GetSubscriptionAttributes",), ("sns:Subscribe", "sns:Unsubscribe")),
    # reviews_table (dynamodb/table.go). Creating a table encrypted with a customer managed key has DynamoDB create its
    # grants on the key on the caller's behalf; its tags go with CreateTable, which then needs dynamodb:TagResource.
    "aws_dynamodb_table": (
        (
            "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive",
            "dynamodb:ListTagsOfResource",
        ),
        (
            "dynamodb:CreateTable", "dynamodb:TagResource", "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive",
            "dynamodb:UpdateContinuousBackups", "dynamodb:UntagResource", "dynamodb:DeleteTable", "kms:CreateGrant",
        ),
    ),
    # auth (user_pool.go, user_pool_client.go, resource_server.go, user_group.go, user_pool_domain.go). The pool's
    # tags come with DescribeUserPool today; ListTagsForResource is what the provider's tag handling falls back to.
    "aws_cognito_user_pool": (
        ("cognito-idp:DescribeUserPool", "cognito-idp:GetUserPoolMfaConfig", "cognito-idp:ListTagsForResource"),
        (
            "cognito-idp:CreateUserPool", "cognito-idp:TagResource", "cognito-idp:SetUserPoolMfaConfig",
            "cognito-idp:UpdateUserPool", "cognito-idp:UntagResource", "cognito-idp:DeleteUserPool",
        ),
    ),
    "aws_cognito_user_group": (
        ("cognito-idp:GetGroup",),
        ("cognito-idp:CreateGroup", "cognito-idp:UpdateGroup", "cognito-idp:DeleteGroup"),
    ),
    "aws_cognito_resource_server": (
        ("cognito-idp:DescribeResourceServer",),
        ("cognito-idp:CreateResourceServer", "cognito-idp:UpdateResourceServer", "cognito-idp:DeleteResourceServer"),
    ),
    "aws_cognito_user_pool_client": (
        ("cognito-idp:DescribeUserPoolClient",),
        ("cognito-idp:CreateUserPoolClient", "cognito-idp:UpdateUserPoolClient", "cognito-idp:DeleteUserPoolClient"),
    ),
    "aws_cognito_user_pool_domain": (
        ("cognito-idp:DescribeUserPoolDomain",),
        ("cognito-idp:CreateUserPoolDomain", "cognito-idp:UpdateUserPoolDomain", "cognito-idp:DeleteUserPoolDomain"),
    ),
    # data sources that read nothing from AWS, or only the caller's identity (which needs no permission)
    "data.aws_caller_identity": ((), ()),
    "data.aws_partition": ((), ()),
    "data.aws_region": ((), ()),
    "data.aws_iam_policy_document": ((), ()),
}  # fmt: skip


def declared_types(tree: Tree) -> dict[str, str]:
    """Resource types ("aws_s3_bucket") and data source types ("data.aws_region") the modules and env roots declare,
    each with one place that declares it."""
    declared: dict[str, str] = {}
    for kind, prefix in (("resource", ""), ("data", "data.")):
        for block in tree.blocks(kind):
            if block.directory != "bootstrap":
                declared.setdefault(prefix + block.type, block.where())
    return declared


def role_actions(documents: list[dict]) -> tuple[list[str], list[str]]:
    """The action patterns a set of documents allows, and those it denies on every resource."""
    allowed, denied = [], []
    for document in documents:
        for statement in document["Statement"]:
            actions = flat(statement.get("Action"))
            if statement["Effect"] == "Allow":
                allowed += actions
            elif "*" in flat(statement.get("Resource")):
                denied += actions
    return allowed, denied


def role_may(actions: tuple[list[str], list[str]], action: str) -> bool:
    allowed, denied = actions
    return any(action_covers(p, action) for p in allowed) and not any(action_covers(p, action) for p in denied)


def check_roles_cover_stack_resources(tree: Tree) -> list[str]:
    """Every resource and data source type the modules declare has its row in PROVIDER_ACTIONS, and the plan role
    (refresh) and the deploy role (refresh, create, change, delete) of every environment hold a policy allowing each
    of its actions (action patterns such as cognito-idp:Describe* count; resources and conditions are the scope
    rules' business)."""
    declared = declared_types(tree)
    violations = [
        f"{where}: {name} has no row in PROVIDER_ACTIONS (tests/infra/rules/bootstrap.py): write down what the "
        "provider calls for it, and give the plan and deploy roles those permissions"
        for name, where in sorted(declared.items())
        if name not in PROVIDER_ACTIONS
    ]
    violations += [
        f"PROVIDER_ACTIONS: row {name!r}, which no module declares any more"
        for name in PROVIDER_ACTIONS
        if name not in declared
    ]
    try:
        documents = render_bootstrap_documents(tree, TYPICAL_INPUTS)
        roles = bootstrap_role_documents(tree, TYPICAL_INPUTS)
    except RenderError as error:
        return [*violations, str(error)]
    for env in TYPICAL_INPUTS.environments:
        for kind, needs in (("plan", (READ,)), ("deploy", (READ, WRITE))):
            role = f"{kind}/{env}"
            if role not in roles:
                violations.append(f"bootstrap: no role {role} in local.github_roles")
                continue
            actions = role_actions([documents[(name, env)] for name in roles[role] if (name, env) in documents])
            for name in sorted(declared.keys() & PROVIDER_ACTIONS.keys()):
                missing = [
                    action for need in needs for action in PROVIDER_ACTIONS[name][need] if not role_may(actions, action)
                ]
                if missing:
                    violations.append(f"bootstrap: the {role} role may not {missing} ({name}, {declared[name]})")
    return violations
