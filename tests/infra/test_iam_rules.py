"""The IAM rules of rules/ (iam.py, bootstrap.py) on hand-made trees (for the cases the real tree does not
contain), the rendering of the bootstrap's documents they rest on, and the deploy workflow's own AWS calls against
the roles its jobs assume."""

import re
from pathlib import Path

import pytest
import yaml

from .conftest import WORKFLOWS_DIR
from .hcl_eval import Lazy, UnsupportedExpression, evaluate_value
from .rules import (
    LONGEST_INPUTS,
    TYPICAL_INPUTS,
    Condition,
    Tree,
    bootstrap_role_documents,
    check_deploy_roles_bounded,
    check_service_principals_scoped,
    document_conditions,
    document_size,
    render_bootstrap_documents,
    role_actions,
    role_may,
)

SAGEMAKER = {"type": "Service", "identifiers": ["sagemaker.amazonaws.com"]}
ACCOUNT = {"test": "StringEquals", "variable": "aws:SourceAccount", "values": ["123456789012"]}


def tree_of(directory: str, *statements: dict, **resources: dict) -> Tree:
    document = {"data": [{"aws_iam_policy_document": {"this": {"statement": list(statements)}}}]}
    if resources:
        document["resource"] = [resources]
    return Tree(root=Path("/nonexistent"), documents={f"{directory}/main.tf": document})


def test_dynamic_conditions_over_a_literal_map_become_one_each():
    statement = {
        "dynamic": [
            {
                "condition": {
                    "for_each": {
                        "aws:ResourceTag/Project": "${var.project}",
                        "aws:ResourceTag/Environment": "${each.key}",
                    },
                    "content": [
                        {"test": "StringEquals", "variable": "${condition.key}", "values": ["${condition.value}"]}
                    ],
                }
            }
        ],
        "condition": [ACCOUNT],
    }
    assert document_conditions(statement) == (
        Condition("StringEquals", "aws:SourceAccount", ("123456789012",)),
        Condition("StringEquals", "aws:ResourceTag/Project", ("${var.project}",)),
        Condition("StringEquals", "aws:ResourceTag/Environment", ("${each.key}",)),
    )


def test_service_principals_need_a_source_condition_in_any_case():
    trust = {"actions": ["sts:AssumeRole"], "principals": [SAGEMAKER]}
    assert check_service_principals_scoped(tree_of("modules/x", trust))
    # IAM compares condition keys case-insensitively (the site bucket's policy writes AWS:SourceArn).
    arn = {"test": "ArnLike", "variable": "AWS:SourceArn", "values": ["arn:aws:sagemaker:*:123456789012:*"]}
    assert check_service_principals_scoped(tree_of("modules/x", {**trust, "condition": [arn]})) == []
    # Deny statements only narrow; an account principal is no confused deputy.
    assert check_service_principals_scoped(tree_of("modules/x", {**trust, "effect": "Deny"})) == []
    account = {"type": "AWS", "identifiers": ["arn:aws:iam::123456789012:root"]}
    assert check_service_principals_scoped(tree_of("modules/x", {**trust, "principals": [account]})) == []


def test_an_action_pattern_that_covers_role_creation_needs_the_boundary():
    boundary = {"aws_iam_policy": {"permissions_boundary": {"path": "${local.iam_path}"}}}
    violations = check_deploy_roles_bounded(
        tree_of("bootstrap", {"actions": ["iam:Put*"], "resources": ["${each.value.roles}"]}, **boundary)
    )
    assert any("['iam:Put*'] without an iam:PermissionsBoundary condition" in v for v in violations), violations


################################################################################
# Rendering the bootstrap's documents: the evaluator, and the documents as IAM gets them
################################################################################


@pytest.mark.parametrize(
    ("text", "expected"),
    [("arn:${local.partition}:s3:::${var.project}-${env}*", "arn:aws:s3:::toxiguard-dev*"),
     ("${var.environments}", ["dev", "prod"]),
     ('${[for type in ["model", "endpoint"] : "${type}/${var.project}"]}', ["model/toxiguard", "endpoint/toxiguard"]),
     ('${{for env in var.environments : env => {prefix = "${var.project}-${env}", n = 1}}}',
      {"dev": {"prefix": "toxiguard-dev", "n": 1}, "prod": {"prefix": "toxiguard-prod", "n": 1}}),
     ('${flatten([for p in ["a", "b"] : ["${p}", "${p}/*"]])}', ["a", "a/*", "b", "b/*"]),
     ('${merge([for env in var.environments : {"${env}/x" = env}]...)}', {"dev/x": "dev", "prod/x": "prod"}),
     ("${local.nested.list[1]}", "second"),
     ("$${literal}", "${literal}")],
)  # fmt: skip
def test_the_evaluator_reads_what_the_bootstrap_writes(text, expected):
    scope = {
        "var": {"project": "toxiguard", "environments": ["dev", "prod"]},
        "local": {"partition": Lazy(lambda: "aws"), "nested": {"list": ["first", "second"]}},
        "env": "dev",
    }
    assert evaluate_value(text, scope) == expected


@pytest.mark.parametrize(
    "text",
    [
        "${var.a == var.b}",
        "${var.a ? 1 : 0}",
        "${coalesce(var.a, var.b)}",
        "${var.missing}",
        "${[for x in var.a : x if x]}",
    ],
)
def test_the_evaluator_refuses_what_it_does_not_understand(text):
    """A check resting on a half-understood expression would pass by not looking."""
    with pytest.raises(UnsupportedExpression):
        evaluate_value(text, {"var": {"a": ["x"], "b": True}})


def test_the_rendered_documents_are_what_iam_gets(terraform_tree):
    documents = render_bootstrap_documents(terraform_tree, TYPICAL_INPUTS)
    roles = bootstrap_role_documents(terraform_tree, TYPICAL_INPUTS)
    assert roles["plan/prod"] == ["read", "publish"]
    assert roles["deploy/prod"] == ["read", "deploy_serving", "deploy_web", "deploy_auth", "deploy_iam"]
    sagemaker = next(s for s in documents[("deploy_serving", "prod")]["Statement"] if s.get("Sid") == "SageMakerWrite")
    assert sagemaker["Resource"] == sorted(
        f"arn:aws:sagemaker:eu-west-1:123456789012:{kind}/toxiguard-prod*"
        for kind in ("model", "endpoint-config", "endpoint")
    )
    boundary = next(s for s in documents[("deploy_iam", "dev")]["Statement"] if s.get("Sid") == "IamRolesWithBoundary")
    policy = "arn:aws:iam::123456789012:policy/toxiguard-bootstrap/toxiguard-dev-permissions-boundary"
    assert boundary["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": policy}}


def test_the_longest_names_make_the_longest_documents(terraform_tree):
    """The size rule measures the worst case: every document grows with the longest inputs."""
    typical = render_bootstrap_documents(terraform_tree, TYPICAL_INPUTS)
    longest = render_bootstrap_documents(terraform_tree, LONGEST_INPUTS)
    for (name, env), document in typical.items():
        index = TYPICAL_INPUTS.environments.index(env)
        assert document_size(longest[(name, LONGEST_INPUTS.environments[index])]) > document_size(document), name


################################################################################
# The deploy workflow's own AWS CLI calls: allowed to the role its job assumes
################################################################################

DEPLOY_WORKFLOW = WORKFLOWS_DIR / "deploy-environment.yml"
# The role each job of deploy-environment.yml assumes (plan_role_arn, or the environment's AWS_DEPLOY_ROLE_ARN).
JOB_ROLES = {"plan": "plan", "apply": "deploy"}
AWS_CLI = re.compile(r"\baws\s+([a-z0-9-]+)\s+(wait\s+)?([a-z0-9-]+)")
# IAM prefixes of the CLI's service names, where they differ; `aws <service> wait <waiter>` polls a Get call.
CLI_PREFIXES = {"s3api": "s3"}
CLI_WAITERS = {("cloudfront", "invalidation-completed"): "cloudfront:GetInvalidation"}


def cli_action(service: str, wait: str, command: str) -> str:
    if wait:
        return CLI_WAITERS[(service, command)]
    return f"{CLI_PREFIXES.get(service, service)}:{''.join(part.capitalize() for part in command.split('-'))}"


def test_the_roles_may_run_the_deploy_workflows_aws_commands(terraform_tree):
    """`aws cognito-idp describe-user-pool-client` in the smoke test, the CDN refresh: each call of a job is allowed to
    the role that job assumes, in every environment."""
    workflow = yaml.safe_load(DEPLOY_WORKFLOW.read_text(encoding="utf-8"))
    calls = [
        (JOB_ROLES[job_name], step.get("name", ""), cli_action(*call))
        for job_name, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        for call in AWS_CLI.findall(step.get("run", ""))
    ]
    assert ("deploy", "Smoke test the deployed API and page", "cognito-idp:DescribeUserPoolClient") in calls, calls
    documents = render_bootstrap_documents(terraform_tree, TYPICAL_INPUTS)
    roles = bootstrap_role_documents(terraform_tree, TYPICAL_INPUTS)
    refused = [
        (f"{kind}/{env}", step, action)
        for env in TYPICAL_INPUTS.environments
        for kind, step, action in calls
        if not role_may(role_actions([documents[(name, env)] for name in roles[f"{kind}/{env}"]]), action)
    ]
    assert not refused, refused


def test_action_patterns_are_matched_like_iam_does():
    """Wildcards match within the action name, case-insensitively; a Deny on every resource wins."""
    allow = {"Effect": "Allow", "Action": ["cognito-idp:Describe*", "cloudwatch:PutDashboard"], "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "cognito-idp:DescribeUserPoolClient", "Resource": "*"}
    actions = role_actions([{"Statement": [allow]}])
    assert role_may(actions, "cognito-idp:DescribeUserPool") and role_may(actions, "Cognito-IDP:describeuserpooldomain")
    assert not role_may(actions, "cognito-idp:GetGroup") and not role_may(actions, "cloudwatch:PutDashboards")
    assert not role_may(role_actions([{"Statement": [allow, deny]}]), "cognito-idp:DescribeUserPoolClient")
