"""The structural rules of rules/ hold on terraform/ (python-hcl2; `terraform validate` needs a provider).

Also a few rules on hand-made trees, for the cases the real tree does not contain.
"""

import dataclasses
from pathlib import Path

import pytest

from toxiguard.serving.local.auth import RESOURCE_SERVER, ROUTE_SCOPES

from .conftest import PROJECT_ROOT
from .rules import (
    RULES,
    HandlerMetrics,
    Tree,
    api_route_table,
    check_handler_metrics,
    check_iam_least_privilege,
    evaluate_condition,
)

LAMBDA_DIR = PROJECT_ROOT / "lambda"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__.removeprefix("check_"))
def test_rule_holds(terraform_tree, rule):
    violations = rule(terraform_tree)
    assert not violations, f"{rule.__doc__.splitlines()[0]}\n" + "\n".join(violations)


def test_the_local_gateway_authorizes_the_routes_the_api_module_declares(terraform_tree):
    """One route table in two languages: the local authorizer's (Python) and API Gateway's (Terraform)."""
    declared = {
        key: {f"{RESOURCE_SERVER}/{name}" for name in route["scopes"]}
        for key, (_, route) in api_route_table(terraform_tree).items()
    }
    assert declared == {key: set(scopes) for key, scopes in ROUTE_SCOPES.items()}


def policy_tree(*statements: dict, key_policy: bool = False) -> Tree:
    document = {"data": [{"aws_iam_policy_document": {"this": {"statement": list(statements)}}}]}
    if key_policy:
        document["resource"] = [{"aws_kms_key": {"this": {"policy": "${data.aws_iam_policy_document.this.json}"}}}]
    return Tree(root=Path("/nonexistent"), documents={"modules/x/main.tf": document})


def test_resource_wildcard_only_for_allowlisted_actions():
    assert check_iam_least_privilege(policy_tree({"actions": ["ecr:GetAuthorizationToken"], "resources": ["*"]})) == []
    violations = check_iam_least_privilege(policy_tree({"actions": ["s3:GetObject"], "resources": ["*"]}))
    assert len(violations) == 1 and "'s3:GetObject' on Resource '*' (not in the allowlist)" in violations[0]


def test_put_metric_data_needs_its_namespace_condition():
    statement = {"actions": ["cloudwatch:PutMetricData"], "resources": ["*"]}
    assert "without a cloudwatch:namespace condition" in check_iam_least_privilege(policy_tree(statement))[0]
    condition = [{"test": "StringEquals", "variable": "cloudwatch:namespace", "values": ["toxiguard"]}]
    assert check_iam_least_privilege(policy_tree({**statement, "condition": condition})) == []


def test_deny_statements_may_use_wildcards():
    tls_only = {"effect": "Deny", "actions": ["s3:*"], "resources": ["${aws_s3_bucket.this.arn}/*"]}
    assert check_iam_least_privilege(policy_tree(tls_only)) == []


def test_inline_jsonencode_policies_are_read():
    policy = {"__jsonencode__": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}]}}
    tree = Tree(
        Path("/nonexistent"), {"modules/x/main.tf": {"resource": [{"aws_iam_policy": {"p": {"policy": policy}}}]}}
    )
    assert check_iam_least_privilege(tree) == ["modules/x/main.tf: aws_iam_policy.p.policy: wildcard action 's3:*'"]


def test_key_policies_may_delegate_to_the_account_only():
    root = {"type": "AWS", "identifiers": ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]}
    delegation = {"actions": ["kms:*"], "resources": ["*"], "principals": [root]}
    assert check_iam_least_privilege(policy_tree(delegation, key_policy=True)) == []
    assert check_iam_least_privilege(policy_tree(delegation)), "kms:* outside a key policy passed"
    service = {"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}
    data_keys = {"actions": ["kms:GenerateDataKey*"], "resources": ["*"], "principals": [service]}
    assert check_iam_least_privilege(policy_tree(data_keys, key_policy=True)) == [
        "modules/x/main.tf: data.aws_iam_policy_document.this: wildcard action 'kms:GenerateDataKey*'"
    ]


@pytest.mark.parametrize(
    ("action", "allowed"),
    [("sagemaker:Describe*", True), ("s3:Get*", True), ("s3:List*", True), ("s3:Put*", False),
     ("s3:*", False), ("*", False), ("kms:GenerateDataKey*", False)],
)  # fmt: skip
def test_only_read_only_actions_may_end_in_a_wildcard(action, allowed):
    violations = check_iam_least_privilege(policy_tree({"actions": [action], "resources": ["arn:aws:s3:::b/*"]}))
    assert (violations == []) is allowed, violations


@pytest.mark.parametrize(
    ("condition", "expected"),
    [('${var.auth == "jwt" || var.environment != "prod" || var.allow}', False),
     ('${var.auth == "jwt" || var.environment != "prod" || !var.allow}', True),
     ('${!(var.environment == "prod" && var.auth == "none") || var.allow}', False),
     ('${var.auth != "none" && var.environment == "prod"}', False),
     ("${contains([\"jwt\", \"none\"], var.auth)}", None),
     (True, True)],
)  # fmt: skip
def test_validation_conditions_are_evaluated_with_hcl_precedence(condition, expected):
    """The prod guard is checked by evaluating it: == binds tighter than &&, && than ||; other forms give None."""
    values = {"auth": "none", "environment": "prod", "allow": False}
    assert evaluate_condition(condition, values) is expected


def test_the_dashboard_and_the_flag_rate_alarm_use_exactly_the_handlers_metrics(terraform_tree):
    metrics = HandlerMetrics.read(LAMBDA_DIR)
    assert {"Requests", "FlaggedTexts", "TextsScored"} <= metrics.names and metrics.flag_prefix == "Flags_"
    violations = check_handler_metrics(terraform_tree, metrics)
    assert not violations, "\n".join(violations)


def test_a_metric_renamed_in_the_handler_alone_is_caught(terraform_tree):
    """As if the functions renamed HealthProbeCalls and added a metric: the dashboard lags behind both."""
    metrics = HandlerMetrics.read(LAMBDA_DIR)
    renamed = dataclasses.replace(metrics, names=(metrics.names - {"HealthProbeCalls"}) | {"EndpointProbes"})
    violations = check_handler_metrics(terraform_tree, renamed)
    assert any("'HealthProbeCalls', which lambda/ does not emit" in violation for violation in violations)
    assert any("does not show 'EndpointProbes'" in violation for violation in violations), violations


def test_another_namespace_in_the_handler_is_caught(terraform_tree):
    metrics = dataclasses.replace(HandlerMetrics.read(LAMBDA_DIR), namespace="moderation")
    assert "the handler's namespace is 'moderation'" in "\n".join(check_handler_metrics(terraform_tree, metrics))
