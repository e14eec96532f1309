"""A broken copy of each IAM guarantee of Deliver 4 (issue 12) is caught by its rule in rules/iam.py or
rules/bootstrap.py.

Like test_broken_module.py: each test breaks one thing in a fresh copy of terraform/ and asserts that the rule reports
something new about exactly that thing, so a rule that stopped looking could not pass.
"""

import pytest

from .conftest import break_terraform, copy_terraform, new_violations, parse_terraform
from .rules import (
    check_bootstrap_policy_sizes,
    check_cognito_environment_scoped,
    check_deploy_roles_bounded,
    check_generated_id_services_environment_scoped,
    check_roles_carry_permissions_boundary,
    check_roles_cover_stack_resources,
    check_service_principals_scoped,
)


def broken(tmp_path, directory: str, pattern: str, replacement: str):
    copy = copy_terraform(tmp_path)
    break_terraform(copy, directory, pattern, replacement)
    return parse_terraform(copy)


def caught(rule, broken_tree, terraform_tree, *expected: str) -> None:
    """The rule reports a new violation that mentions every expected fragment."""
    found = new_violations(rule, broken_tree, terraform_tree)
    assert any(all(fragment in violation for fragment in expected) for violation in found), (expected, found)


################################################################################
# Permissions boundary: on every role of the stack, wired from the env roots
################################################################################


@pytest.mark.parametrize(
    ("directory", "pattern", "replacement", "expected"),
    [
        # A role of a module without the boundary: the deploy role could not create it, and nothing would cap it.
        ("modules/api", r"^ *permissions_boundary *= *var\.permissions_boundary\n", "", "aws_iam_role.lambda"),
        (
            "modules/model_endpoint",
            r"^ *permissions_boundary *= *var\.permissions_boundary\n",
            "",
            "aws_iam_role.execution",
        ),
        # The stack forgets to pass it to a module.
        (
            "modules/stack",
            r"^ *permissions_boundary *= *var\.permissions_boundary_arn\n",
            "",
            "is not var.permissions_boundary_arn",
        ),
        # An env root no longer has to give it.
        ("envs/prod", r'^(variable "permissions_boundary_arn" \{\n)', "\\1  default = null\n", "envs/prod"),
    ],
    ids=["api-role", "endpoint-role", "stack-wiring", "env-default"],
)
def test_role_without_the_boundary_is_caught(tmp_path, terraform_tree, directory, pattern, replacement, expected):
    tree = broken(tmp_path, directory, pattern, replacement)
    caught(check_roles_carry_permissions_boundary, tree, terraform_tree, expected)


################################################################################
# Deploy roles: roles only with the boundary, which they can neither remove nor rewrite
################################################################################


def test_role_creation_without_the_boundary_condition_is_caught(tmp_path, terraform_tree):
    tree = broken(tmp_path, "bootstrap", r'"iam:PermissionsBoundary"', '"aws:ResourceTag/Environment"')
    caught(check_deploy_roles_bounded, tree, terraform_tree, "IamRolesWithBoundary", "iam:CreateRole")


def test_boundary_removal_is_caught(tmp_path, terraform_tree):
    tree = broken(
        tmp_path,
        "bootstrap",
        r'^(\s*)"iam:DeleteRole",\n',
        '\\1"iam:DeleteRole",\n\\1"iam:DeleteRolePermissionsBoundary",\n',
    )
    caught(check_deploy_roles_bounded, tree, terraform_tree, "IamRolesWrite", "takes the boundary off")


def test_missing_deny_of_boundary_rewrites_is_caught(tmp_path, terraform_tree):
    tree = broken(
        tmp_path,
        "bootstrap",
        r'(?s)(sid\s*=\s*"DenyBootstrapPolicyChanges".*?)\n\s*"iam:SetDefaultPolicyVersion",',
        r"\1",
    )
    caught(check_deploy_roles_bounded, tree, terraform_tree, "no Deny of iam:SetDefaultPolicyVersion")


def test_boundary_granting_sts_is_caught(tmp_path, terraform_tree):
    tree = broken(
        tmp_path, "bootstrap", r'"sagemaker:InvokeEndpoint"\]', '"sagemaker:InvokeEndpoint", "sts:AssumeRole"]'
    )
    caught(check_deploy_roles_bounded, tree, terraform_tree, "InvokeOwnEndpoints", "the boundary allows", "sts:")


################################################################################
# API Gateway, CloudFront, Application Auto Scaling: this environment's tag, or a cited reason
################################################################################


@pytest.mark.parametrize(
    ("pattern", "replacement", "expected"),
    [
        # The manage statement loses its Environment condition: dev's role could change prod's distribution.
        (
            r'(?s)(sid\s*=\s*"CloudFrontManageEnvironmentDistributions".*?)"aws:ResourceTag/Environment" = each\.key',
            '\\1"aws:ResourceTag/Stage" = each.key',
            ("CloudFrontManageEnvironmentDistributions", "neither conditioned"),
        ),
        # A fixed environment instead of the document's own.
        (
            r'(?s)(sid\s*=\s*"AutoScalingManageEnvironmentTargets".*?)"aws:ResourceTag/Environment" = each\.key',
            '\\1"aws:ResourceTag/Environment" = "prod"',
            ("AutoScalingManageEnvironmentTargets", "neither conditioned"),
        ),
        # Account-wide without saying so.
        (
            r'"ApiGatewayRoutesAccountWide"',
            '"ApiGatewayRoutes"',
            ("ApiGatewayRoutes)", "neither conditioned"),
        ),
        # Account-wide without the reason.
        (
            r"(?s)  # Account-wide \(this region's HTTP APIs\): routes.*?\n(  statement \{)",
            "\\1",
            ("ApiGatewayRoutesAccountWide", "without a comment above it"),
        ),
        # Creating with this environment's tags, but free to re-tag another environment's resource into this one.
        (
            r'(?s)(sid\s*=\s*"CloudFrontCreateEnvironmentDistributions".*?)test     = "StringEqualsIfExists"',
            '\\1test     = "StringLikeIfExists"',
            ("CloudFrontCreateEnvironmentDistributions", "cloudfront:TagResource", "another environment"),
        ),
        # Account-wide tag changes that may touch the Environment tag.
        (
            r'values   = \["Project", "Environment"\]',
            'values   = ["Project"]',
            ("ApiGatewayTagsAccountWide", "another environment"),
        ),
    ],
    ids=["no-tag-condition", "fixed-environment", "unmarked-account-wide", "uncited-account-wide", "retag", "tag-keys"],
)
def test_unscoped_generated_id_statement_is_caught(tmp_path, terraform_tree, pattern, replacement, expected):
    tree = broken(tmp_path, "bootstrap", pattern, replacement)
    caught(check_generated_id_services_environment_scoped, tree, terraform_tree, *expected)


def test_missing_environment_default_tag_is_caught(tmp_path, terraform_tree):
    """The tag conditions mean something only while the env roots tag everything with their environment."""
    tree = broken(tmp_path, "envs/dev", r"^\s*Environment\s*=\s*local\.environment\n", "")
    caught(check_generated_id_services_environment_scoped, tree, terraform_tree, "envs/dev", "Environment")


################################################################################
# Service principals: aws:SourceAccount or aws:SourceArn
################################################################################


@pytest.mark.parametrize(
    ("directory", "pattern", "expected"),
    [
        ("modules/api", r'"aws:SourceAccount"', "LambdaAssumeRole"),
        ("modules/model_endpoint", r'"aws:SourceAccount"', "SageMakerAssumeRole"),
        ("modules/monitoring", r'"aws:SourceAccount"', "CloudWatchAlarmsEncryptNotifications"),
        ("modules/monitoring", r'"aws:SourceArn"', "CloudWatchAlarmsPublish"),
        ("modules/site", r'"AWS:SourceArn"', "AllowCloudFrontRead"),
        ("bootstrap", r'"aws:SourceAccount"', "SageMakerTraining"),
    ],
    ids=["lambda-trust", "endpoint-trust", "alarm-key", "alarm-topic", "site-bucket", "training-trust"],
)
def test_service_principal_without_source_condition_is_caught(tmp_path, terraform_tree, directory, pattern, expected):
    tree = broken(tmp_path, directory, pattern, '"aws:PrincipalTag/Team"')
    caught(
        check_service_principals_scoped, tree, terraform_tree, expected, "without aws:SourceAccount or aws:SourceArn"
    )


################################################################################
# Size: every managed policy under IAM's 6,144 characters, with the longest names the variables accept
################################################################################


def test_oversized_policy_document_is_caught(tmp_path, terraform_tree):
    """Forty more log-group ARNs in deploy_serving: as one document the deploy policies would not fit either."""
    arns = ", ".join(
        f'"arn:${{local.partition}}:logs:${{var.region}}:${{local.account_id}}:log-group:/aws/extra-{n}/${{var.project}}-${{each.key}}*"'
        for n in range(40)
    )
    tree = broken(
        tmp_path,
        "bootstrap",
        r"(sid = \"LogGroupsWrite\"\n(?:.*\n)*?\s*resources\s*=\s*)each\.value\.log_groups",
        f"\\1[{arns}]",
    )
    caught(check_bootstrap_policy_sizes, tree, terraform_tree, "deploy_serving", "over IAM's 6144")


################################################################################
# Coverage: the plan and deploy roles may do what the provider calls for every resource type the modules declare
################################################################################

# The whole CognitoManageEnvironmentUserPools statement, from its comment to its closing brace.
COGNITO_MANAGE = (
    r"(?s)  # The environment's pool and what is in it.*?\n"
    r'  statement \{\n    sid = "CognitoManageEnvironmentUserPools".*?\n  \}\n'
)


@pytest.mark.parametrize(
    ("directory", "pattern", "replacement", "expected"),
    [
        # The Cognito statement removed: the deploy role could create a pool but not its clients, domain or group.
        ("bootstrap", COGNITO_MANAGE, "", ("deploy/dev role may not", "cognito-idp:CreateUserPoolClient")),
        # The plan role could not refresh the app clients (nor the smoke test read the backend client's secret).
        (
            "bootstrap",
            r'^\s*"cognito-idp:DescribeUserPoolClient",\n',
            "",
            ("plan/prod role may not", "DescribeUserPoolClient"),
        ),
        # The dashboard's statement gone.
        ("bootstrap", r'"cloudwatch:PutDashboard", ', "", ("deploy/dev role may not", "cloudwatch:PutDashboard")),
        # The Cognito policy made but never attached to the deploy role.
        (
            "bootstrap",
            r'"deploy-auth", "deploy-iam"\]',
            '"deploy-iam"]',
            ("deploy/prod role may not", "CreateUserPool"),
        ),
        # The review table's TTL could not be set: the table's first apply would fail half-way.
        (
            "bootstrap",
            r'^\s*"dynamodb:UpdateTimeToLive",\n',
            "",
            ("deploy/dev role may not", "dynamodb:UpdateTimeToLive"),
        ),
        # The plan role could not refresh the table's point-in-time recovery.
        (
            "bootstrap",
            r'^\s*"dynamodb:DescribeContinuousBackups",\n',
            "",
            ("plan/prod role may not", "dynamodb:DescribeContinuousBackups"),
        ),
        # A module starts using a resource type nobody gave the deploy roles permissions for.
        (
            "modules/monitoring",
            r"\Z",
            '\nresource "aws_sqs_queue" "dead_letters" {\n  name = var.name\n}\n',
            ("aws_sqs_queue has no row in PROVIDER_ACTIONS",),
        ),
    ],
    ids=[
        "cognito-statement-removed",
        "client-read-removed",
        "dashboard-write-removed",
        "policy-not-attached",
        "table-ttl-removed",
        "table-backups-read-removed",
        "new-type",
    ],
)
def test_missing_permission_for_a_stack_resource_is_caught(
    tmp_path, terraform_tree, directory, pattern, replacement, expected
):
    tree = broken(tmp_path, directory, pattern, replacement)
    caught(check_roles_cover_stack_resources, tree, terraform_tree, *expected)


################################################################################
# Cognito: the environment's user pool only, by its tags; account-wide only what nothing can scope, with the reason
################################################################################


@pytest.mark.parametrize(
    ("pattern", "replacement", "expected"),
    [
        # The read statement loses its tag condition: dev's plan role could read prod's client secrets.
        (
            r'(?s)(sid = "CognitoReadEnvironmentUserPools".*?)\n\n    dynamic "condition" \{.*?\n    \}\n',
            "\\1\n",
            ("CognitoReadEnvironmentUserPools", "neither conditioned"),
        ),
        # The manage statement conditioned on a fixed environment.
        (
            r'(?s)(sid = "CognitoManageEnvironmentUserPools".*?)"aws:ResourceTag/Environment" = each\.key',
            '\\1"aws:ResourceTag/Environment" = "prod"',
            ("CognitoManageEnvironmentUserPools", "neither conditioned"),
        ),
        # A secret-returning read moved into the account-wide statement.
        (
            r'actions   = \["cognito-idp:DescribeUserPoolDomain"\]',
            'actions   = ["cognito-idp:DescribeUserPoolDomain", "cognito-idp:DescribeUserPoolClient"]',
            ("CognitoDomainsReadAccountWide", "DescribeUserPoolClient", "account-wide, though"),
        ),
        # Account-wide without the reason.
        (
            r"(?s)  # Account-wide \(this region's user pool domains\).*?\n(  statement \{)",
            "\\1",
            ("CognitoDomainsReadAccountWide", "without a comment above it"),
        ),
        # Pools created without this environment's tags (request tags swapped for resource tags, absent at creation).
        (
            r'(?s)(sid       = "CognitoCreateEnvironmentUserPools".*?)"aws:RequestTag/Project" = var\.project, '
            r'"aws:RequestTag/Environment" = each\.key',
            '\\1"aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = each.key',
            ("CognitoCreateEnvironmentUserPools", "CreateUserPool without aws:RequestTag/Environment"),
        ),
        # Later tag changes free to rewrite the Environment tag: a deploy role could hand its pool to another one.
        (
            r'(?s)(sid       = "CognitoRetagEnvironmentUserPools".*?)\n\n    condition \{\n      test     = '
            r'"ForAllValues:StringNotEquals".*?\n    \}\n',
            "\\1\n",
            ("CognitoRetagEnvironmentUserPools", "could change a pool's Project or Environment tag"),
        ),
    ],
    ids=[
        "read-unconditioned",
        "fixed-environment",
        "secret-account-wide",
        "uncited-account-wide",
        "create-untagged",
        "retag",
    ],
)
def test_unscoped_cognito_statement_is_caught(tmp_path, terraform_tree, pattern, replacement, expected):
    tree = broken(tmp_path, "bootstrap", pattern, replacement)
    caught(check_cognito_environment_scoped, tree, terraform_tree, *expected)
