"""A broken copy of each IAM guarantee of Deliver 4 (issue 12) is caught by its rule in terraform_rules.py.

Like test_broken_module.py: each test breaks one thing in a fresh copy of terraform/ and asserts that the rule reports
something new about exactly that thing, so a rule that stopped looking could not pass.
"""

import pytest

from .conftest import break_terraform, copy_terraform, new_violations, parse_terraform
from .terraform_rules import (
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
