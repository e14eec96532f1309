"""The IAM rules of terraform_rules.py on hand-made trees, for the cases the real tree does not contain."""

from pathlib import Path

from .terraform_rules import (
    Condition,
    Tree,
    check_deploy_roles_bounded,
    check_service_principals_scoped,
    document_conditions,
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
