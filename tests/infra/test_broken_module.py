"""A deliberately broken copy of terraform/ is caught: a wildcard IAM action, a missing description, bad formatting,
a route or an environment left open.

Each test breaks one thing in a fresh copy and asserts that the check for it reports something about that thing
that it does not report on the real tree, so a rule that stopped looking could not pass. The untouched copy
passes every check, so the copying and parsing are not what the broken copies trip over.
"""

import re
from pathlib import Path

import pytest

from .conftest import (
    PROJECT_ROOT,
    break_terraform,
    copy_terraform,
    new_violations,
    parse_terraform,
    run_checkov,
    terraform_fmt_check,
)
from .rules import (
    RULES,
    HandlerMetrics,
    check_api_authorization,
    check_auth_wiring,
    check_cognito_clients,
    check_handler_metrics,
    check_iam_least_privilege,
    check_lambda_policy,
    check_prod_requires_auth,
    check_variables_typed_and_described,
)

API_MODULE = Path("modules/api")
INVOKE_ENDPOINT = '"sagemaker:InvokeEndpoint"'


def break_api_module(copy: Path, pattern: str, replacement: str) -> Path:
    return break_terraform(copy, API_MODULE, pattern, replacement)


def test_unbroken_copy_passes_every_check(tmp_path):
    copy = copy_terraform(tmp_path)
    fmt = terraform_fmt_check(copy)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    tree = parse_terraform(copy)
    violations = [violation for rule in RULES for violation in rule(tree)]
    assert not violations, "\n".join(violations)


def test_wildcard_iam_action_is_caught(tmp_path, terraform_tree):
    """`sagemaker:*` on the endpoint's ARN: checkov has no check for a service-wide wildcard, the rules do."""
    copy = copy_terraform(tmp_path)
    break_api_module(copy, re.escape(INVOKE_ENDPOINT), '"sagemaker:*"')
    broken = parse_terraform(copy)
    wildcard = new_violations(check_iam_least_privilege, broken, terraform_tree)
    assert any("wildcard action 'sagemaker:*'" in violation for violation in wildcard), wildcard
    assert new_violations(check_lambda_policy, broken, terraform_tree), "the Lambda policy rule missed sagemaker:*"


def test_checkov_flags_a_full_wildcard_action(tmp_path, checkov_report):
    copy = copy_terraform(tmp_path)
    break_api_module(copy, re.escape(INVOKE_ENDPOINT), '"*"')
    report = run_checkov(copy / API_MODULE)
    known = {(c["check_id"], c["resource"]) for c in checkov_report["results"].get("failed_checks", [])}
    failed = {(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])} - known
    # CKV_AWS_49 / CKV_AWS_63 / CKV_AWS_355 ...: "*" as a statement's action, whichever way the policy is written.
    assert failed, "checkov did not flag Action '*' in the api module's policy"


def test_missing_variable_description_is_caught(tmp_path, terraform_tree):
    copy = copy_terraform(tmp_path)
    path = copy / API_MODULE / "variables.tf"
    text = path.read_text(encoding="utf-8")
    broken, count = re.subn(r'^\s*description\s*=\s*".*"\n', "", text, count=1, flags=re.MULTILINE)
    assert count == 1, f"no one-line description in {path}"
    path.write_text(broken, encoding="utf-8")
    missing = new_violations(check_variables_typed_and_described, parse_terraform(copy), terraform_tree)
    assert len(missing) == 1 and "modules/api/variables.tf" in next(iter(missing)), missing
    assert next(iter(missing)).endswith(": no description")


def test_unformatted_file_is_caught(tmp_path):
    copy = copy_terraform(tmp_path)
    # Misalign one `=` and indent its line wrongly: both are what `terraform fmt` rewrites.
    path = break_api_module(copy, r"^([ \t]+)(\w+)([ \t]*)= ", r"\1   \2 =   ")
    result = terraform_fmt_check(copy)
    assert result.returncode != 0, "terraform fmt -check accepted a misaligned, misindented attribute"
    assert str(path.relative_to(copy)) in result.stdout, result.stdout + result.stderr


# fault => (directory, pattern, replacement, the rule that must catch it, what its new violation says)
AUTH_FAULTS = {
    "scoring route left public": (
        "modules/api", r'("POST /v1/moderate" += \{ function = "scoring", scopes = )\["moderate"\]', r"\1[]",
        check_api_authorization, "'POST /v1/moderate' demands no scope",
    ),
    "routes without the authorizer": (
        "modules/api", r"^(\s*authorizer_id\s*=).*$", r"\1 null",
        check_api_authorization, "authorizer_id is not aws_apigatewayv2_authorizer.jwt",
    ),
    "authorizer trusting another issuer": (
        "modules/stack", r"module\.auth\[0\]\.user_pool_issuer_url", '"https://login.example.org"',
        check_auth_wiring, "jwt_authorizer.issuer is not module.auth[0].user_pool_issuer_url",
    ),
    "backend client without a secret": (
        "modules/auth", r"generate_secret(\s*)= true", r"generate_secret\1= false",
        check_cognito_clients, "needs generate_secret = true",
    ),
    "prod open without the override": (
        "modules/stack", r'var\.auth == "jwt" \|\| var\.environment != "prod" \|\| var\.\w+', "true",
        check_prod_requires_auth, "accepts environment=prod, auth=none, allow_unauthenticated_api=False",
    ),
    "prod open by default": (
        "envs/prod", r'(variable "auth" \{[^}]*default\s*=\s*)"jwt"', r'\1"none"',
        check_prod_requires_auth, "auth defaults to 'none' in prod",
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", AUTH_FAULTS)
def test_authentication_fault_is_caught(tmp_path, terraform_tree, fault):
    directory, pattern, replacement, rule, expected = AUTH_FAULTS[fault]
    copy = copy_terraform(tmp_path)
    break_terraform(copy, Path(directory), pattern, replacement)
    caught = new_violations(rule, parse_terraform(copy), terraform_tree)
    assert any(expected in violation for violation in caught), caught


def test_a_metric_renamed_in_the_monitoring_module_alone_is_caught(tmp_path):
    """FlaggedTexts renamed in the dashboard and the alarm, and Requests graphed for another Service: caught."""
    copy = copy_terraform(tmp_path)
    main = copy / "modules" / "monitoring" / "main.tf"
    text = main.read_text(encoding="utf-8")
    requests = '"Requests", "Service", var.metrics_service'
    assert text.count('"FlaggedTexts"') >= 2 and requests in text, (
        "the monitoring module changed shape: update this test"
    )
    text = text.replace('"FlaggedTexts"', '"FlaggedComments"').replace(requests, '"Requests", "Service", var.name')
    main.write_text(text, encoding="utf-8")
    metrics = HandlerMetrics.read(PROJECT_ROOT / "lambda")
    violations = "\n".join(check_handler_metrics(parse_terraform(copy), metrics))
    unknown = "aws_cloudwatch_dashboard.this: metric 'FlaggedComments', which lambda/ does not emit"
    assert unknown in violations
    assert "aws_cloudwatch_metric_alarm.flagged_share_anomaly: metric 'FlaggedComments'" in violations
    assert "does not show 'FlaggedTexts'" in violations
    assert "metric 'Requests' with dimensions ('Service', '${var.name}')" in violations
