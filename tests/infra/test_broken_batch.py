"""A broken copy of each guarantee of batch scoring (issue 14) is caught by its rule in rules/batch.py or, for the
permissions boundary, the service principals and the deploy roles, rules/iam.py and rules/bootstrap.py.

Like test_broken_module.py: each test breaks one thing in a fresh copy of terraform/ and asserts that the rule reports
something new about exactly that thing, so a rule that stopped looking could not pass.
"""

from pathlib import Path

import pytest

from .conftest import break_terraform, copy_terraform, new_violations, parse_terraform
from .rules import (
    check_batch_bucket,
    check_batch_outputs,
    check_boundary_allows_transform_role,
    check_operator_policy,
    check_roles_carry_permissions_boundary,
    check_roles_cover_stack_resources,
    check_service_principals_scoped,
    check_transform_role,
)

MODULE = "modules/batch_transform"
BATCH = "arn:aws:s3:::toxiguard-dev-batch-123456789012"
ARTIFACTS = "arn:aws:s3:::toxiguard-dev-artifacts-123456789012"
KEYS = "arn:aws:kms:eu-west-1:123456789012:key/*"


def statement(sid: str) -> str:
    """A pattern from the statement's sid to the rest of the pattern (group 1 holds what it passed over)."""
    return rf'(?s)(sid\s*=\s*"{sid}".*?)'


def condition_block(variable: str) -> str:
    """A pattern for one `condition` block (and the blank line before it) on that condition key."""
    return rf'\n\n    condition \{{\n      test     = "\w+"\n      variable = "{variable}"\n.*?\n    \}}\n'


# fault => (directory, pattern, replacement, the rule that must catch it, what its new violation says)
FAULTS = {
    # The transform role: read only input/ and the model archives, write only output/, keys only through S3.
    "role reads output/": (
        MODULE, statement("ReadBatchInput") + r"local\.input_prefix", r"\1local.output_prefix",
        check_transform_role, f"may s3:GetObject on '{BATCH}/output/*', which it does not need",
    ),
    "role writes input/": (
        MODULE, statement("WriteBatchOutput") + r"local\.output_prefix", r"\1local.input_prefix",
        check_transform_role, f"may s3:PutObject on '{BATCH}/input/*', which it does not need",
    ),
    "role lists the whole batch bucket": (
        MODULE, statement("ListBatchInput") + condition_block("s3:prefix"), "\\1\n",
        check_transform_role, f"may s3:ListBucket on '{BATCH}' under conditions [{{}}]",
    ),
    "role reads the whole artifact bucket": (
        MODULE, r"/models/\*/model\.tar\.gz", "/*",
        check_transform_role, f"may s3:GetObject on '{ARTIFACTS}/*', which it does not need",
    ),
    "keys usable outside S3": (
        MODULE, r'variable = "kms:ViaService"', 'variable = "kms:CallerAccount"',
        check_transform_role, f"may kms:Decrypt on '{KEYS}' under conditions",
    ),
    "keys for any bucket's objects": (
        MODULE, statement("UseBucketKeysThroughS3") + condition_block("kms:EncryptionContext:aws:s3:arn"), "\\1\n",
        check_transform_role, f"may kms:GenerateDataKey on '{KEYS}' under conditions",
    ),
    "role for any account's SageMaker": (
        MODULE, r'"aws:SourceAccount"', '"aws:PrincipalTag/Team"',
        check_transform_role, "trust policy is",
    ),
    "role writes other environments' logs": (
        MODULE, r"log-stream:\$\{local\.name_prefix\}-\*", "log-stream:*",
        check_transform_role, "may logs:PutLogEvents on",
    ),
    "role without the boundary": (
        MODULE, r"^ *permissions_boundary *= *var\.permissions_boundary\n", "",
        check_roles_carry_permissions_boundary, "aws_iam_role.transform",
    ),
    "stack forgets the boundary": (
        "modules/stack",
        r'(?s)(module "batch_transform" \{.*?)\n *permissions_boundary *= *var\.permissions_boundary_arn', r"\1",
        check_roles_carry_permissions_boundary, "module.batch_transform: permissions_boundary is not",
    ),
    # The operator policy: the stack's models and jobs, the transform role to SageMaker only, the batch prefixes.
    "operator passes any role": (
        MODULE, r"resources = \[aws_iam_role\.transform\.arn\]",
        'resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]',
        check_operator_policy, "may iam:PassRole on 'arn:aws:iam::123456789012:role/*'",
    ),
    "operator passes the role to any service": (
        MODULE, statement("PassTransformRole") + condition_block("iam:PassedToService"), "\\1\n",
        check_operator_policy, "may iam:PassRole on 'arn:aws:iam::123456789012:role/toxiguard-dev-sagemaker-transform' "
        "under conditions [{}]",
    ),
    "operator starts any transform job": (
        MODULE, r"transform-job/\$\{local\.name_prefix\}-\*", "transform-job/*",
        check_operator_policy, "may sagemaker:CreateTransformJob on "
        "'arn:aws:sagemaker:eu-west-1:123456789012:transform-job/*'",
    ),
    "operator deletes objects": (
        MODULE, r'actions   = \["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"\]',
        'actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]',
        check_operator_policy, f"may s3:DeleteObject on '{BATCH}/input/*'",
    ),
    "operator policy attached by Terraform": (
        MODULE, r'^(resource "aws_iam_policy" "operator" \{)',
        'resource "aws_iam_user_policy_attachment" "operator" {\n  user       = "someone"\n'
        '  policy_arn = aws_iam_policy.operator.arn\n}\n\n\\1',
        check_operator_policy, "aws_iam_user_policy_attachment.operator: attaches a policy",
    ),
    # The bucket: private_bucket's, SSE-KMS under aws/s3, comment text expiring.
    "bucket under SSE-S3": (
        MODULE, r"^(  bucket_name   = var\.bucket_name\n)", '\\1  sse_algorithm = "AES256"\n',
        check_batch_bucket, "sse_algorithm is 'AES256', not aws:kms",
    ),
    "output/ never expires": (
        MODULE, r"^ *\(local\.output_prefix\) = var\.object_expiration_days\n", "",
        check_batch_bucket, "expiration_days_by_prefix expires ['input/']",
    ),
    "output/ kept a year whatever the input says": (
        MODULE, r"(\(local\.output_prefix\) = )var\.object_expiration_days", r"\g<1>365",
        check_batch_bucket, "after ['${var.object_expiration_days}', '365']",
    ),
    "expired comments kept as old versions": (
        MODULE, r"^ *noncurrent_version_expiration_days *= 1\n", "",
        check_batch_bucket, "noncurrent_version_expiration_days is None, not 1",
    ),
    # The outputs toxiguard score --cloud reads.
    "prod root without batch_output_uri": (
        "envs/prod", r'(?s)output "batch_output_uri" \{.*?\n\}\n', "",
        check_batch_outputs, "envs/prod: output 'batch_output_uri' is None",
    ),
    "stack hands out the endpoint's role": (
        "modules/stack", r"module\.batch_transform\.transform_role_arn", "module.model_endpoint.execution_role_arn",
        check_batch_outputs, "output 'transform_role_arn' is '${module.model_endpoint.execution_role_arn}'",
    ),
    "serving_image_uri is not the endpoint's image": (
        "modules/stack",
        r"(value += )module\.model_endpoint\.image_registry_path", r"\1module.model_endpoint.model_name",
        check_batch_outputs, "output 'serving_image_uri' is '${module.model_endpoint.model_name}'",
    ),
    "input prefix renamed in the module alone": (
        MODULE, r'input_prefix  = "input/"', 'input_prefix  = "in/"',
        check_batch_outputs, "output 'input_uri' renders to 's3://toxiguard-dev-batch-123456789012/in/'",
    ),
    "batch_kms_key_arn names another key": (
        MODULE, r"alias/aws/s3", "alias/toxiguard",
        check_batch_outputs, "output 'kms_key_arn' renders to 'arn:aws:kms:eu-west-1:123456789012:alias/toxiguard'",
    ),
    # The bootstrap: the boundary lets the transform role through, the deploy role manages the operator policy.
    "boundary without the output write": (
        "bootstrap", r'(?s)\n  statement \{\n    sid       = "WriteOwnBatchOutput".*?\n  \}\n', "\n",
        check_boundary_allows_transform_role, f"does not let modules/batch_transform's aws_iam_role.transform "
        f"s3:PutObject on '{BATCH}/output/*'",
    ),
    "boundary decrypts only": (
        "bootstrap", r'actions   = \["kms:Decrypt", "kms:GenerateDataKey"\]', 'actions   = ["kms:Decrypt"]',
        check_boundary_allows_transform_role, f"kms:GenerateDataKey on '{KEYS}'",
    ),
    "boundary without the transform jobs' metrics": (
        "bootstrap", r'values   = \["/aws/sagemaker/Endpoints", "/aws/sagemaker/TransformJobs"\]',
        'values   = ["/aws/sagemaker/Endpoints"]',
        check_boundary_allows_transform_role, "cloudwatch:PutMetricData on '*'",
    ),
    "batch bucket renamed in the stack alone": (
        "modules/stack", r'"\$\{local\.name\}-batch-', '"${local.name}-batches-',
        check_boundary_allows_transform_role,
        "s3:GetObject on 'arn:aws:s3:::toxiguard-dev-batches-123456789012/input/*'",
    ),
    "deploy role cannot update the operator policy": (
        "bootstrap", statement("IamPoliciesWrite") + r'\n\s*"iam:SetDefaultPolicyVersion",', r"\1",
        check_roles_cover_stack_resources, "may not ['iam:SetDefaultPolicyVersion'] (aws_iam_policy",
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_batch_scoring_fault_is_caught(tmp_path, terraform_tree, fault):
    directory, pattern, replacement, rule, expected = FAULTS[fault]
    copy = copy_terraform(tmp_path)
    break_terraform(copy, Path(directory), pattern, replacement)
    caught = new_violations(rule, parse_terraform(copy), terraform_tree)
    assert any(expected in violation for violation in caught), caught


def test_the_transform_trust_without_source_account_is_caught_by_the_principal_rule(tmp_path, terraform_tree):
    """The confused-deputy rule every service principal answers to holds for the transform role too."""
    copy = copy_terraform(tmp_path)
    break_terraform(copy, Path(MODULE), r'"aws:SourceAccount"', '"aws:PrincipalTag/Team"')
    caught = new_violations(check_service_principals_scoped, parse_terraform(copy), terraform_tree)
    assert any("SageMakerAssumeRole" in violation and MODULE in violation for violation in caught), caught
