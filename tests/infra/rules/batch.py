"""Batch scoring (`toxiguard score --cloud`): the batch bucket, the transform role SageMaker runs the CLI's models as,
the operator policy the CLI's users get, and the outputs the CLI reads, in the stack and both env roots.

The module is rendered as the stack calls it, for the bootstrap's example inputs (hcl_eval.py, as bootstrap.py renders
the bootstrap's documents), so the rules compare what IAM would get with the names the bootstrap expects: the transform
role reads only input/ and the model archives, writes only output/ and uses keys only through S3 for these two buckets;
the operator creates only the stack's models and jobs and passes only the transform role, to SageMaker only; and the
environment's permissions boundary lets each of the role's actions through on those names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from toxiguard.cloud.transform import SETTING_SOURCES

from ..hcl_eval import Lazy, UnsupportedExpression, evaluate_value, resolve
from .bootstrap import TYPICAL_INPUTS, BootstrapInputs, RenderError, flat, render_bootstrap_documents, render_statement
from .iam import action_covers
from .tree import ENVIRONMENTS, Tree, as_list, first, missing_module, module_dir, stack_module_calls

MODULE = "batch_transform"
ENVIRONMENT = TYPICAL_INPUTS.environments[0]  # the environment the module is rendered for
INPUT_PREFIX, OUTPUT_PREFIX = "input/", "output/"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"

# What toxiguard score --cloud reads from `terraform output -json` (the names of issue 14's design), and where the
# stack takes each from; the env roots pass each on under the same name.
STACK_OUTPUTS = {
    "transform_role_arn": "${module.batch_transform.transform_role_arn}",
    "batch_input_uri": "${module.batch_transform.input_uri}",
    "batch_output_uri": "${module.batch_transform.output_uri}",
    "batch_kms_key_arn": "${module.batch_transform.kms_key_arn}",
    "batch_name_prefix": "${module.batch_transform.name_prefix}",
    "batch_operator_policy_arn": "${module.batch_transform.operator_policy_arn}",
    "serving_image_uri": "${module.model_endpoint.image_registry_path}",
    "artifact_bucket_name": "${module.artifacts.bucket_name}",
}
# The days after which input/ and output/ expire: the module's input, whatever its value.
EXPIRATION_DAYS = "${var.object_expiration_days}"
# The endpoint's image, which its model runs (check_serving_image) and the batch models run too.
SERVING_IMAGE = "${data.aws_sagemaker_prebuilt_ecr_image.tensorflow_serving.registry_path}"


@dataclass(frozen=True)
class Names:
    """The names the stack gives batch scoring in one environment, as the bootstrap's roles and boundary expect them."""

    inputs: BootstrapInputs
    environment: str

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        inputs = self.inputs
        return (
            f"arn:{inputs.partition}:{service}:{inputs.region if region else ''}:"
            f"{inputs.account_id if account else ''}:{resource}"
        )

    @property
    def stack(self) -> str:
        return f"{self.inputs.project}-{self.environment}"

    @property
    def batch_bucket_name(self) -> str:
        return f"{self.stack}-batch-{self.inputs.account_id}"

    @property
    def batch_bucket(self) -> str:
        return self.arn("s3", self.batch_bucket_name, region=False, account=False)

    @property
    def artifact_bucket(self) -> str:
        return self.arn("s3", f"{self.stack}-artifacts-{self.inputs.account_id}", region=False, account=False)

    @property
    def name_prefix(self) -> str:
        return f"{self.stack}-batch"

    @property
    def keys(self) -> str:
        return self.arn("kms", "key/*")

    @property
    def log_group(self) -> str:
        return self.arn("logs", f"log-group:{TRANSFORM_LOG_GROUP}")

    @property
    def serving_repository(self) -> str:
        inputs = self.inputs
        return f"arn:{inputs.partition}:ecr:{inputs.region}:{inputs.ecr_registry_id}:repository/tensorflow-inference"

    @property
    def through_s3(self) -> dict:
        """The KMS statement's conditions: through S3, for the objects of the batch and artifact buckets."""
        buckets = [self.batch_bucket, self.artifact_bucket]
        return {
            "StringEquals": {"kms:ViaService": f"s3.{self.inputs.region}.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [*buckets, *(f"{b}/*" for b in buckets)]},
        }


NAMES = Names(TYPICAL_INPUTS, ENVIRONMENT)


def transform_grants(names: Names) -> dict[tuple[str, str], dict]:
    """(action, resource) => conditions: everything the transform role may do, and nothing more."""
    batch, artifacts, group = names.batch_bucket, names.artifact_bucket, names.log_group
    grants = {
        ("s3:ListBucket", batch): {"StringLike": {"s3:prefix": f"{INPUT_PREFIX}*"}},
        ("s3:GetObject", f"{batch}/{INPUT_PREFIX}*"): {},
        ("s3:GetObject", f"{artifacts}/models/*/model.tar.gz"): {},
        ("s3:PutObject", f"{batch}/{OUTPUT_PREFIX}*"): {},
        ("s3:AbortMultipartUpload", f"{batch}/{OUTPUT_PREFIX}*"): {},
        ("kms:Decrypt", names.keys): names.through_s3,
        ("kms:GenerateDataKey", names.keys): names.through_s3,
        ("ecr:GetAuthorizationToken", "*"): {},
        ("logs:PutLogEvents", f"{group}:log-stream:{names.name_prefix}-*"): {},
        ("cloudwatch:PutMetricData", "*"): {"StringEquals": {"cloudwatch:namespace": TRANSFORM_LOG_GROUP}},
    }
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        grants[(action, names.serving_repository)] = {}
    for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"):
        grants |= {(action, group): {}, (action, f"{group}:*"): {}}
    return grants


def operator_grants(names: Names, transform_role_arn: str) -> dict[tuple[str, str], dict]:
    """(action, resource) => conditions: everything the operator policy allows, and nothing more."""
    batch, artifacts = names.batch_bucket, names.artifact_bucket
    models = names.arn("sagemaker", f"model/{names.name_prefix}-*")
    jobs = names.arn("sagemaker", f"transform-job/{names.name_prefix}-*")
    grants = {
        ("iam:PassRole", transform_role_arn): {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ("s3:ListBucket", batch): {"StringLike": {"s3:prefix": [f"{INPUT_PREFIX}*", f"{OUTPUT_PREFIX}*"]}},
        ("s3:ListBucket", artifacts): {"StringLike": {"s3:prefix": "models/*"}},
        ("s3:GetObject", f"{artifacts}/models/*/manifest.json"): {},
        ("kms:Decrypt", names.keys): names.through_s3,
        ("kms:GenerateDataKey", names.keys): names.through_s3,
    }
    grants |= {(action, models): {} for action in ("sagemaker:CreateModel", "sagemaker:DescribeModel")}
    grants |= {
        (action, jobs): {}
        for action in ("sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob")
    }
    grants |= {("sagemaker:AddTags", resource): {} for resource in (models, jobs)}
    for prefix in (INPUT_PREFIX, OUTPUT_PREFIX):
        grants |= {(action, f"{batch}/{prefix}*"): {} for action in ("s3:GetObject", "s3:PutObject")}
        grants[("s3:AbortMultipartUpload", f"{batch}/{prefix}*")] = {}
    return grants


################################################################################
# Rendering the module as the stack calls it
################################################################################


@dataclass(frozen=True)
class RenderedModule:
    documents: dict[str, dict]  # policy document name => JSON object (source_policy_documents' statements first)
    role_policies: dict[str, list[str]]  # role resource name => the documents of its inline policies
    trust: dict[str, str]  # role resource name => its assume_role_policy's document
    role_arns: dict[str, str]
    managed_policies: dict[str, str]  # aws_iam_policy resource name => its document
    outputs: dict[str, object]
    bucket: dict[str, object]  # module "bucket"'s arguments, rendered
    bucket_expressions: dict[str, object]  # the same as written


def locals_of(tree: Tree, directory: str, scope: dict) -> dict[str, Lazy]:
    return {
        block.name: Lazy(lambda body=block.body: evaluate_value(body, scope))
        for block in tree.blocks("locals", directory=directory)
    }


def render_value(value, scope: dict):
    """A dumped value evaluated in `scope`, map keys as well (`{ (local.input_prefix) = 7 }`)."""
    if isinstance(value, dict):
        return {render_value(key, scope): render_value(item, scope) for key, item in value.items()}
    return evaluate_value(value, scope)


def stack_scope(tree: Tree, names: Names) -> dict:
    """The stack's var, data, local and the outputs of the modules batch_transform takes its inputs from."""
    inputs, stack = names.inputs, module_dir("stack")
    variables = {variable.name: variable.body.get("default") for variable in tree.blocks("variable", directory=stack)}
    variables.update(
        project=inputs.project,
        environment=names.environment,
        permissions_boundary_arn=names.arn("iam", f"policy/{names.stack}-permissions-boundary", region=False),
    )
    scope: dict = {"var": variables, "data": {"aws_caller_identity": {"current": {"account_id": inputs.account_id}}}}
    scope["local"] = locals_of(tree, stack, scope)
    # The endpoint's image repository as model_endpoint builds it, for AWS's registry of the example region.
    endpoint = {
        "data": {
            "aws_partition": {"current": {"partition": inputs.partition}},
            "aws_region": {"current": {"region": inputs.region}},
            "aws_sagemaker_prebuilt_ecr_image": {"tensorflow_serving": {"registry_id": inputs.ecr_registry_id}},
        }
    }
    endpoint["local"] = locals_of(tree, module_dir("model_endpoint"), endpoint)
    scope["module"] = {
        # private_bucket's ARN of the bucket the stack names.
        "artifacts": {
            "bucket_arn": Lazy(
                lambda: f"arn:{inputs.partition}:s3:::{evaluate_value('${local.artifact_bucket_name}', scope)}"
            )
        },
        "model_endpoint": {"image_repository_arn": Lazy(lambda: resolve(endpoint["local"]["image_repository_arn"]))},
    }
    return scope


def render_batch_module(tree: Tree, names: Names = NAMES) -> RenderedModule:
    """The module's documents, roles, managed policies, outputs and bucket arguments for `names`' environment."""
    directory, inputs = module_dir(MODULE), names.inputs
    call = stack_module_calls(tree).get(MODULE)
    if call is None:
        raise RenderError(f"{module_dir('stack')}: does not call ../{MODULE}")
    stack = stack_scope(tree, names)
    variables: dict = {
        variable.name: variable.body.get("default") for variable in tree.blocks("variable", directory=directory)
    }
    variables |= {
        name: Lazy(lambda value=value: render_value(value, stack))
        for name, value in call.body.items()
        if name in variables
    }
    partition, account = inputs.partition, inputs.account_id
    roles = {role.name: role for role in tree.resources("aws_iam_role", directory)}
    policies = {policy.name: policy for policy in tree.resources("aws_iam_policy", directory)}
    document_blocks = {block.name: block for block in tree.blocks("data", "aws_iam_policy_document", directory)}
    scope: dict = {
        "var": variables,
        "data": {
            "aws_caller_identity": {"current": {"account_id": account}},
            "aws_partition": {"current": {"partition": partition}},
            "aws_region": {"current": {"region": inputs.region}},
            # A document's .json stands for the document's name.
            "aws_iam_policy_document": {name: {"json": name} for name in document_blocks},
        },
        # private_bucket's outputs for the bucket name it is given.
        "module": {
            "bucket": {
                "bucket_name": Lazy(lambda: resolve(variables["bucket_name"])),
                "bucket_arn": Lazy(lambda: f"arn:{partition}:s3:::{resolve(variables['bucket_name'])}"),
            }
        },
    }
    scope["local"] = locals_of(tree, directory, scope)
    scope["aws_iam_role"] = {
        name: {
            "arn": Lazy(
                lambda role=role: f"arn:{partition}:iam::{account}:role/{render_value(role.body['name'], scope)}"
            )
        }
        for name, role in roles.items()
    }
    scope["aws_iam_policy"] = {
        name: {"arn": Lazy(lambda p=p: f"arn:{partition}:iam::{account}:policy/{render_value(p.body['name'], scope)}")}
        for name, p in policies.items()
    }

    def document(name: str, seen: tuple = ()) -> dict:
        if name in seen or name not in document_blocks:
            raise RenderError(f"{directory}: no (or a circular) data.aws_iam_policy_document.{name}")
        body = document_blocks[name].body
        statements = [
            statement
            for source in re.findall(
                r"data\.aws_iam_policy_document\.(\w+)\.json", str(body.get("source_policy_documents"))
            )
            for statement in document(source, (*seen, name))["Statement"]
        ]
        statements += [render_statement(statement, scope) for statement in as_list(body.get("statement"))]
        return {"Version": "2012-10-17", "Statement": statements}

    def document_of(value) -> str:
        match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", str(value))
        return match.group(1) if match else ""

    try:
        documents = {name: document(name) for name in document_blocks}
        role_policies: dict[str, list[str]] = {name: [] for name in roles}
        for policy in tree.resources("aws_iam_role_policy", directory):
            role = re.fullmatch(r"\$\{aws_iam_role\.(\w+)\.(id|name)\}", str(policy.body.get("role")))
            if role and role.group(1) in role_policies:
                role_policies[role.group(1)].append(document_of(policy.body.get("policy")))
        bucket = next((c.body for c in tree.blocks("module", directory=directory) if c.name == "bucket"), {})
        return RenderedModule(
            documents=documents,
            role_policies=role_policies,
            trust={name: document_of(role.body.get("assume_role_policy")) for name, role in roles.items()},
            role_arns={name: resolve(scope["aws_iam_role"][name]["arn"]) for name in roles},
            managed_policies={name: document_of(p.body.get("policy")) for name, p in policies.items()},
            outputs={
                output.name: render_value(output.body.get("value"), scope)
                for output in tree.blocks("output", directory=directory)
            },
            bucket={key: render_value(value, scope) for key, value in bucket.items()},
            bucket_expressions=bucket,
        )
    except (UnsupportedExpression, KeyError, TypeError) as error:
        raise RenderError(f"{directory}: cannot render the module as the stack calls it: {error}") from error


def rendered_or_violation(tree: Tree) -> tuple[RenderedModule | None, list[str]]:
    if violations := missing_module(tree, MODULE) + missing_module(tree, "stack"):
        return None, violations
    try:
        return render_batch_module(tree), []
    except RenderError as error:
        return None, [str(error)]


################################################################################
# Comparing what a document grants with what it should
################################################################################


def normalized(conditions: dict) -> dict:
    """Conditions with every value a sorted tuple (the rendering writes one value as a string)."""
    return {
        test: {key: tuple(sorted(flat(values))) for key, values in keys.items()} for test, keys in conditions.items()
    }


def grants_of(document: dict) -> dict[tuple[str, str], list[dict]]:
    """(action, resource) => the conditions of each Allow statement that grants it (two statements granting the same
    under different conditions are both kept: the wider one wins in IAM)."""
    grants: dict[tuple[str, str], list[dict]] = {}
    for statement in document["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        for action in flat(statement.get("Action")):
            for resource in flat(statement.get("Resource")):
                grants.setdefault((action, resource), []).append(normalized(statement.get("Condition", {})))
    return grants


def compare_grants(who: str, document: dict, expected: dict[tuple[str, str], dict]) -> list[str]:
    granted, expected = grants_of(document), {key: [normalized(value)] for key, value in expected.items()}
    violations = [
        f"{who} may {action} on {resource!r}, which it does not need"
        for action, resource in sorted(granted.keys() - expected.keys())
    ]
    violations += [
        f"{who} may not {action} on {resource!r}" for action, resource in sorted(expected.keys() - granted.keys())
    ]
    violations += [
        f"{who} may {action} on {resource!r} under conditions {granted[(action, resource)]}, "
        f"not {expected[(action, resource)]}"
        for action, resource in sorted(granted.keys() & expected.keys())
        if granted[(action, resource)] != expected[(action, resource)]
    ]
    violations += [
        f"{who}: a Deny, NotAction or NotResource statement, which these rules do not read: {statement}"
        for statement in document["Statement"]
        if statement.get("Effect") != "Allow" or {"NotAction", "NotResource"} & statement.keys()
    ]
    return violations


################################################################################
# Rules
################################################################################


def check_transform_role(tree: Tree) -> list[str]:
    """The transform role is trusted by SageMaker for this account only and may do exactly what a transform job needs
    (transform_grants): list and read input/ of the batch bucket, read the published model archives, write output/, use
    keys only through S3 for those two buckets' objects, pull the serving image, write its jobs' logs and metrics; one
    inline policy, no managed policies."""
    rendered, violations = rendered_or_violation(tree)
    if rendered is None:
        return violations
    directory = module_dir(MODULE)
    if len(rendered.role_policies) != 1:
        return [f"{directory}: {len(rendered.role_policies)} aws_iam_role resources, expected one (the transform role)"]
    ((role, documents),) = rendered.role_policies.items()
    who = f"{directory}: the transform role (aws_iam_role.{role})"
    if len(documents) != 1 or documents[0] not in rendered.documents:
        return [f"{who}: {len(documents)} inline policies of a data.aws_iam_policy_document, expected one"]
    violations += compare_grants(who, rendered.documents[documents[0]], transform_grants(NAMES))

    trust = rendered.documents.get(rendered.trust[role], {"Statement": []})["Statement"]
    expected_trust = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": NAMES.inputs.account_id}},
    }
    if [{key: value for key, value in s.items() if key != "Sid"} for s in trust] != [expected_trust]:
        violations.append(f"{who}: trust policy is {trust}, not SageMaker for this account only: {expected_trust}")
    violations += [
        f"{block.where()}: managed policy attached to a role of {directory}"
        for block in tree.resources("aws_iam_role_policy_attachment", directory)
    ]
    violations += [
        f"{block.where()}: managed_policy_arns on a role of {directory}"
        for block in tree.resources("aws_iam_role", directory)
        if block.body.get("managed_policy_arns")
    ]
    return violations


def check_operator_policy(tree: Tree) -> list[str]:
    """The operator policy is one managed policy, attached to nothing by Terraform, allowing exactly what
    toxiguard score --cloud does with its user's credentials (operator_grants): create and follow the stack's models
    and transform jobs (<name>-batch-*), pass the transform role and no other to SageMaker only, read and write input/
    and output/ of the batch bucket, read the published manifests, keys only through S3."""
    rendered, violations = rendered_or_violation(tree)
    if rendered is None:
        return violations
    directory = module_dir(MODULE)
    if len(rendered.managed_policies) != 1 or len(rendered.role_arns) != 1:
        return [f"{directory}: expected one aws_iam_policy (the operator policy) and one aws_iam_role"]
    ((policy, document),) = rendered.managed_policies.items()
    (transform_role_arn,) = rendered.role_arns.values()
    if document not in rendered.documents:
        return [f"{directory}: aws_iam_policy.{policy}.policy is not a data.aws_iam_policy_document of the module"]
    who = f"{directory}: the operator policy (aws_iam_policy.{policy})"
    violations += compare_grants(who, rendered.documents[document], operator_grants(NAMES, transform_role_arn))
    attachments = [
        f"{block.where()}: attaches a policy in {directory}; the operator policy is for whoever administers access"
        for kind in ("aws_iam_policy_attachment", "aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment")
        for block in tree.resources(kind, directory)
    ]
    return violations + attachments


def check_batch_bucket(tree: Tree) -> list[str]:
    """The batch bucket is private_bucket's (created by it: versioned, public access blocked, TLS only) with SSE-KMS
    under aws/s3, the key batch_kms_key_arn names; input/ and output/ expire after object_expiration_days; the stack
    names it <project>-<environment>-batch-<account id>, as the bootstrap's boundary does."""
    rendered, violations = rendered_or_violation(tree)
    if rendered is None:
        return violations
    directory, bucket = module_dir(MODULE), rendered.bucket
    where = f"{directory}: module.bucket"
    if not str(bucket.get("source", "")).endswith("/private_bucket"):
        return [f"{where}: source is {bucket.get('source')!r}, not ../private_bucket"]
    if bucket.get("create_bucket", True) is not True:
        violations.append(f"{where}: create_bucket is {bucket.get('create_bucket')!r}: the module must create it")
    if bucket.get("bucket_name") != NAMES.batch_bucket_name:
        violations.append(
            f"{where}: bucket_name renders to {bucket.get('bucket_name')!r}, not {NAMES.batch_bucket_name!r}"
        )

    shared = module_dir("private_bucket")
    defaults = {v.name: v.body.get("default") for v in tree.blocks("variable", directory=shared)}
    if (algorithm := bucket.get("sse_algorithm", defaults.get("sse_algorithm"))) != "aws:kms":
        violations.append(f"{where}: sse_algorithm is {algorithm!r}, not aws:kms")
    for encryption in tree.resources("aws_s3_bucket_server_side_encryption_configuration", shared):
        default = first(first(encryption.body, "rule"), "apply_server_side_encryption_by_default")
        if "kms_master_key_id" in default:
            violations.append(
                f"{encryption.where()}: kms_master_key_id set, so the key is not aws/s3 as batch_kms_key_arn says"
            )
    versioning = [
        first(v.body, "versioning_configuration").get("status")
        for v in tree.resources("aws_s3_bucket_versioning", shared)
    ]
    if versioning != ["Enabled"]:
        violations.append(f"{shared}: versioning {versioning}, not Enabled")
    blocks = tree.resources("aws_s3_bucket_public_access_block", shared)
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    if len(blocks) != 1 or any(blocks[0].body.get(flag) is not True for flag in flags):
        violations.append(f"{shared}: no aws_s3_bucket_public_access_block with all of {flags} true")

    # Comment text is only staged: both prefixes expire after the module's input, and what expires is gone a day later.
    prefixes = sorted(bucket.get("expiration_days_by_prefix") or {})
    days = sorted({str(days) for days in (rendered.bucket_expressions.get("expiration_days_by_prefix") or {}).values()})
    if prefixes != [INPUT_PREFIX, OUTPUT_PREFIX] or days != [EXPIRATION_DAYS]:
        violations.append(
            f"{where}: expiration_days_by_prefix expires {prefixes} after {days}, not input/ and output/ "
            f"after {EXPIRATION_DAYS}"
        )
    if bucket.get("noncurrent_version_expiration_days") != 1:
        violations.append(
            f"{where}: noncurrent_version_expiration_days is {bucket.get('noncurrent_version_expiration_days')!r}, "
            "not 1: expired, deleted and overwritten comments would stay as noncurrent versions"
        )
    return violations


def check_batch_outputs(tree: Tree) -> list[str]:
    """The stack and both env roots output what toxiguard score --cloud reads, by the design's names (STACK_OUTPUTS),
    and the module's outputs are what the CLI expects: s3://<batch bucket>/input/ and /output/, aws/s3's alias ARN, the
    name prefix the operator policy allows; serving_image_uri is the image the endpoint's model runs."""
    rendered, violations = rendered_or_violation(tree)
    if rendered is None:
        return violations
    read_by_cli = {output for _, output, _ in SETTING_SOURCES}
    violations += [
        f"{module_dir('stack')}: toxiguard score --cloud reads the output {name!r}, which STACK_OUTPUTS lacks"
        for name in sorted(read_by_cli - set(STACK_OUTPUTS))
    ]
    stack_outputs = {o.name: o.body.get("value") for o in tree.blocks("output", directory=module_dir("stack"))}
    violations += [
        f"{module_dir('stack')}: output {name!r} is {stack_outputs.get(name)!r}, not {value}"
        for name, value in STACK_OUTPUTS.items()
        if stack_outputs.get(name) != value
    ]
    for environment in ENVIRONMENTS:
        directory = f"envs/{environment}"
        outputs = {o.name: o.body.get("value") for o in tree.blocks("output", directory=directory)}
        violations += [
            f"{directory}: output {name!r} is {outputs.get(name)!r}, not module.stack.{name}"
            for name in STACK_OUTPUTS
            if outputs.get(name) != f"${{module.stack.{name}}}"
        ]
    expected = {
        "input_uri": f"s3://{NAMES.batch_bucket_name}/{INPUT_PREFIX}",
        "output_uri": f"s3://{NAMES.batch_bucket_name}/{OUTPUT_PREFIX}",
        "kms_key_arn": NAMES.arn("kms", "alias/aws/s3"),
        "name_prefix": NAMES.name_prefix,
        "transform_role_arn": next(iter(rendered.role_arns.values()), None),
    }
    violations += [
        f"{module_dir(MODULE)}: output {name!r} renders to {rendered.outputs.get(name)!r}, not {value!r}"
        for name, value in expected.items()
        if rendered.outputs.get(name) != value
    ]
    endpoint_outputs = {
        o.name: o.body.get("value") for o in tree.blocks("output", directory=module_dir("model_endpoint"))
    }
    if endpoint_outputs.get("image_registry_path") != SERVING_IMAGE:
        violations.append(
            f"{module_dir('model_endpoint')}: output 'image_registry_path' is "
            f"{endpoint_outputs.get('image_registry_path')!r}, not the endpoint's image {SERVING_IMAGE}"
        )
    return violations


def example_resource(pattern: str) -> str:
    """A resource a request could name for an ARN pattern: "*" stays (no resource type), other wildcards are filled."""
    return pattern if pattern == "*" else pattern.replace("*", "x")


def boundary_allows(boundary: dict, action: str, resource: str, conditions: dict) -> bool:
    """Some Allow statement of the boundary covers the action on the resource, and each of its conditions is one the
    role's statement holds at least as narrowly (every value the role allows matches one the boundary allows)."""
    role_conditions = {key.lower(): values for keys in conditions.values() for key, values in keys.items()}
    for statement in boundary["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        if not any(action_covers(pattern, action) for pattern in flat(statement.get("Action"))):
            continue
        if not any(fnmatchcase(resource, pattern) for pattern in flat(statement.get("Resource"))):
            continue
        if all(
            key.lower() in role_conditions
            and all(any(fnmatchcase(v, allowed) for allowed in flat(values)) for v in role_conditions[key.lower()])
            for keys in statement.get("Condition", {}).values()
            for key, values in keys.items()
        ):
            return True
    return False


def check_boundary_allows_transform_role(tree: Tree) -> list[str]:
    """The environment's permissions boundary (bootstrap) lets every action of the transform role through on the
    resources the stack gives it, under the role's own conditions: a boundary behind the module would fail every
    transform job with AccessDenied, which nothing offline would show."""
    rendered, violations = rendered_or_violation(tree)
    if rendered is None:
        return violations
    try:
        boundary = render_bootstrap_documents(tree, NAMES.inputs).get(("permissions_boundary", ENVIRONMENT))
    except RenderError as error:
        return [str(error)]
    if boundary is None:
        return ["bootstrap: no data.aws_iam_policy_document.permissions_boundary made per environment"]
    for role, documents in rendered.role_policies.items():
        for name in documents:
            for (action, resource), statements in sorted(grants_of(rendered.documents[name]).items()):
                violations += [
                    f"bootstrap: the {ENVIRONMENT} permissions boundary does not let {module_dir(MODULE)}'s "
                    f"aws_iam_role.{role} {action} on {resource!r} (under {conditions or 'no conditions'})"
                    for conditions in statements
                    if not boundary_allows(boundary, action, example_resource(resource), conditions)
                ]
    return violations
