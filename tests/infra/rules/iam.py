"""IAM: least privilege in every policy of terraform/, and what the bootstrap's roles may and may not do.

No Allow statement grants a wildcard action (but read-only ones), NotAction, or Resource "*" outside an allowlist, and
each API function may do only what its routes need (invoke the endpoint, its half of the review table) and write its
own logs. Every role of the modules carries the environment's
permissions boundary; the deploy roles give permissions only under it, can take it off no role and rewrite no policy
of the bootstrap. Resources with generated IDs (API Gateway, CloudFront, Application Auto Scaling, Cognito user pools)
are told apart by their Environment tag only, so the bootstrap's per-environment statements are conditioned on it.
Every statement letting an AWS service in names the account or resource it acts for (confused deputy).

The rules here read the policies as parsed (Statement); bootstrap.py renders the bootstrap's documents as IAM sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .tree import ENVIRONMENTS, Tree, as_list, first, missing_module, module_dir, resolve_local, stack_module_calls

# What each API function's role may do besides writing its own log group, action => the one resource it may do it on
# (as modules/api writes it): the scoring function invokes the endpoint and only adds items to the review queue; the
# reviews function reads the queue through its index and reads and decides single items. Both use the table's key,
# only through DynamoDB (KMS statements need kms:ViaService = dynamodb.<region>.amazonaws.com).
TABLE_KEY = "${var.reviews_table.kms_key_arn}"
TABLE_KEY_GRANTS = dict.fromkeys(("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"), TABLE_KEY)
LAMBDA_GRANTS = {
    "scoring": {
        "sagemaker:InvokeEndpoint": "${var.endpoint_arn}",
        "dynamodb:PutItem": "${var.reviews_table.table_arn}",
        **TABLE_KEY_GRANTS,
    },
    "reviews": {
        "dynamodb:Query": "${var.reviews_table.index_arn}",
        "dynamodb:GetItem": "${var.reviews_table.table_arn}",
        "dynamodb:UpdateItem": "${var.reviews_table.table_arn}",
        **TABLE_KEY_GRANTS,
    },
}
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")

# Allow statements may name Resource "*" only for these actions, which support no resource-level permissions.
# Value: the condition key the statement must then constrain (None: the action cannot be narrowed at all).
RESOURCE_WILDCARD_ALLOWLIST: dict[str, str | None] = {
    # ECR registry login: the token is per registry, IAM has no resource for it.
    "ecr:GetAuthorizationToken": None,
    # CloudWatch metrics have no ARN; the namespace condition keeps a role to its own metrics.
    "cloudwatch:PutMetricData": "cloudwatch:namespace",
    # The bootstrap's CI roles (Terraform refreshes and manages these; none has a resource type):
    # Application Auto Scaling reads, CloudFront's global reads, the alarm e-mail subscription, KMS aliases,
    # the vended-log deliveries behind the HTTP API's access logs, and Cognito's user pool domains.
    "application-autoscaling:DescribeScalableTargets": None,
    "application-autoscaling:DescribeScalingPolicies": None,
    "application-autoscaling:DescribeScalingActivities": None,
    "cloudfront:Get*": None,
    "cloudfront:List*": None,
    "sns:GetSubscriptionAttributes": None,
    "sns:SetSubscriptionAttributes": None,
    "sns:Unsubscribe": None,
    "kms:ListAliases": None,
    "logs:CreateLogDelivery": None,
    "logs:GetLogDelivery": None,
    "logs:UpdateLogDelivery": None,
    "logs:DeleteLogDelivery": None,
    "logs:ListLogDeliveries": None,
    "logs:PutResourcePolicy": None,
    "logs:DescribeResourcePolicies": None,
    # A new KMS key has no ARN yet: creating (and tagging) one is allowed only with the environment's tag.
    "kms:CreateKey": "aws:RequestTag/Environment",
    "kms:TagResource": "aws:RequestTag/Environment",
    # Likewise a new Cognito user pool (CreateUserPool has no resource type, but takes aws:RequestTag).
    "cognito-idp:CreateUserPool": "aws:RequestTag/Environment",
    # A user pool domain is looked up by its name alone: no resource type, no condition key.
    "cognito-idp:DescribeUserPoolDomain": None,
}

# Wildcards are allowed in read-only actions only (what `terraform plan` refreshes): "sagemaker:Describe*".
READ_ONLY_WILDCARD = re.compile(r"^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*\*$")

# The deploy roles may give a role permissions only with the environment's permissions boundary on it: these actions
# need an iam:PermissionsBoundary condition naming the bootstrap's boundary policy.
BOUNDARY_POLICY = "aws_iam_policy.permissions_boundary"
BOUNDARY_GATED_ACTIONS = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
)
# What would undo the boundary: taking it off a role, or rewriting the policy (denied for every bootstrap policy).
BOUNDARY_REMOVAL = "iam:DeleteRolePermissionsBoundary"
POLICY_REWRITE_ACTIONS = (
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:DeletePolicy",
)
# A role under the boundary must not make, change or become another principal.
BOUNDARY_FORBIDDEN_SERVICES = ("iam", "sts", "organizations")

# Services whose resources have generated IDs, so that only their tags can tell environments apart: every deploy
# statement writing to them is conditioned on the environment's Environment tag, or its sid ends in ACCOUNT_WIDE and
# a comment right above the statement cites AWS's documentation for why no condition applies.
GENERATED_ID_SERVICES = ("apigateway", "cloudfront", "application-autoscaling")
ACCOUNT_WIDE = "AccountWide"
ENVIRONMENT_TAG_KEYS = ("aws:ResourceTag/Environment", "aws:RequestTag/Environment")
THIS_ENVIRONMENT = ("${each.key}",)  # in a bootstrap document made per environment (for_each over the scopes)
# Tags the env roots put on everything (provider default_tags), which those conditions rely on.
ENVIRONMENT_DEFAULT_TAGS = {"Project": "${var.project}", "Environment": "${local.environment}"}

# A statement letting an AWS service in must say for which account or resource it acts (confused deputy).
SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn")
READ_ACTION = re.compile(r"^([a-z0-9-]+:(Describe|Get|List)\w*\*?|apigateway:GET)$")


@dataclass(frozen=True)
class Condition:
    test: str  # StringEquals, ArnLike, ForAllValues:StringNotEquals, ...
    variable: str  # the condition key as written (IAM compares keys case-insensitively)
    values: tuple


@dataclass(frozen=True)
class Statement:
    where: str
    effect: str
    actions: list
    not_actions: list
    resources: list
    conditions: tuple
    principals: set
    key_policy: bool  # the policy of an aws_kms_key, where Resource "*" means that key
    sid: str = ""
    file: str = ""  # path relative to terraform/
    per_environment: bool = False  # a bootstrap document made once per environment (for_each over the scopes)

    def conditions_on(self, key: str) -> list[Condition]:
        return [condition for condition in self.conditions if condition.variable.lower() == key.lower()]


def document_conditions(statement: dict) -> tuple:
    """An aws_iam_policy_document statement's conditions: `condition` blocks, and `dynamic "condition"` blocks over a
    literal map (`for_each = { "aws:RequestTag/Project" = var.project, ... }`) expanded into one per entry. A dynamic
    block over anything else is kept as its template (the keys it makes are not known without evaluating it)."""
    conditions = [condition_of(block) for block in as_list(statement.get("condition"))]
    for entry in as_list(statement.get("dynamic")):
        if "condition" in entry:
            template, for_each = first(entry["condition"], "content"), entry["condition"].get("for_each")
            items = for_each.items() if isinstance(for_each, dict) else [(None, None)]
            conditions += [condition_of(template, key, value) for key, value in items]
    return tuple(conditions)


def condition_of(block: dict, key: str | None = None, value: str | None = None) -> Condition:
    """A condition block, with a dynamic block's `condition.key` and `condition.value` filled in when given."""

    def fill(text) -> str:
        text = str(text)
        return text if key is None else text.replace("${condition.key}", key).replace("${condition.value}", str(value))

    return Condition(
        fill(block.get("test", "")), fill(block.get("variable", "")), tuple(map(fill, as_list(block.get("values"))))
    )


def json_conditions(statement: dict) -> tuple:
    """A JSON policy statement's Condition ({"StringEquals": {"aws:SourceAccount": "..."}}) as Conditions."""
    return tuple(
        Condition(test, key, tuple(as_list(values)))
        for test, keys in statement.get("Condition", {}).items()
        for key, values in keys.items()
    )


def principal_identifiers(principal) -> set[str]:
    """A JSON policy's Principal ("*", {"AWS": ...}, {"Service": [...]}) as a set of identifiers."""
    if isinstance(principal, dict):
        return {identifier for value in principal.values() for identifier in as_list(value)}
    return set(as_list(principal))


def policy_statements(tree: Tree, directory: str | None = None) -> Iterator[Statement]:
    """Every statement of every aws_iam_policy_document and of every literal jsonencode'd policy attribute."""
    key_policy_documents = {
        f"data.aws_iam_policy_document.{name}"
        for key in tree.blocks("resource", "aws_kms_key", directory)
        for name in re.findall(r"data\.aws_iam_policy_document\.(\w+)", str(key.body.get("policy", "")))
    }
    for document in tree.blocks("data", "aws_iam_policy_document", directory):
        dynamic_statements = [
            first(dynamic, "content")
            for entry in as_list(document.body.get("dynamic"))
            for name, dynamic in entry.items()
            if name == "statement"
        ]
        for statement in as_list(document.body.get("statement")) + dynamic_statements:
            yield Statement(
                where=document.where(),
                effect=statement.get("effect", "Allow"),
                actions=as_list(resolve_local(tree, document.directory, statement.get("actions"))),
                not_actions=as_list(statement.get("not_actions")),
                resources=as_list(statement.get("resources")) + as_list(statement.get("not_resources")),
                conditions=document_conditions(statement),
                principals={
                    identifier
                    for principals in as_list(statement.get("principals"))
                    for identifier in as_list(principals.get("identifiers"))
                },
                key_policy=document.address in key_policy_documents,
                sid=str(statement.get("sid", "")),
                file=document.file,
                per_environment="for_each" in document.body,
            )
    for resource in tree.blocks("resource", directory=directory):
        for attribute in ("policy", "assume_role_policy"):
            value = resource.body.get(attribute)
            if not isinstance(value, dict) or "__jsonencode__" not in value:
                continue
            for statement in as_list(value["__jsonencode__"].get("Statement")):
                yield Statement(
                    where=f"{resource.where()}.{attribute}",
                    effect=statement.get("Effect", "Allow"),
                    actions=as_list(statement.get("Action")),
                    not_actions=as_list(statement.get("NotAction")),
                    resources=as_list(statement.get("Resource")) + as_list(statement.get("NotResource")),
                    conditions=json_conditions(statement),
                    principals=principal_identifiers(statement.get("Principal")),
                    key_policy=resource.type == "aws_kms_key",
                    sid=str(statement.get("Sid", "")),
                    file=resource.file,
                )


def delegates_to_account(statement: Statement) -> bool:
    """AWS's default key policy statement: the account root may do kms:* on the key, i.e. IAM policies decide."""
    return (
        statement.key_policy
        and bool(statement.principals)
        and all(re.fullmatch(r"arn:[^:]+:iam::[^:]+:root", principal) for principal in statement.principals)
    )


def check_iam_least_privilege(tree: Tree) -> list[str]:
    """No Allow statement grants a wildcard action (but read-only ones), NotAction, or Resource "*" outside the
    allowlist above.

    Deny statements may use wildcards: they only narrow (private_bucket's TLS-only policy denies s3:*).
    In a KMS key policy Resource "*" is the key itself, and the account root's kms:* is AWS's default statement
    that hands the key's permissions to IAM; any other statement there still names its actions exactly.
    """
    violations = []
    for statement in policy_statements(tree):
        if statement.effect != "Allow" or delegates_to_account(statement):
            continue
        violations += [
            f"{statement.where}: wildcard action {action!r}"
            for action in statement.actions
            if "*" in action and not READ_ONLY_WILDCARD.match(action)
        ]
        if statement.not_actions:
            violations.append(f"{statement.where}: Allow with NotAction {statement.not_actions}")
        if "*" in statement.resources and not statement.key_policy:
            for action in statement.actions:
                if action not in RESOURCE_WILDCARD_ALLOWLIST:
                    violations.append(f"{statement.where}: {action!r} on Resource '*' (not in the allowlist)")
                elif (key := RESOURCE_WILDCARD_ALLOWLIST[action]) and not statement.conditions_on(key):
                    violations.append(f"{statement.where}: {action!r} on Resource '*' without a {key} condition")
    return violations


def is_trust_policy(statement: Statement) -> bool:
    return bool(statement.actions) and all(action.startswith("sts:AssumeRole") for action in statement.actions)


def function_policy_statements(tree: Tree) -> dict[str, list[Statement]]:
    """The Allow statements of each API function's role, by function key: the role policy's document for that key
    (`policy = {scoring = data.aws_iam_policy_document.scoring.json, ...}[each.key]`), with the statements of the
    documents it takes in through source_policy_documents."""
    api = module_dir("api")
    by_document: dict[str, list[Statement]] = {}
    for statement in policy_statements(tree, api):
        if statement.effect == "Allow" and not is_trust_policy(statement):
            by_document.setdefault(statement.where.rpartition(".")[2], []).append(statement)
    document_reference = r"data\.aws_iam_policy_document\.(\w+)\.json"
    sources = {
        document.name: re.findall(document_reference, str(document.body.get("source_policy_documents")))
        for document in tree.blocks("data", "aws_iam_policy_document", api)
    }

    def statements(document: str) -> list[Statement]:
        return by_document.get(document, []) + [s for source in sources.get(document, []) for s in statements(source)]

    functions: dict[str, list[Statement]] = {}
    for policy in tree.resources("aws_iam_role_policy", api):
        for key, document in re.findall(rf"(\w+)\s*=\s*{document_reference}", str(policy.body.get("policy"))):
            functions[key] = statements(document)
    return functions


def check_lambda_policy(tree: Tree) -> list[str]:
    """Each API function's role may do exactly what its routes need (LAMBDA_GRANTS: the scoring function invokes the
    endpoint and only PutItem on the review table, the reviews function only Query on its index and GetItem and
    UpdateItem on it) and write its own log group; the table's key only through DynamoDB; no managed policies."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    functions = function_policy_statements(tree)
    if sorted(functions) != sorted(LAMBDA_GRANTS):
        violations.append(f"{api}: role policies for functions {sorted(functions)}, expected {sorted(LAMBDA_GRANTS)}")
    for function, statements in sorted(functions.items()):
        own_logs = f'${{aws_cloudwatch_log_group.lambda["{function}"].arn}}:*'
        expected = {(action, resource) for action, resource in LAMBDA_GRANTS.get(function, {}).items()}
        expected |= {(action, own_logs) for action in LOG_ACTIONS}
        granted = {(action, str(resource)) for s in statements for action in s.actions for resource in s.resources}
        violations += [
            f"{api}: the {function} function's role may {action} on {resource!r}, which its routes do not need"
            for action, resource in sorted(granted - expected)
        ]
        violations += [
            f"{api}: the {function} function's role may not {action} on {resource!r}"
            for action, resource in sorted(expected - granted)
        ]
        for statement in statements:
            through_dynamodb = any(
                value.startswith("dynamodb.") for c in statement.conditions_on("kms:ViaService") for value in c.values
            )
            if any(action.startswith("kms:") for action in statement.actions) and not through_dynamodb:
                violations.append(f"{statement.where} ({statement.sid}): KMS not only through DynamoDB (ViaService)")
    violations += [
        f"{attachment.where()}: managed policy attached to a role of the api module"
        for attachment in tree.resources("aws_iam_role_policy_attachment", api)
    ]
    violations += [
        f"{role.where()}: managed_policy_arns on a role of the api module"
        for role in tree.resources("aws_iam_role", api)
        if role.body.get("managed_policy_arns")
    ]
    return violations


################################################################################
# IAM: permissions boundary, environment scope, service principals
################################################################################


def action_covers(pattern: str, action: str) -> bool:
    """Whether an IAM action pattern ("iam:Put*") matches an action; IAM compares actions case-insensitively."""
    return fnmatchcase(action.lower(), pattern.lower())


def required_variable(tree: Tree, directory: str, name: str) -> list[str]:
    for variable in tree.blocks("variable", directory=directory):
        if variable.name == name:
            return (
                [f"{variable.where()}: has a default, so a root could leave it out"]
                if "default" in variable.body
                else []
            )
    return [f"{directory}: no variable {name!r}"]


def check_roles_carry_permissions_boundary(tree: Tree) -> list[str]:
    """Every IAM role of the modules carries var.permissions_boundary (a validated variable), which the stack passes
    from its required permissions_boundary_arn, itself a required input of both env roots."""
    violations = []
    role_modules = sorted({role.directory for role in tree.blocks("resource", "aws_iam_role")} - {"bootstrap"})
    for directory in role_modules:
        violations += [
            f"{role.where()}: permissions_boundary is not var.permissions_boundary"
            for role in tree.resources("aws_iam_role", directory)
            if role.body.get("permissions_boundary") != "${var.permissions_boundary}"
        ]
        variables = {variable.name: variable for variable in tree.blocks("variable", directory=directory)}
        if "permissions_boundary" not in variables:
            violations.append(f"{directory}: no variable 'permissions_boundary'")
        elif not variables["permissions_boundary"].body.get("validation"):
            violations.append(f"{variables['permissions_boundary'].where()}: not validated as an IAM policy ARN")
    stack, calls = module_dir("stack"), stack_module_calls(tree)
    violations += [
        f"{call.where()}: permissions_boundary is not var.permissions_boundary_arn"
        for name, call in calls.items()
        if module_dir(name) in role_modules
        and call.body.get("permissions_boundary") != "${var.permissions_boundary_arn}"
    ]
    if calls:
        violations += required_variable(tree, stack, "permissions_boundary_arn")
    for environment in ENVIRONMENTS:
        directory = f"envs/{environment}"
        for call in tree.blocks("module", directory=directory):
            if call.body.get("permissions_boundary_arn") != "${var.permissions_boundary_arn}":
                violations.append(f"{call.where()}: permissions_boundary_arn is not var.permissions_boundary_arn")
        violations += required_variable(tree, directory, "permissions_boundary_arn")
    return violations


def check_deploy_roles_bounded(tree: Tree) -> list[str]:
    """The bootstrap's roles give a role permissions only with the environment's permissions boundary on it, can take
    the boundary off no role and rewrite no policy of the bootstrap, and pass roles only to named services; the
    boundary, under the bootstrap's IAM path, grants no IAM, STS or Organizations action."""
    directory = "bootstrap"
    boundaries = [policy for policy in tree.resources("aws_iam_policy", directory) if policy.address == BOUNDARY_POLICY]
    if not boundaries:
        return [f"{directory}: no {BOUNDARY_POLICY}"]
    (boundary,) = boundaries
    violations = []
    if boundary.body.get("path") != "${local.iam_path}":
        violations.append(f"{boundary.where()}: not under local.iam_path, out of reach of the deploy roles' patterns")
    boundary_document = re.match(r"\$\{(data\.aws_iam_policy_document\.\w+)", str(boundary.body.get("policy")))
    statements = list(policy_statements(tree, directory))
    for statement in statements:
        label = f"{statement.where} ({statement.sid or 'no sid'})"
        if boundary_document and statement.where.endswith(boundary_document.group(1)):
            forbidden = [
                a for a in statement.actions if a.split(":")[0].lower() in BOUNDARY_FORBIDDEN_SERVICES or a == "*"
            ]
            if forbidden or statement.not_actions:
                violations.append(f"{label}: the boundary allows {forbidden or statement.not_actions}")
            continue
        if statement.effect != "Allow":
            continue
        gated = [a for a in statement.actions if any(action_covers(a, gated) for gated in BOUNDARY_GATED_ACTIONS)]
        bounded = any(
            BOUNDARY_POLICY in value
            for condition in statement.conditions_on("iam:PermissionsBoundary")
            if condition.test in ("StringEquals", "ArnEquals")
            for value in condition.values
        )
        if gated and not bounded:
            violations.append(f"{label}: {gated} without an iam:PermissionsBoundary condition naming {BOUNDARY_POLICY}")
        if removal := [a for a in statement.actions if action_covers(a, BOUNDARY_REMOVAL)]:
            violations.append(f"{label}: allows {removal}, which takes the boundary off a role")
        if any(action_covers(a, "iam:PassRole") for a in statement.actions) and not statement.conditions_on(
            "iam:PassedToService"
        ):
            violations.append(f"{label}: iam:PassRole without an iam:PassedToService condition")
    denies = [statement for statement in statements if statement.effect == "Deny"]
    if not any("*" in s.resources and any(action_covers(a, BOUNDARY_REMOVAL) for a in s.actions) for s in denies):
        violations.append(f"{directory}: no Deny of {BOUNDARY_REMOVAL} on Resource '*'")
    violations += [
        f"{directory}: no Deny of {action} on the policies under local.iam_path"
        for action in POLICY_REWRITE_ACTIONS
        if not any(
            any("${local.iam_path}" in resource for resource in s.resources)
            and any(action_covers(a, action) for a in s.actions)
            for s in denies
        )
    ]
    return violations


def scoped_to_this_environment(statement: Statement, keys=ENVIRONMENT_TAG_KEYS) -> bool:
    """Conditioned (StringEquals, or ...IfExists) on one of these keys being this document's environment."""
    return any(
        condition.test in ("StringEquals", "StringEqualsIfExists") and condition.values == THIS_ENVIRONMENT
        for key in keys
        for condition in statement.conditions_on(key)
    )


def cites_reason_above(tree: Tree, statement: Statement) -> bool:
    """A comment right above the statement's `statement {` line links AWS's documentation."""
    path = tree.root / statement.file
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    sid_line = next((i for i, line in enumerate(lines) if re.search(rf'\bsid\s*=\s*"{statement.sid}"', line)), None)
    if sid_line is None:
        return False
    start = next((i for i in range(sid_line, -1, -1) if re.match(r"\s*statement\s*\{", lines[i])), 0)
    comment = []
    for line in reversed(lines[:start]):
        if not re.match(r"\s*(#|//)", line):
            break
        comment.append(line)
    return "docs.aws.amazon.com" in "".join(comment)


def check_generated_id_services_environment_scoped(tree: Tree) -> list[str]:
    """In the bootstrap's per-environment documents, every write to API Gateway, CloudFront or Application Auto
    Scaling (generated IDs: only tags tell environments apart) is conditioned on this environment's Environment tag,
    or is marked account-wide (sid ending in AccountWide) with a comment above it citing AWS's documentation; no
    tagging statement can pull another environment's resource into this one; the env roots set those tags."""
    violations = []
    for statement in policy_statements(tree, "bootstrap"):
        if statement.effect != "Allow" or not statement.per_environment:
            continue
        label = f"{statement.where} ({statement.sid or 'no sid'})"
        writes = [a for a in statement.actions if a.split(":")[0] in GENERATED_ID_SERVICES and not READ_ACTION.match(a)]
        if writes and statement.sid.endswith(ACCOUNT_WIDE):
            if not cites_reason_above(tree, statement):
                violations.append(f"{label}: account-wide without a comment above it citing docs.aws.amazon.com")
        elif writes and not scoped_to_this_environment(statement):
            violations.append(
                f"{label}: {writes} neither conditioned on {' or '.join(ENVIRONMENT_TAG_KEYS)} = each.key "
                f"nor marked {ACCOUNT_WIDE}"
            )
        changes = [a for a in statement.actions if not READ_ACTION.match(a)]
        tagging = [a for a in changes if "Tag" in a.split(":")[-1]]
        if changes:  # API Gateway's tag calls are its POST and DELETE on /tags/<ARN>
            directory = statement.file.rpartition("/")[0]
            tagging += [r for r in statement.resources if "/tags/" in str(resolve_local(tree, directory, r))]
        named = all(str(resource).startswith("${each.value.") for resource in statement.resources)
        tag_keys_kept = any(
            "StringNotEquals" in condition.test and "Environment" in condition.values
            for condition in statement.conditions_on("aws:TagKeys")
        )
        if (
            tagging
            and not named
            and not tag_keys_kept
            and not scoped_to_this_environment(statement, ["aws:ResourceTag/Environment"])
        ):
            violations.append(
                f"{label}: {tagging} could tag another environment's resource as this one's "
                "(no aws:ResourceTag/Environment = each.key, no aws:TagKeys guard)"
            )
    for environment in ENVIRONMENTS:
        directory = f"envs/{environment}"
        locals_ = {local.name: local.body for local in tree.blocks("locals", directory=directory)}
        if locals_.get("environment") != environment:
            violations.append(f"{directory}: local.environment is {locals_.get('environment')!r}, not {environment!r}")
        providers = [provider for provider in tree.blocks("provider", directory=directory) if provider.name == "aws"]
        tags = first(providers[0].body, "default_tags").get("tags", {}) if providers else {}
        violations += [
            f"{directory}: provider aws default_tags do not set {key} = {value}"
            for key, value in ENVIRONMENT_DEFAULT_TAGS.items()
            if not isinstance(tags, dict) or tags.get(key) != value
        ]
    return violations


def check_service_principals_scoped(tree: Tree) -> list[str]:
    """Every Allow statement letting an AWS service in (a role's trust policy; a key, bucket or topic policy) carries
    aws:SourceAccount or aws:SourceArn, so the service acts only for this account (confused deputy)."""
    return [
        f"{statement.where} ({statement.sid or 'no sid'}): {services} without aws:SourceAccount or aws:SourceArn"
        for statement in policy_statements(tree)
        if statement.effect == "Allow"
        and (services := sorted(p for p in statement.principals if SERVICE_PRINCIPAL.match(str(p))))
        and not any(statement.conditions_on(key) for key in SOURCE_KEYS)
    ]


################################################################################
# IAM: Cognito's environment scope
################################################################################


# Cognito user pools have generated IDs (userpool/<region>_<id>), so like HTTP APIs and distributions only their tags
# tell environments apart; every action on a pool's clients, domain, resource servers and groups is authorized against
# the pool and takes its aws:ResourceTag. Reads are scoped as well as writes: DescribeUserPoolClient returns secrets.
COGNITO = "cognito-idp"
# The only action of theirs the roles need that has no resource type and no condition that could scope it (the
# Service Authorization Reference lists none): reading a domain by its name. CreateUserPool has no resource type
# either, but takes aws:RequestTag, so it is created only with the environment's tags.
COGNITO_ACCOUNT_WIDE_ACTIONS = frozenset({"cognito-idp:DescribeUserPoolDomain"})
COGNITO_CREATE = "cognito-idp:CreateUserPool"
COGNITO_TAGGING = ("cognito-idp:TagResource", "cognito-idp:UntagResource")


def check_cognito_environment_scoped(tree: Tree) -> list[str]:
    """In the bootstrap's per-environment documents every Allow statement with a cognito-idp action is conditioned on
    this environment's Environment tag (aws:ResourceTag, or aws:RequestTag for creating a pool), or is marked
    AccountWide with a comment citing AWS's documentation and holds only actions nothing can scope; a pool is created
    only with this environment's tags, and its Project and Environment tags are changed by no statement."""
    violations = []
    for statement in policy_statements(tree, "bootstrap"):
        cognito = [a for a in statement.actions if a.split(":")[0] == COGNITO]
        if statement.effect != "Allow" or not statement.per_environment or not cognito:
            continue
        label = f"{statement.where} ({statement.sid or 'no sid'})"
        if statement.sid.endswith(ACCOUNT_WIDE):
            if not cites_reason_above(tree, statement):
                violations.append(f"{label}: account-wide without a comment above it citing docs.aws.amazon.com")
            if scopable := [a for a in cognito if a not in COGNITO_ACCOUNT_WIDE_ACTIONS]:
                violations.append(f"{label}: {scopable} account-wide, though user pools are authorized by their tags")
        elif not scoped_to_this_environment(statement):
            violations.append(
                f"{label}: {cognito} neither conditioned on {' or '.join(ENVIRONMENT_TAG_KEYS)} = each.key "
                f"nor marked {ACCOUNT_WIDE}"
            )
        if any(action_covers(a, COGNITO_CREATE) for a in cognito) and not scoped_to_this_environment(
            statement, ["aws:RequestTag/Environment"]
        ):
            violations.append(f"{label}: {COGNITO_CREATE} without aws:RequestTag/Environment = each.key")
        # Tagging a pool: with this environment's tags (a new pool), or never touching Project and Environment.
        tagging = [a for a in cognito if any(action_covers(a, t) for t in COGNITO_TAGGING)]
        keeps_tags = any(
            "StringNotEquals" in condition.test and {"Project", "Environment"} <= set(condition.values)
            for condition in statement.conditions_on("aws:TagKeys")
        )
        if tagging and not keeps_tags and not scoped_to_this_environment(statement, ["aws:RequestTag/Environment"]):
            violations.append(
                f"{label}: {tagging} could change a pool's Project or Environment tag (no aws:RequestTag/Environment "
                "= each.key, no aws:TagKeys guard)"
            )
    return violations
