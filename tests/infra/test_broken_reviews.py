"""A broken copy of each guarantee of the review queue (issue 13) is caught by its rule in rules/reviews.py or, for
what the functions' roles may do, rules/iam.py.

Like test_broken_module.py: each test breaks one thing in a fresh copy of terraform/ and asserts that the rule reports
something new about exactly that thing, so a rule that stopped looking could not pass.
"""

from pathlib import Path

import pytest

from .conftest import break_terraform, copy_terraform, new_violations, parse_terraform, run_checkov
from .rules import (
    check_lambda_policy,
    check_review_alarms,
    check_review_functions,
    check_review_routes,
    check_reviews_table,
)

TABLE_MODULE = "modules/reviews_table"

# fault => (directory, pattern, replacement, the rule that must catch it, what its new violation says)
FAULTS = {
    # The table as lambda/review_store.py expects it.
    "table without point-in-time recovery": (
        TABLE_MODULE, r"(point_in_time_recovery \{\n\s*enabled\s*=) true", r"\1 false",
        check_reviews_table, "point_in_time_recovery.enabled is False",
    ),
    "table under the AWS owned key": (
        TABLE_MODULE, r"^\s*kms_key_arn = aws_kms_key\.table\.arn\n", "",
        check_reviews_table, "not encrypted with a customer managed key",
    ),
    "table key never rotated": (
        TABLE_MODULE, r"enable_key_rotation = true", "enable_key_rotation = false",
        check_reviews_table, "enable_key_rotation is not true",
    ),
    "TTL on another attribute": (
        TABLE_MODULE, r'ttl_attribute  = "expires_at"', 'ttl_attribute  = "expiry"',
        check_reviews_table, "ttl.attribute_name is 'expiry'",
    ),
    "index renamed": (
        TABLE_MODULE, r'index_name     = "status-created"', 'index_name     = "by-status"',
        check_reviews_table, "global_secondary_index.name is 'by-status'",
    ),
    "index sorted by another attribute": (
        TABLE_MODULE, r'index_sort_key = "created_key"', 'index_sort_key = "created_at"',
        check_reviews_table, "global_secondary_index.range_key is 'created_at'",
    ),
    "prod table without deletion protection": (
        "envs/prod", r"reviews_deletion_protection = true", "reviews_deletion_protection = false",
        check_reviews_table, "reviews_deletion_protection is False in prod",
    ),
    "api given another table": (
        "modules/stack", r"module\.reviews_table\.table_arn", '"arn:aws:dynamodb:eu-west-1:123456789012:table/other"',
        check_reviews_table, "reviews_table.table_arn is not module.reviews_table.table_arn",
    ),
    # What each function's role may do.
    "scoring role reads the queue": (
        "modules/api", r'actions   = \["dynamodb:PutItem"\]', 'actions   = ["dynamodb:PutItem", "dynamodb:GetItem"]',
        check_lambda_policy, "the scoring function's role may dynamodb:GetItem",
    ),
    "reviews role creates items": (
        "modules/api", r'"dynamodb:GetItem", "dynamodb:UpdateItem"',
        '"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"',
        check_lambda_policy, "the reviews function's role may dynamodb:PutItem",
    ),
    "reviews role queries the table, not its index": (
        "modules/api", r"resources = \[var\.reviews_table\.index_arn\]", "resources = [var.reviews_table.table_arn]",
        check_lambda_policy, "may dynamodb:Query on '${var.reviews_table.table_arn}'",
    ),
    "table key usable outside DynamoDB": (
        "modules/api", r'variable = "kms:ViaService"', 'variable = "kms:CallerAccount"',
        check_lambda_policy, "KMS not only through DynamoDB",
    ),
    # Routes and functions.
    "review route open to scoring tokens": (
        "modules/api", r'("GET /v1/reviews" +=.*scopes = )\["review"\]', r'\1["moderate", "review"]',
        check_review_routes, "'GET /v1/reviews' accepts ['moderate', 'review'], not the review scope alone",
    ),
    "decisions sent to the scoring function": (
        "modules/api", r'("POST /v1/reviews/\{id\}/decision" = \{ function = )"reviews"', r'\1"scoring"',
        check_review_routes, "'POST /v1/reviews/{id}/decision' goes to 'scoring', not the reviews function",
    ),
    "reviews function without its table": (
        "modules/api", r"^\s*REVIEWS_TABLE   = var\.reviews_table\.table_name\n", "",
        check_review_functions, "the reviews function's environment is",
    ),
    "reviews function on the scoring entry point": (
        "modules/api", r'(handler += )"reviews\.lambda_handler"', r'\1"handler.lambda_handler"',
        check_review_functions, "'reviews': 'handler.lambda_handler'",
    ),
    # Alarms.
    "no alarm on the table's system errors": (
        TABLE_MODULE, r'metric_name = "SystemErrors"', 'metric_name = "UserErrors"',
        check_review_alarms, "no alarm on SystemErrors",
    ),
    "table alarms notify nobody": (
        "modules/stack", r"alarm_topic_arn = module\.monitoring\.sns_topic_arn", "alarm_topic_arn = null",
        check_review_alarms, "alarm_topic_arn is not module.monitoring.sns_topic_arn",
    ),
    "lost review items noticed an hour late": (
        "modules/monitoring", r"review_period_seconds = 300", "review_period_seconds = 3600",
        check_review_alarms, "period is 3600, not 300",
    ),
    "reviews function's errors unwatched": (
        "modules/monitoring", r'("reviews-lambda" = var\.)reviews_function_name', r"\1lambda_function_name",
        check_review_alarms, "no alarms for var.reviews_function_name",
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_review_queue_fault_is_caught(tmp_path, terraform_tree, fault):
    directory, pattern, replacement, rule, expected = FAULTS[fault]
    copy = copy_terraform(tmp_path)
    break_terraform(copy, Path(directory), pattern, replacement)
    caught = new_violations(rule, parse_terraform(copy), terraform_tree)
    assert any(expected in violation for violation in caught), caught


def test_checkov_flags_the_table_without_point_in_time_recovery(tmp_path):
    """checkov's own check agrees with the rule: CKV_AWS_28 on the table once recovery is off."""
    copy = copy_terraform(tmp_path)
    directory, pattern, replacement, *_ = FAULTS["table without point-in-time recovery"]
    break_terraform(copy, Path(directory), pattern, replacement)
    report = run_checkov(copy / TABLE_MODULE)
    failed = {(check["check_id"], check["resource"]) for check in report["results"].get("failed_checks", [])}
    assert ("CKV_AWS_28", "aws_dynamodb_table.this") in failed, failed
