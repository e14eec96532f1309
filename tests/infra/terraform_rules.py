"""Structural rules for terraform/: each takes the parsed tree and returns its violations (empty list: it holds).

`terraform validate` cannot run offline (no provider package), so these rules prove what it would not anyway:
the layout and documentation of the modules, least-privilege IAM, and the wiring between the Lambda, the API and
the SageMaker endpoint. The same functions run on the real tree and on deliberately broken copies of it
(test_broken_module.py), so a rule that stops seeing anything would show there.

The parsed tree comes from hcl_dump.py: python-hcl2 documents keyed by path relative to terraform/, blocks as
lists of dicts, strings unquoted, expressions as "${...}" text, literal `jsonencode({...})` as {"__jsonencode__": ...}.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from .hcl_eval import Lazy, UnsupportedExpression, evaluate_value

MODULES = ("private_bucket", "artifacts", "model_endpoint", "api", "site", "monitoring", "auth", "stack")
ENVIRONMENTS = ("dev", "prod")
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
ENV_ROOT_FILES = (*MODULE_FILES, "backend.tf")
ENV_ROOT_OUTPUTS = ("api_url", "site_url", "endpoint_name", "artifact_bucket_name")
API_ROUTE_KEYS = ("POST /v1/moderate", "GET /v1/health", "OPTIONS /{proxy+}", "$default")
# Routes anyone may call while the JWT authorizer is on: the health probe (a cached endpoint call) and CORS preflights,
# which browsers send without credentials. Every other route must demand a token with one of its scopes.
PUBLIC_ROUTE_KEYS = frozenset({"GET /v1/health", "OPTIONS /{proxy+}"})
# The scope (by name in the auth module's resource server) each of these routes must accept.
ROUTE_REQUIRED_SCOPES = {"POST /v1/moderate": "moderate"}
# The auth module's OAuth contract (docs/api.md): resource server identifier and scope names.
RESOURCE_SERVER_IDENTIFIER = "toxiguard"
SCOPE_NAMES = frozenset({"moderate", "review"})
LAMBDA_ACTIONS = {"sagemaker:InvokeEndpoint", "logs:CreateLogStream", "logs:PutLogEvents"}

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

REFERENCE = re.compile(r"^\$\{([^{}]*)\}$")  # a value that is exactly one reference: "${var.x}"

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
class Block:
    file: str  # path relative to terraform/
    kind: str  # resource, data, variable, output, module, ...
    type: str  # resource or data source type ("" for the others)
    name: str
    body: dict

    @property
    def directory(self) -> str:
        return self.file.rpartition("/")[0]

    @property
    def address(self) -> str:
        return ".".join(part for part in (self.kind if self.kind != "resource" else "", self.type, self.name) if part)

    def where(self) -> str:
        return f"{self.file}: {self.address}"


@dataclass(frozen=True)
class Tree:
    """terraform/ on disk (for README and file checks) and its parsed .tf files."""

    root: Path
    documents: dict[str, dict] = field(repr=False)

    def blocks(self, kind: str, type_: str | None = None, directory: str | None = None) -> Iterator[Block]:
        for file, document in sorted(self.documents.items()):
            if directory is not None and file.rpartition("/")[0] != directory:
                continue
            for entry in document.get(kind, []):
                if kind in ("resource", "data"):
                    for block_type, named in entry.items():
                        if type_ is None or block_type == type_:
                            for name, body in named.items():
                                yield Block(file, kind, block_type, name, body)
                else:
                    for name, body in entry.items():
                        yield Block(file, kind, "", name, body)

    def resources(self, type_: str, directory: str) -> list[Block]:
        return list(self.blocks("resource", type_, directory))

    def terraform_settings(self, directory: str) -> list[dict]:
        return [
            settings
            for file, document in self.documents.items()
            if file.rpartition("/")[0] == directory
            for settings in document.get("terraform", [])
        ]


def module_dir(name: str) -> str:
    return f"modules/{name}"


def reference(value) -> str | None:
    """The target of a value that is exactly one reference ("${var.x}" gives "var.x"), else None."""
    match = REFERENCE.match(value) if isinstance(value, str) else None
    return match.group(1).strip() if match else None


def first(body: dict, block: str) -> dict:
    """The first nested block of that name, written out or as `dynamic "<block>"`'s content ({} when absent)."""
    if nested := body.get(block):
        return nested[0] if isinstance(nested, list) else nested
    for entry in as_list(body.get("dynamic")):
        if block in entry:
            return first(entry[block], "content")
    return {}


def resolve_local(tree: Tree, directory: str, value):
    """For "${local.x}" or "${local.x.key}", that local's value in that directory (or its literal map's entry; one
    level deep); any other value as it is."""
    target = reference(value)
    if not target or not target.startswith("local."):
        return value
    name, *keys = target.removeprefix("local.").split(".")
    for local in tree.blocks("locals", directory=directory):
        if local.name == name:
            resolved = local.body
            for key in keys:
                if not isinstance(resolved, dict) or key not in resolved:
                    return value
                resolved = resolved[key]
            return resolved
    return value


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def strings_in(value) -> set[str]:
    """Every string in a parsed value, and every quoted string inside its expressions (`toset(["a", "b"])`)."""
    if isinstance(value, dict):
        return set().union(*(strings_in(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(strings_in(item) for item in value))
    if isinstance(value, str):
        return {value, *re.findall(r'"((?:[^"\\]|\\.)*)"', value)}
    return set()


def missing_module(tree: Tree, name: str) -> list[str]:
    directory = module_dir(name)
    if any(file.startswith(directory + "/") for file in tree.documents):
        return []
    return [f"{directory}: no .tf files"]


################################################################################
# Layout and documentation
################################################################################


def check_layout(tree: Tree) -> list[str]:
    """The modules and two env roots exist, each with the files of the terraform-aws-modules layout."""
    violations = []
    for parent, expected, files in (("modules", MODULES, MODULE_FILES), ("envs", ENVIRONMENTS, ENV_ROOT_FILES)):
        present = sorted(path.name for path in (tree.root / parent).glob("*") if path.is_dir())
        violations += [f"{parent}/{name}: missing directory" for name in expected if name not in present]
        for name in present:
            violations += [
                f"{parent}/{name}: missing {file}" for file in files if not (tree.root / parent / name / file).is_file()
            ]
    return violations


def check_declarations_in_their_files(tree: Tree) -> list[str]:
    """Variables live in variables.tf and outputs in outputs.tf, where a reader (and the README) looks for them."""
    return [
        f"{block.where()}: declared outside {kind}s.tf"
        for kind in ("variable", "output")
        for block in tree.blocks(kind)
        if not block.file.endswith(f"/{kind}s.tf")
    ]


def check_variables_typed_and_described(tree: Tree) -> list[str]:
    violations = []
    for variable in tree.blocks("variable"):
        if not variable.body.get("type"):
            violations.append(f"{variable.where()}: no type")
        description = variable.body.get("description")
        if not isinstance(description, str) or not description.strip():
            violations.append(f"{variable.where()}: no description")
    return violations


def check_output_names(tree: Tree) -> list[str]:
    """Outputs are named <thing>_<attribute> (bucket_arn, endpoint_name), never a bare `arn` or `name`."""
    return [
        f"{output.where()}: name is not <thing>_<attribute>"
        for output in tree.blocks("output")
        if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", output.name)
    ]


def check_outputs_described(tree: Tree) -> list[str]:
    return [
        f"{output.where()}: no description"
        for output in tree.blocks("output")
        if not str(output.body.get("description", "")).strip()
    ]


def readme_mentions(readme: str, name: str) -> bool:
    """As terraform-docs writes a table row (`[name](#input\\_name)`) or as hand-written `name` / | name |."""
    text = readme.replace("\\_", "_")
    return any(pattern in text for pattern in (f"`{name}`", f"[{name}]", f"| {name} |"))


def readme_section(readme: str, title: str) -> str | None:
    """The text under a `## <title>` heading (any level) up to the next heading of that level or higher."""
    heading = re.search(rf"^(#+)\s*{title}\b.*$", readme, re.MULTILINE)
    if not heading:
        return None
    end = re.compile(rf"^#{{1,{len(heading.group(1))}}}\s", re.MULTILINE).search(readme, heading.end())
    return readme[heading.end() : end.start() if end else len(readme)]


def check_readmes_document_interface(tree: Tree) -> list[str]:
    """Every module README lists each variable under Inputs and each output under Outputs."""
    violations = []
    for name in MODULES:
        directory = module_dir(name)
        readme_path = tree.root / directory / "README.md"
        if not readme_path.is_file():
            continue  # check_layout reports it
        readme = readme_path.read_text(encoding="utf-8")
        for kind, title in (("variable", "Inputs"), ("output", "Outputs")):
            section = readme_section(readme, title)
            if section is None:
                violations.append(f"{directory}/README.md: no '{title}' section")
                continue
            violations += [
                f"{directory}/README.md: {title} does not list {kind} `{block.name}`"
                for block in tree.blocks(kind, directory=directory)
                if not readme_mentions(section, block.name)
            ]
    return violations


def check_versions_pinned(tree: Tree) -> list[str]:
    """Every module and env root states the Terraform version and takes the AWS provider from hashicorp/aws."""
    violations = []
    directories = [module_dir(name) for name in MODULES] + [f"envs/{name}" for name in ENVIRONMENTS]
    for directory in directories:
        if not (tree.root / directory / "versions.tf").is_file():
            continue  # check_layout reports it
        settings = tree.terraform_settings(directory)
        if not any(block.get("required_version") for block in settings):
            violations.append(f"{directory}: no terraform.required_version")
        providers = [
            requirements
            for block in settings
            for required in as_list(block.get("required_providers"))
            for requirements in required.values()
            if isinstance(requirements, dict)
        ]
        aws = [p for p in providers if p.get("source") == "hashicorp/aws" and p.get("version")]
        if not aws:
            violations.append(f"{directory}: required_providers has no hashicorp/aws with a version constraint")
    return violations


################################################################################
# IAM
################################################################################


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


def check_lambda_policy(tree: Tree) -> list[str]:
    """The Lambda may only invoke this one endpoint and write to its own log group; no managed policies."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    lambda_log_groups = {
        f"aws_cloudwatch_log_group.{group.name}"
        for group in tree.resources("aws_cloudwatch_log_group", api)
        if "/aws/lambda/" in str(group.body.get("name", ""))
    }
    if not lambda_log_groups:
        violations.append(f"{api}: no aws_cloudwatch_log_group named /aws/lambda/...")
    statements = [s for s in policy_statements(tree, api) if s.effect == "Allow" and not is_trust_policy(s)]
    granted = {action for statement in statements for action in statement.actions}
    if granted != LAMBDA_ACTIONS:
        violations.append(f"{api}: the Lambda's policy allows {sorted(granted)}, expected {sorted(LAMBDA_ACTIONS)}")
    for statement in statements:
        for action in statement.actions:
            if action == "sagemaker:InvokeEndpoint":
                if statement.resources != ["${var.endpoint_arn}"]:
                    violations.append(
                        f"{statement.where}: InvokeEndpoint on {statement.resources}, not var.endpoint_arn"
                    )
            elif action.startswith("logs:"):
                for resource in statement.resources:
                    group = re.match(r"^\$\{(aws_cloudwatch_log_group\.\w+)\.arn\}", resource)
                    if not group or group.group(1) not in lambda_log_groups:
                        violations.append(f"{statement.where}: {action} on {resource!r}, not the Lambda's log group")
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
# IAM: the bootstrap's documents as IAM sees them (size, what each role may do), Cognito's environment scope
################################################################################


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
        f"{where}: {name} has no row in PROVIDER_ACTIONS (tests/infra/terraform_rules.py): write down what the "
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


################################################################################
# Wiring: Lambda -> endpoint, API -> Lambda
################################################################################


def check_lambda_endpoint_wiring(tree: Tree) -> list[str]:
    """The Lambda's SAGEMAKER_ENDPOINT_NAME is var.endpoint_name, which the stack feeds from the endpoint module."""
    violations = missing_module(tree, "api") + missing_module(tree, "stack")
    if violations:
        return violations
    functions = tree.resources("aws_lambda_function", module_dir("api"))
    if len(functions) != 1:
        violations.append(f"{module_dir('api')}: {len(functions)} aws_lambda_function resources, expected 1")
    for function in functions:
        variables = first(function.body, "environment").get("variables", {})
        if variables.get("SAGEMAKER_ENDPOINT_NAME") != "${var.endpoint_name}":
            violations.append(
                f"{function.where()}: SAGEMAKER_ENDPOINT_NAME is {variables.get('SAGEMAKER_ENDPOINT_NAME')!r}, "
                "not var.endpoint_name"
            )
    calls = stack_module_calls(tree)
    api_call, endpoint_call = calls.get("api"), calls.get("model_endpoint")
    if not api_call or not endpoint_call:
        return [*violations, f"{module_dir('stack')}: does not call both ../api and ../model_endpoint"]
    for attribute in ("endpoint_name", "endpoint_arn"):
        expected = f"${{module.{endpoint_call.name}.{attribute}}}"
        if api_call.body.get(attribute) != expected:
            violations.append(f"{api_call.where()}: {attribute} is {api_call.body.get(attribute)!r}, not {expected}")
    return violations


def stack_module_calls(tree: Tree) -> dict[str, Block]:
    """The stack's module blocks keyed by the module they call ("../api" -> "api")."""
    return {
        str(call.body.get("source", "")).rsplit("/", 1)[-1]: call
        for call in tree.blocks("module", directory=module_dir("stack"))
    }


def check_rollback_alarms_wired(tree: Tree) -> list[str]:
    """The endpoint rolls back on the monitoring module's endpoint alarms (an empty list would switch rollback off)."""
    if violations := missing_module(tree, "stack"):
        return violations
    calls = stack_module_calls(tree)
    endpoint_call, monitoring_call = calls.get("model_endpoint"), calls.get("monitoring")
    if not endpoint_call or not monitoring_call:
        return [f"{module_dir('stack')}: does not call both ../model_endpoint and ../monitoring"]
    expected = f"${{module.{monitoring_call.name}.endpoint_rollback_alarm_names}}"
    actual = endpoint_call.body.get("rollback_alarm_names")
    if actual != expected:
        return [f"{endpoint_call.where()}: rollback_alarm_names is {actual!r}, not {expected}"]
    return []


def check_api_routes(tree: Tree) -> list[str]:
    """Each route targets an AWS_PROXY integration whose URI is the Lambda's invoke ARN; the three routes exist."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    functions = {f"aws_lambda_function.{function.name}" for function in tree.resources("aws_lambda_function", api)}
    lambda_integrations = set()
    for integration in tree.resources("aws_apigatewayv2_integration", api):
        uri = reference(integration.body.get("integration_uri")) or ""
        if uri.removesuffix(".invoke_arn") not in functions or not uri.endswith(".invoke_arn"):
            violations.append(f"{integration.where()}: integration_uri is not a Lambda function's invoke_arn")
            continue
        if integration.body.get("integration_type") != "AWS_PROXY":
            violations.append(f"{integration.where()}: integration_type is not AWS_PROXY")
        if str(integration.body.get("payload_format_version")) != "2.0":
            violations.append(f"{integration.where()}: payload_format_version is not 2.0")
        lambda_integrations.add(f"aws_apigatewayv2_integration.{integration.name}")
    routes = tree.resources("aws_apigatewayv2_route", api)
    if not routes:
        violations.append(f"{api}: no aws_apigatewayv2_route")
    for route in routes:
        target = re.fullmatch(
            r"integrations/\$\{(aws_apigatewayv2_integration\.\w+)\.id\}", str(route.body.get("target"))
        )
        if not target or target.group(1) not in lambda_integrations:
            violations.append(f"{route.where()}: target {route.body.get('target')!r} is not the Lambda integration")
    violations += [f"{api}: no route {key!r}" for key in API_ROUTE_KEYS if key not in api_route_table(tree)]
    return violations


def api_route_table(tree: Tree) -> dict[str, tuple[Block, object]]:
    """The api module's routes by route key: the route block and, for a for_each over a map, that key's value.

    Route keys are the keys of a for_each map (written out or in a local), else every string of the for_each or
    route_key expression (`toset(["GET /v1/health", ...])`, a literal route_key).
    """
    table = {}
    for route in tree.resources("aws_apigatewayv2_route", module_dir("api")):
        for_each = resolve_local(tree, route.directory, route.body.get("for_each"))
        if isinstance(for_each, dict):
            table.update({key: (route, value) for key, value in for_each.items()})
        else:
            table.update({key: (route, None) for key in strings_in([for_each, route.body.get("route_key")])})
    return table


def check_lambda_permission(tree: Tree) -> list[str]:
    """API Gateway may invoke the Lambda only from this API (source_arn under its execution ARN)."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    apis = {f"aws_apigatewayv2_api.{gateway.name}" for gateway in tree.resources("aws_apigatewayv2_api", api)}
    permissions = tree.resources("aws_lambda_permission", api)
    if not permissions:
        violations.append(f"{api}: no aws_lambda_permission for API Gateway")
    for permission in permissions:
        source = re.match(r"^\$\{(aws_apigatewayv2_api\.\w+)\.execution_arn\}/", str(permission.body.get("source_arn")))
        if not source or source.group(1) not in apis:
            violations.append(f"{permission.where()}: source_arn is not scoped to this API's execution_arn")
        if permission.body.get("principal") != "apigateway.amazonaws.com":
            violations.append(f"{permission.where()}: principal is not apigateway.amazonaws.com")
        if not str(reference(permission.body.get("function_name")) or "").startswith("aws_lambda_function."):
            violations.append(f"{permission.where()}: function_name is not this module's Lambda function")
    return violations


################################################################################
# Authentication: the JWT authorizer, the Cognito pool it trusts, and prod's guard against an open API
################################################################################


def scope_name(identifier: str) -> str:
    """The scope name a client's scope refers to: "${local.scope_identifiers.moderate}" gives "moderate"."""
    return re.split(r"[./]", identifier.strip("${}"))[-1]


def check_api_authorization(tree: Tree) -> list[str]:
    """With the JWT authorizer on, every route but the health probe and CORS preflights needs a token and a scope."""
    api = module_dir("api")
    if violations := missing_module(tree, "api") + missing_module(tree, "auth"):
        return violations
    authorizers = tree.resources("aws_apigatewayv2_authorizer", api)
    if len(authorizers) != 1:
        return [f"{api}: {len(authorizers)} aws_apigatewayv2_authorizer resources, expected one JWT authorizer"]
    (authorizer,) = authorizers
    jwt = first(authorizer.body, "jwt_configuration")
    settings = {
        "authorizer_type": (authorizer.body.get("authorizer_type"), "JWT"),
        "identity_sources": (authorizer.body.get("identity_sources"), ["$request.header.Authorization"]),
        "jwt_configuration.issuer": (jwt.get("issuer"), "${var.jwt_authorizer.issuer}"),
        "jwt_configuration.audience": (jwt.get("audience"), "${var.jwt_authorizer.audience}"),
    }
    violations += [
        f"{authorizer.where()}: {name} is {actual!r}, not {expected!r}"
        for name, (actual, expected) in settings.items()
        if actual != expected
    ]
    if "var.jwt_authorizer" not in str(authorizer.body.get("count")):
        violations.append(f"{authorizer.where()}: count does not follow var.jwt_authorizer (on exactly when it is set)")

    # Which routes demand which scopes: a for_each map of route key => scope names, [] for a public route.
    auth_scopes = auth_scope_names(tree)
    table = api_route_table(tree)
    for key, (route, scope_names) in sorted(table.items()):
        if not isinstance(scope_names, list):
            violations.append(f"{route.where()}: {key!r} has no scope list (for_each over route key => scope names)")
        elif key in PUBLIC_ROUTE_KEYS and scope_names:
            violations.append(f"{route.where()}: {key!r} must stay public but demands {scope_names}")
        elif key not in PUBLIC_ROUTE_KEYS and not scope_names:
            violations.append(f"{route.where()}: {key!r} demands no scope, so it stays open with the authorizer on")
        elif unknown := sorted(set(scope_names) - auth_scopes):
            violations.append(f"{route.where()}: {key!r} demands {unknown}, which the auth module does not define")
        elif (required := ROUTE_REQUIRED_SCOPES.get(key)) and required not in scope_names:
            violations.append(f"{route.where()}: {key!r} does not accept the {required!r} scope")

    # The routes apply that table: authorization type, authorizer and scopes all come from one local built from the
    # table and the authorizer's scope identifiers, and the authorizer is this module's.
    for route in {block.address: block for block, _ in table.values()}.values():
        table_local = reference(route.body.get("for_each")) or ""
        attributes = ("authorization_type", "authorizer_id", "authorization_scopes")
        used = {name: set(re.findall(r"\blocal\.(\w+)", str(route.body.get(name)))) for name in attributes}
        shared = set.intersection(*used.values())
        derived = [
            name
            for name in shared
            if table_local in str(resolve_local(tree, api, f"${{local.{name}}}"))
            and "var.jwt_authorizer.scopes" in str(resolve_local(tree, api, f"${{local.{name}}}"))
        ]
        if not table_local.startswith("local.") or not derived:
            violations.append(
                f"{route.where()}: {', '.join(attributes)} do not all come from one local built from "
                "the route table and var.jwt_authorizer.scopes"
            )
        if '"JWT"' not in str(route.body.get("authorization_type")):
            violations.append(f'{route.where()}: authorization_type is never "JWT"')
        if f"aws_apigatewayv2_authorizer.{authorizer.name}" not in str(route.body.get("authorizer_id")):
            violations.append(f"{route.where()}: authorizer_id is not aws_apigatewayv2_authorizer.{authorizer.name}")
    return violations


def auth_scope_names(tree: Tree) -> set[str]:
    """Scope names of the auth module's resource server, written out or from a dynamic "scope" over a map."""
    names = set()
    for server in tree.resources("aws_cognito_resource_server", module_dir("auth")):
        names |= {str(scope.get("scope_name")) for scope in as_list(server.body.get("scope"))}
        for entry in as_list(server.body.get("dynamic")):
            if "scope" in entry:
                scopes = resolve_local(tree, server.directory, entry["scope"].get("for_each"))
                names |= set(scopes) if isinstance(scopes, dict) else set()
    return names


def check_cognito_clients(tree: Tree) -> list[str]:
    """Invited users only; backends get client credentials for scoring only; the page is a public code-flow client."""
    auth = module_dir("auth")
    if violations := missing_module(tree, "auth"):
        return violations
    for server in tree.resources("aws_cognito_resource_server", auth):
        identifier = resolve_local(tree, auth, server.body.get("identifier"))
        if identifier != RESOURCE_SERVER_IDENTIFIER:
            violations.append(f"{server.where()}: identifier is {identifier!r}, not {RESOURCE_SERVER_IDENTIFIER!r}")
    if (names := auth_scope_names(tree)) != SCOPE_NAMES:
        violations.append(f"{auth}: resource server scopes are {sorted(names)}, expected {sorted(SCOPE_NAMES)}")
    for pool in tree.resources("aws_cognito_user_pool", auth):
        if first(pool.body, "admin_create_user_config").get("allow_admin_create_user_only") is not True:
            violations.append(f"{pool.where()}: people can sign themselves up (allow_admin_create_user_only)")
    clients = tree.resources("aws_cognito_user_pool_client", auth)
    flows = {client.name: client.body.get("allowed_oauth_flows") for client in clients}
    backends = [client for client in clients if flows[client.name] == ["client_credentials"]]
    pages = [client for client in clients if flows[client.name] == ["code"]]
    if len(backends) != 1 or len(pages) != 1 or len(clients) != 2:
        return [*violations, f"{auth}: expected one client_credentials client and one code client, found {flows}"]
    (backend,), (page,) = backends, pages
    backend_scopes = {
        scope_name(scope) for scope in as_list(resolve_local(tree, auth, backend.body.get("allowed_oauth_scopes")))
    }
    if backend.body.get("generate_secret") is not True:
        violations.append(f"{backend.where()}: a client_credentials client needs generate_secret = true")
    if backend_scopes != {"moderate"}:
        violations.append(f"{backend.where()}: scopes {sorted(backend_scopes)}, expected only 'moderate'")
    if page.body.get("generate_secret") is not False:
        violations.append(f"{page.where()}: the page's client is public (code in the browser): generate_secret = false")
    for urls in ("callback_urls", "logout_urls"):
        if page.body.get(urls) != "${var.redirect_urls}":
            violations.append(f"{page.where()}: {urls} is not var.redirect_urls")
    return violations


def check_auth_wiring(tree: Tree) -> list[str]:
    """The pool exists exactly when auth = "jwt"; the authorizer trusts it and both its clients; the page uses it."""
    stack = module_dir("stack")
    if violations := missing_module(tree, "stack"):
        return violations
    calls = stack_module_calls(tree)
    auth_call, api_call, site_call = calls.get("auth"), calls.get("api"), calls.get("site")
    if not auth_call or not api_call or not site_call:
        return [f"{stack}: does not call ../auth, ../api and ../site"]
    count = expand_locals(tree, stack, str(auth_call.body.get("count")))
    if 'var.auth == "jwt"' not in count:
        violations.append(f'{auth_call.where()}: count is {count!r}, not created exactly when var.auth == "jwt"')
    auth = f"module.{auth_call.name}[0]"
    authorizer = object_attributes(str(api_call.body.get("jwt_authorizer")))
    expected = {
        "issuer": {f"{auth}.user_pool_issuer_url"},
        "audience": {f"{auth}.backend_client_id", f"{auth}.web_client_id"},
        "scopes": {f"{auth}.resource_server_scopes"},
    }
    for name, outputs in expected.items():
        if set(re.findall(r"\bmodule\.\w+(?:\[\d+\])?(?:\.\w+)+", authorizer.get(name, ""))) != outputs:
            violations.append(f"{api_call.where()}: jwt_authorizer.{name} is not {' and '.join(sorted(outputs))}")
    for argument, output in (("auth_hosted_ui_url", "hosted_ui_url"), ("auth_client_id", "web_client_id")):
        if f"{auth}.{output}" not in str(site_call.body.get(argument)):
            violations.append(f"{site_call.where()}: {argument} is not module.{auth_call.name}[0].{output}")
    if f"module.{site_call.name}.site_redirect_url" not in str(auth_call.body.get("redirect_urls")):
        violations.append(f"{auth_call.where()}: redirect_urls lack module.{site_call.name}.site_redirect_url")
    return violations


def object_attributes(expression: str) -> dict[str, str]:
    """The text of each `name = value` in an object expression (`{issuer = a, audience = [b, c]}`), by name."""
    names = list(re.finditer(r"(\w+)\s*=(?!=)", expression))
    ends = [match.start() for match in names[1:]] + [len(expression)]
    return {match.group(1): expression[match.end() : end] for match, end in zip(names, ends, strict=True)}


def expand_locals(tree: Tree, directory: str, expression: str) -> str:
    """The expression with each `local.<name>` replaced by that local's expression (one level deep)."""

    def expand(match: re.Match) -> str:
        value = resolve_local(tree, directory, f"${{local.{match.group(1)}}}")
        return f"({value.strip('${}')})" if isinstance(value, str) else match.group(0)

    return re.sub(r"\blocal\.(\w+)", expand, expression)


# (environment, auth, allow_unauthenticated_api) => whether the stack must accept it.
AUTH_GUARD_CASES = {
    ("prod", "jwt", False): True,
    ("prod", "none", False): False,
    ("prod", "none", True): True,
    ("dev", "none", False): True,
    ("dev", "jwt", False): True,
}


def check_prod_requires_auth(tree: Tree) -> list[str]:
    """prod refuses auth = "none" unless allow_unauthenticated_api is set; its default is "jwt", dev's "none"."""
    stack = module_dir("stack")
    if violations := missing_module(tree, "stack"):
        return violations
    variables = {variable.name: variable.body for variable in tree.blocks("variable", directory=stack)}
    if "auth" not in variables or "allow_unauthenticated_api" not in variables:
        return [f"{stack}: no variable auth and allow_unauthenticated_api"]
    override = variables["allow_unauthenticated_api"]
    if override.get("type") != "bool" or override.get("default") is not False:
        violations.append(f"{stack}: allow_unauthenticated_api must be a bool that defaults to false")
    conditions = [validation.get("condition", "") for validation in as_list(variables["auth"].get("validation"))]
    for (environment, auth, allow), accepted in AUTH_GUARD_CASES.items():
        values = {"environment": environment, "auth": auth, "allow_unauthenticated_api": allow}
        results = [evaluate_condition(condition, values) for condition in conditions]
        if accepted != all(result is not False for result in results):
            verdict = "refuses" if accepted else "accepts"
            case = f"environment={environment}, auth={auth}, allow_unauthenticated_api={allow}"
            violations.append(f"{stack}: variable auth {verdict} {case}")

    for environment, expected in (("dev", "none"), ("prod", "jwt")):
        directory = f"envs/{environment}"
        calls = [call for call in tree.blocks("module", directory=directory) if "modules/stack" in str(call.body)]
        root_variables = {variable.name: variable.body for variable in tree.blocks("variable", directory=directory)}
        for call in calls:
            argument = call.body.get("auth", variables["auth"].get("default"))
            target = reference(argument) or ""
            default = root_variables.get(target.removeprefix("var."), {}).get("default") if target else argument
            if default != expected:
                violations.append(f'{call.where()}: auth defaults to {default!r} in {environment}, not "{expected}"')
            override_default = root_variables.get("allow_unauthenticated_api", {}).get("default", False)
            if override_default is not False:
                violations.append(f"{directory}: allow_unauthenticated_api defaults to {override_default!r}")
    return violations


CONDITION_TOKEN = re.compile(r'\s*(\|\||&&|==|!=|!|\(|\)|"[^"]*"|true|false|var\.\w+)')


def evaluate_condition(condition: str | bool, variables: dict[str, object]) -> bool | None:
    """A validation condition made only of var.<name>, string and bool literals, !, ==, !=, && and || (HCL's
    precedence), evaluated for these variables; None for any other expression (a function call, say)."""
    if isinstance(condition, bool):  # a literal `condition = true`
        return condition
    text = condition.strip()
    text = text[2:-1] if text.startswith("${") and text.endswith("}") else text
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = CONDITION_TOKEN.match(text, position)
        if not match:
            return None
        tokens.append(match.group(1))
        position = match.end()

    def atom(index: int) -> tuple[object, int]:
        token = tokens[index]
        if token == "(":
            value, index = either(index + 1)
            return value, index + 1  # past ")"
        if token == "!":
            value, index = atom(index + 1)
            return not value, index
        if token.startswith("var."):
            return variables[token.removeprefix("var.")], index + 1
        return {"true": True, "false": False}.get(token, token.strip('"')), index + 1

    def comparison(index: int) -> tuple[object, int]:
        left, index = atom(index)
        if index < len(tokens) and tokens[index] in ("==", "!="):
            right, after = atom(index + 1)
            return (left == right) == (tokens[index] == "=="), after
        return left, index

    def both(index: int) -> tuple[object, int]:
        value, index = comparison(index)
        while index < len(tokens) and tokens[index] == "&&":
            right, index = comparison(index + 1)
            value = value and right
        return value, index

    def either(index: int) -> tuple[object, int]:
        value, index = both(index)
        while index < len(tokens) and tokens[index] == "||":
            right, index = both(index + 1)
            value = value or right
        return value, index

    try:
        value, end = either(0)
    except (IndexError, KeyError):
        return None
    return bool(value) if end == len(tokens) else None


################################################################################
# Model endpoint
################################################################################


def check_endpoint_rollout(tree: Tree) -> list[str]:
    """New configurations replace old ones safely; deployments roll back on alarms."""
    directory = module_dir("model_endpoint")
    if violations := missing_module(tree, "model_endpoint"):
        return violations
    configurations = tree.resources("aws_sagemaker_endpoint_configuration", directory)
    endpoints = tree.resources("aws_sagemaker_endpoint", directory)
    if len(configurations) != 1 or len(endpoints) != 1:
        violations.append(f"{directory}: expected one endpoint configuration and one endpoint")
    for configuration in configurations:
        # Every attribute forces replacement: a fixed name would collide, and create_before_destroy keeps the
        # endpoint serving from the old configuration until the new one exists.
        if not configuration.body.get("name_prefix") or "name" in configuration.body:
            violations.append(f"{configuration.where()}: uses a fixed name instead of name_prefix")
        if first(configuration.body, "lifecycle").get("create_before_destroy") is not True:
            violations.append(f"{configuration.where()}: no lifecycle create_before_destroy = true")
    for endpoint in endpoints:
        deployment = first(endpoint.body, "deployment_config")
        if not deployment.get("blue_green_update_policy"):
            violations.append(f"{endpoint.where()}: no deployment_config.blue_green_update_policy")
        if not first(first(deployment, "auto_rollback_configuration"), "alarms"):
            violations.append(f"{endpoint.where()}: no deployment_config.auto_rollback_configuration alarms")
        config_ref = reference(endpoint.body.get("endpoint_config_name")) or ""
        if not config_ref.startswith("aws_sagemaker_endpoint_configuration."):
            violations.append(f"{endpoint.where()}: endpoint_config_name is not this module's endpoint configuration")
    return violations


def check_serving_image(tree: Tree) -> list[str]:
    """The model runs in AWS's TensorFlow Serving image, looked up by aws_sagemaker_prebuilt_ecr_image."""
    directory = module_dir("model_endpoint")
    if violations := missing_module(tree, "model_endpoint"):
        return violations
    images = list(tree.blocks("data", "aws_sagemaker_prebuilt_ecr_image", directory))
    repositories = [resolve_local(tree, directory, image.body.get("repository_name")) for image in images]
    if "tensorflow-inference" not in repositories:
        violations.append(f"{directory}: no aws_sagemaker_prebuilt_ecr_image with repository_name tensorflow-inference")
    models = tree.resources("aws_sagemaker_model", directory)
    if not models:
        violations.append(f"{directory}: no aws_sagemaker_model")
    for model in models:
        container = first(model.body, "primary_container") or first(model.body, "container")
        if not str(container.get("image", "")).startswith("${data.aws_sagemaker_prebuilt_ecr_image."):
            violations.append(f"{model.where()}: container image is not the prebuilt TensorFlow Serving image")
    return violations


################################################################################
# Env roots
################################################################################


def check_env_roots(tree: Tree) -> list[str]:
    """Each env root calls the stack module, keeps state in S3 (partial config) and outputs what deploy reads."""
    violations = []
    for environment in ENVIRONMENTS:
        directory = f"envs/{environment}"
        if not any(file.startswith(directory + "/") for file in tree.documents):
            violations.append(f"{directory}: no .tf files")
            continue
        calls = tree.blocks("module", directory=directory)
        if not any(str(call.body.get("source", "")).endswith("modules/stack") for call in calls):
            violations.append(f"{directory}: does not call modules/stack")
        backends = [
            backend for settings in tree.terraform_settings(directory) for backend in as_list(settings.get("backend"))
        ]
        if not any("s3" in backend for backend in backends):
            violations.append(f'{directory}: no backend "s3"')
        outputs = {output.name for output in tree.blocks("output", directory=directory)}
        violations += [f"{directory}: no output {name!r}" for name in ENV_ROOT_OUTPUTS if name not in outputs]
    return violations


################################################################################
# The handler's metrics on the dashboard and the flagged-share alarm
################################################################################


@dataclass(frozen=True)
class HandlerMetrics:
    """What lambda/handler.py emits: its namespace, every metric name, and the prefix of the per-label metrics."""

    namespace: str
    names: frozenset[str]
    flag_prefix: str

    @classmethod
    def read(cls, handler_file: Path) -> HandlerMetrics:
        """The handler's METRICS_NAMESPACE, METRIC_UNITS and FLAG_METRIC_PREFIX, read as literals (not imported: the
        handler needs its environment and boto3 at import)."""
        constants = {
            target.id: node.value
            for node in ast.parse(handler_file.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        literal = {
            name: ast.literal_eval(constants[name])
            for name in ("METRICS_NAMESPACE", "METRIC_UNITS", "FLAG_METRIC_PREFIX")
        }
        return cls(literal["METRICS_NAMESPACE"], frozenset(literal["METRIC_UNITS"]), literal["FLAG_METRIC_PREFIX"])


NAMESPACE_LOCAL = "local.metrics_namespace"
SERVICE_DIMENSION = ("Service", "${var.metrics_service}")
# In expressions python-hcl2 keeps as text (for expressions): `[local.metrics_namespace, "Name", "Service", var.x`.
METRIC_IN_EXPRESSION = re.compile(r'local\.metrics_namespace\s*,\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*([\w.]+)')
# In SEARCH expressions: {<namespace>,<dimension names>} MetricName="Name" Service="<service>".
METRIC_IN_SEARCH = re.compile(
    r"\{\$\{local\.metrics_namespace\},[^}]*\}[^']*MetricName=\"([^\"]+)\"[^']*Service=\"([^\"]+)\""
)
# A metric name built per label in a for expression: "Flags_${label}".
PER_LABEL_NAME = re.compile(r"^(\w+)\$\{\w+\}$")


def handler_metric_references(tree: Tree, directory: str, value) -> list[tuple[str, tuple]]:
    """(metric name, (dimension, value, ...)) of every metric of the handler's namespace that `value` refers to: in
    dashboard metric arrays, in for expressions, in SEARCH expressions and in alarm metric blocks (locals resolved)."""
    value = resolve_local(tree, directory, value)
    if isinstance(value, dict):
        references = []
        if reference(value.get("namespace")) == NAMESPACE_LOCAL and "metric_name" in value:
            dimensions = resolve_local(tree, directory, value.get("dimensions"))
            references.append((value["metric_name"], tuple(item for pair in dimensions.items() for item in pair)))
        return references + [ref for item in value.values() for ref in handler_metric_references(tree, directory, item)]
    if isinstance(value, list):
        references = []
        if value and reference(value[0]) == NAMESPACE_LOCAL:
            references.append((value[1], tuple(item for item in value[2:] if not isinstance(item, dict))))
        return references + [ref for item in value for ref in handler_metric_references(tree, directory, item)]
    if isinstance(value, str):
        in_expressions = [
            (name, (key, f"${{{dimension}}}")) for name, key, dimension in METRIC_IN_EXPRESSION.findall(value)
        ]
        return in_expressions + [(name, ("Service", service)) for name, service in METRIC_IN_SEARCH.findall(value)]
    return []


def check_handler_metrics(tree: Tree, metrics: HandlerMetrics) -> list[str]:
    """The dashboard shows every metric the handler emits and no other name in its namespace; the flagged-share
    alarm divides FlaggedTexts by TextsScored; all per Service = var.metrics_service, in the handler's namespace."""
    directory = module_dir("monitoring")
    if violations := missing_module(tree, "monitoring"):
        return violations
    namespace = resolve_local(tree, directory, f"${{{NAMESPACE_LOCAL}}}")
    if namespace != metrics.namespace:
        violations.append(
            f"{directory}: {NAMESPACE_LOCAL} is {namespace!r}, the handler's namespace is {metrics.namespace!r}"
        )
    dashboards = tree.resources("aws_cloudwatch_dashboard", directory)
    alarms = [
        alarm
        for alarm in tree.resources("aws_cloudwatch_metric_alarm", directory)
        if alarm.name == "flagged_share_anomaly"
    ]
    if len(dashboards) != 1 or len(alarms) != 1:
        return [*violations, f"{directory}: expected one aws_cloudwatch_dashboard and the flagged_share_anomaly alarm"]
    shown = handler_metrics_used(tree, dashboards[0], metrics, violations)
    watched = handler_metrics_used(tree, alarms[0], metrics, violations)
    emitted = metrics.names | {f"{metrics.flag_prefix}<label>"}
    violations += [f"{dashboards[0].where()}: does not show {name!r}" for name in sorted(emitted - shown)]
    if watched != {"FlaggedTexts", "TextsScored"}:
        violations.append(f"{alarms[0].where()}: watches {sorted(watched)}, not FlaggedTexts / TextsScored")
    return violations


def handler_metrics_used(tree: Tree, block: Block, metrics: HandlerMetrics, violations: list[str]) -> set[str]:
    """The handler metrics `block` uses ("Flags_<label>" for the per-label ones); adds a violation for each name the
    handler does not emit and each reference not per Service = var.metrics_service."""
    used = set()
    for name, dimensions in handler_metric_references(tree, block.directory, block.body):
        if (per_label := PER_LABEL_NAME.match(name)) and per_label.group(1) == metrics.flag_prefix:
            name = f"{metrics.flag_prefix}<label>"
        elif name not in metrics.names:
            violations.append(f"{block.where()}: metric {name!r}, which lambda/handler.py does not emit")
        if dimensions != SERVICE_DIMENSION:
            violations.append(f"{block.where()}: metric {name!r} with dimensions {dimensions}, not {SERVICE_DIMENSION}")
        used.add(name)
    return used


RULES: list[Callable[[Tree], list[str]]] = [
    check_layout,
    check_declarations_in_their_files,
    check_variables_typed_and_described,
    check_output_names,
    check_outputs_described,
    check_readmes_document_interface,
    check_versions_pinned,
    check_iam_least_privilege,
    check_lambda_policy,
    check_roles_carry_permissions_boundary,
    check_deploy_roles_bounded,
    check_generated_id_services_environment_scoped,
    check_cognito_environment_scoped,
    check_roles_cover_stack_resources,
    check_bootstrap_policy_sizes,
    check_service_principals_scoped,
    check_lambda_endpoint_wiring,
    check_rollback_alarms_wired,
    check_api_routes,
    check_lambda_permission,
    check_api_authorization,
    check_cognito_clients,
    check_auth_wiring,
    check_prod_requires_auth,
    check_endpoint_rollout,
    check_serving_image,
    check_env_roots,
]
