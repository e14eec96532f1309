"""`toxiguard score --cloud`: score CSV files in S3 with a SageMaker Batch Transform job on a published model.

    <in>/*.csv, *.csv.gz                           the user's files, read twice (to send, to join), never changed
    <in>/_toxiguard/<job>/<n>-<name>.jsonl         what the job sends: one `{"text": ...}` record per sendable row
    <out>/_toxiguard/<job>/plan.json               what was sent (`TransformPlan`), so a later process can join
    <out>/_toxiguard/<job>/<n>-<name>.jsonl.out    the container's answers: one `{"predictions": ...}` line per request
    <out>/<stem>.scored.csv[.gz]                   the result: local `toxiguard score`'s columns, every row in order

1. Settings come from Terraform's outputs (`terraform output -json` as --stack-outputs FILE, or TOXIGUARD_*
   variables): the transform role, which may read only `batch_input_uri` and the published models and write only
   `batch_output_uri`, so <in> and <out> must lie under those; `batch_name_prefix`, the only names the operator
   policy lets its user give models and jobs.
2. Prepare, with the user's credentials: each CSV directly under <in>, in key order, streamed through
   `transform_data.convert_csv` (local `score`'s row checks) into its staging object.
3. A SageMaker model per published version and serving image (reused), and a transform job on the staging prefix.
4. `--wait` follows the job; then, or later with `toxiguard score-join JOB`, `transform_data.join` pairs each file's
   rows with the container's predictions and the scored CSVs are uploaded. Plain boto3, as `train-cloud`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from botocore.exceptions import ClientError

from toxiguard.artifact import TARBALL_FILE
from toxiguard.cloud import BUCKET_NAME, IAM_ROLE_ARN
from toxiguard.cloud.aws import (
    CommandError,
    aws_errors,
    error_code,
    follow_job,
    is_missing,
    job_outcome,
    upload_file,
)
from toxiguard.cloud.jobs import job_name, parse_s3_uri
from toxiguard.cloud.publish import MODELS_PREFIX, published_versions, read_published_manifest, version_key
from toxiguard.cloud.transform_data import (
    JoinSummary,
    SendPlan,
    TransformDataError,
    convert_csv,
    join,
    payload_limit_bytes,
    staging_name,
)
from toxiguard.config import LABELS, TEXT_COLUMN, file_sha256
from toxiguard.serving import batch

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# The job's settings and where their numbers come from
# --------------------------------------------------------------------------------------------------

# BatchStrategy MultiRecord: a request carries as many records as fit in MaxPayloadInMB, so the per-request cost
# (HTTP, TF Serving's JSON parsing, one signature call's fixed overhead) is paid once per ~2,500 comments instead of
# once per comment; a single comment through the signature costs 2.0 ms against 0.7 ms each in batches of 256
# (bench/results/ml.json, serving_in_process: single_comment p50 1.99 ms; batch_256_arrival_order 1,438/s). Records
# go out in staging order (transform_data: each window shortest first) and AssembleWith Line writes one output line
# per request in the same order, so the join can flatten the predictions in that order.
BATCH_STRATEGY = "MultiRecord"

# MaxPayloadInMB = 1, the smallest whole value (0 would mean requests of any size, sent with chunked encoding).
# A record is ~400 bytes (399 on average over train_assembled.csv.gz's 52,416 comments as `{"text": ...}` lines),
# so a request holds ~2,500 comments. TF Serving calls the signature on a request's instances as they come: padded
# to the longest, not length-sorted as the local model server and the in-process scorer do. In arrival order the
# signature scored 1,316 comments/s in batches of 64 and 1,438/s in batches of 256 on 2 vCPUs (bench/results/ml.json,
# serving_in_process.batch_64_arrival_order and batch_256_arrival_order). A spot check of 1 MB requests (not in
# bench/results: one run on the busy 2-vCPU development machine, the same 12,000 comments at each size) scored 767
# comments/s in requests of 256 and 737/s in requests of ~2,500, while the process's peak memory grew from 1.0 to
# 3.1 GB: larger requests gain nothing and each one in flight holds ~2 GB, so the smallest payload is kept. A full
# request takes ~1.7 s at the benchmark's rate (2,500 / 1,438), against the invocation timeout's default of 600 s.
MAX_PAYLOAD_MB = 1

# The CPU instance types Batch Transform offers that this job allows, with their vCPUs. The serving image is AWS's
# tensorflow-inference CPU build, so GPU types would pay for an idle GPU. Each holds 2 GiB of memory per vCPU or
# more, which covers ~2 GB per request in flight (one per 2 vCPUs, see concurrent_requests) plus the server; not
# ml.c6i.large (2 vCPUs, 4 GiB), where one request and the server would come to ~3 GB of the 4.
INSTANCE_VCPUS = {
    "ml.c5.xlarge": 4,
    "ml.c5.2xlarge": 8,
    "ml.c5.4xlarge": 16,
    "ml.c6i.xlarge": 4,
    "ml.c6i.2xlarge": 8,
    "ml.c6i.4xlarge": 16,
    "ml.m5.large": 2,
    "ml.m5.xlarge": 4,
    "ml.m5.2xlarge": 8,
}
# 4 vCPUs: two concurrent requests; the README's cost estimate is for this type.
DEFAULT_INSTANCE_TYPE = "ml.c5.xlarge"

JSONLINES = "application/jsonlines"
STAGING_DIR = "_toxiguard"  # under <in> and <out>: what the job reads and writes, apart from the user's files
PLAN_FILE = "plan.json"
PLAN_FORMAT = 1
MAX_NAME_LENGTH = 63  # SageMaker's model and job names
JOB_NAME_SUFFIX_LENGTH = len("-20270101-000000-abcd")  # transform_job_name's part after the prefix
TAGS = {"Project": "toxiguard", "CreatedBy": "toxiguard score --cloud"}


# MaxConcurrentTransforms = vCPUs / 2: two signature calls at once fill 2 vCPUs, since one call leaves part of the
# second core idle while its LSTM steps through time. Measured on 2 vCPUs: length-sorted batches of 64 one at a
# time 3,143 comments/s, two at once 3,926/s (1.25x; bench/results/ml.json, batch_64_length_sorted and
# batch_64_scorer); through the local stack 64-comment requests at concurrency 1 / 2 / 4 gave 2,509 / 2,771 / 2,925
# comments/s (bench/results/serving.json, runs.micro_batching.batch_64): 2 concurrent requests per 2 vCPUs take
# most of the gain, more only queue. (SageMaker caps MaxConcurrentTransforms x MaxPayloadInMB at 100 MB: 8 x 1 here.)
def concurrent_requests(instance_type: str) -> int:
    """MaxConcurrentTransforms for `instance_type`: one request per 2 vCPUs."""
    return max(1, INSTANCE_VCPUS[instance_type] // 2)


@dataclasses.dataclass(frozen=True)
class JobResources:
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1

    def __post_init__(self):
        if self.instance_type not in INSTANCE_VCPUS:
            raise CommandError(
                f"--instance-type {self.instance_type} is not one this job runs on; choose one of "
                f"{', '.join(INSTANCE_VCPUS)}", 2,
            )  # fmt: skip
        if self.instance_count < 1:
            raise CommandError(f"--instances must be at least 1, not {self.instance_count}", 2)


# --------------------------------------------------------------------------------------------------
# Settings: Terraform's outputs
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class S3Prefix:
    """`s3://<bucket>/<key>` where the key is empty or ends with `/`."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str, what: str) -> S3Prefix:
        match = re.fullmatch(rf"s3://({BUCKET_NAME})/?(.*)", uri)
        if not match:
            raise CommandError(f"{what}: {uri!r} is not an s3://<bucket>/<prefix>/ URI", 2)
        key = match.group(2)
        return cls(match.group(1), key if not key or key.endswith("/") else key + "/")

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, *names: str) -> S3Prefix:
        return S3Prefix(self.bucket, self.key + "".join(f"{name}/" for name in names))

    def within(self, other: S3Prefix) -> bool:
        return self.bucket == other.bucket and self.key.startswith(other.key)


# (setting, Terraform output, environment variable): one loader reads either source.
SETTING_SOURCES = (
    ("role_arn", "transform_role_arn", "TOXIGUARD_TRANSFORM_ROLE_ARN"),
    ("input_uri", "batch_input_uri", "TOXIGUARD_BATCH_INPUT_URI"),
    ("output_uri", "batch_output_uri", "TOXIGUARD_BATCH_OUTPUT_URI"),
    ("kms_key_arn", "batch_kms_key_arn", "TOXIGUARD_BATCH_KMS_KEY_ARN"),
    ("image_uri", "serving_image_uri", "TOXIGUARD_SERVING_IMAGE_URI"),
    ("artifact_bucket", "artifact_bucket_name", "TOXIGUARD_ARTIFACT_BUCKET"),
    # The operator policy allows models and jobs with this prefix only, and the role writes only their log streams.
    ("name_prefix", "batch_name_prefix", "TOXIGUARD_BATCH_NAME_PREFIX"),
)
SETTING_PATTERNS = {
    "role_arn": (IAM_ROLE_ARN, "an IAM role ARN"),
    "kms_key_arn": (re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[\w/+=,.@-]+"), "a KMS key ARN"),
    "image_uri": (
        re.compile(r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[\w./-]+(:[\w.-]+|@sha256:[0-9a-f]{64})"),
        "an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>)",
    ),
    "artifact_bucket": (re.compile(BUCKET_NAME), "an S3 bucket name"),
    "name_prefix": (
        re.compile(rf"[a-z0-9]([a-z0-9-]{{0,{MAX_NAME_LENGTH - JOB_NAME_SUFFIX_LENGTH - 2}}}[a-z0-9])?"),
        f"a SageMaker name prefix (lower-case letters, digits and hyphens, at most "
        f"{MAX_NAME_LENGTH - JOB_NAME_SUFFIX_LENGTH} characters)",
    ),
}


@dataclasses.dataclass(frozen=True)
class TransformSettings:
    role_arn: str
    input_prefix: S3Prefix
    output_prefix: S3Prefix
    kms_key_arn: str
    image_uri: str
    artifact_bucket: str
    name_prefix: str

    @classmethod
    def from_values(cls, values: Mapping[str, object], names: Mapping[str, str], source: str) -> TransformSettings:
        """Check `values` (setting -> value); `names` says what each setting is called in `source` (for messages)."""
        missing = [names[setting] for setting, _, _ in SETTING_SOURCES if not values.get(setting)]
        if missing:
            raise CommandError(
                f"{source} has no {', '.join(missing)}: apply the stack (terraform/envs/<env>) with the batch "
                "transform outputs, or set the TOXIGUARD_* variables the README lists", 2,
            )  # fmt: skip
        for setting, value in values.items():
            if not isinstance(value, str):
                raise CommandError(f"{source}: {names[setting]} is not a string: {value!r}", 2)
            pattern, meaning = SETTING_PATTERNS.get(setting, (None, ""))
            if pattern is not None and not pattern.fullmatch(value):
                raise CommandError(f"{source}: {names[setting]} is not {meaning}: {value!r}", 2)
        input_prefix = S3Prefix.parse(values["input_uri"], f"{source}: {names['input_uri']}")
        output_prefix = S3Prefix.parse(values["output_uri"], f"{source}: {names['output_uri']}")
        if input_prefix.within(output_prefix) or output_prefix.within(input_prefix):
            raise CommandError(f"{source}: the batch input and output prefixes overlap ({input_prefix.uri}, "
                               f"{output_prefix.uri})", 2)  # fmt: skip
        return cls(values["role_arn"], input_prefix, output_prefix, values["kms_key_arn"], values["image_uri"],
                   values["artifact_bucket"], values["name_prefix"])  # fmt: skip

    @classmethod
    def from_stack_outputs(cls, path: Path) -> TransformSettings:
        """From `terraform output -json`'s file: `{"<output>": {"value": ..., ...}, ...}`."""
        try:
            outputs = json.loads(path.read_text())
        except FileNotFoundError:
            raise CommandError(f"{path} not found: write it with terraform -chdir=terraform/envs/<env> output -json "
                               f"> {path}") from None  # fmt: skip
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path} is not the JSON of `terraform output -json`: {exc}", 2) from None
        if not isinstance(outputs, dict):
            raise CommandError(f"{path} is not the JSON of `terraform output -json` (an object of outputs)", 2)
        values = {
            setting: entry.get("value") if isinstance(entry, dict) else None
            for setting, output, _ in SETTING_SOURCES
            if (entry := outputs.get(output)) is not None
        }
        return cls.from_values(values, {setting: output for setting, output, _ in SETTING_SOURCES}, str(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TransformSettings:
        values = {setting: environ[variable] for setting, _, variable in SETTING_SOURCES if variable in environ}
        names = {setting: variable for setting, _, variable in SETTING_SOURCES}
        return cls.from_values(values, names, "the environment (no --stack-outputs)")

    def model_data_url(self, version: str) -> str:
        return f"s3://{self.artifact_bucket}/{version_key(version, TARBALL_FILE)}"

    def check_locations(self, input_prefix: S3Prefix, output_prefix: S3Prefix) -> None:
        """The transform role reads only under `batch_input_uri` and writes only under `batch_output_uri`."""
        if not input_prefix.within(self.input_prefix):
            raise CommandError(f"{input_prefix.uri} is not under the stack's batch input {self.input_prefix.uri}: "
                               "the transform role could not read it; copy the files there", 2)  # fmt: skip
        if not output_prefix.within(self.output_prefix):
            raise CommandError(f"--out {output_prefix.uri} is not under the stack's batch output "
                               f"{self.output_prefix.uri}: the transform role could not write there", 2)  # fmt: skip


def load_settings(stack_outputs: Path | None, environ: Mapping[str, str]) -> TransformSettings:
    return TransformSettings.from_stack_outputs(stack_outputs) if stack_outputs else TransformSettings.from_env(environ)


# --------------------------------------------------------------------------------------------------
# Prepare: the CSVs to JSON Lines, and the plan
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TransformPlan:
    """What a job was given, written next to its output as plan.json: everything its join needs."""

    job_name: str
    model_version: str
    artifact_bucket: str
    output_uri: str
    files: tuple[SendPlan, ...]

    @property
    def rows_sent(self) -> int:
        return sum(file.rows_sent for file in self.files)

    def to_json(self) -> str:
        fields = {"format": PLAN_FORMAT, **dataclasses.asdict(self), "files": [f.to_dict() for f in self.files]}
        return json.dumps(fields, indent=2)  # ASCII: a header read from invalid UTF-8 holds surrogates

    @classmethod
    def from_json(cls, text: bytes, uri: str) -> TransformPlan:
        try:
            data = json.loads(text)
            if data.get("format") != PLAN_FORMAT:
                raise TransformDataError(f"format {data.get('format')!r}, this release reads {PLAN_FORMAT}")
            return cls(data["job_name"], data["model_version"], data["artifact_bucket"], data["output_uri"],
                       tuple(SendPlan.from_dict(f) for f in data["files"]))  # fmt: skip
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError,
                TransformDataError) as exc:  # fmt: skip
            raise CommandError(f"{uri} is not a plan this release can join: {exc}") from None


def input_files(s3, prefix: S3Prefix) -> list[str]:
    """Keys of the `.csv` and `.csv.gz` objects directly under `prefix`, in key order."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=prefix.key, Delimiter="/"):
        keys += [item["Key"] for item in page.get("Contents", []) if item["Key"].endswith((".csv", ".csv.gz"))]
    if not keys:
        raise CommandError(f"no .csv or .csv.gz files directly under {prefix.uri}", 2)
    return sorted(keys)


def stage_inputs(s3, keys: list[str], bucket: str, staging: S3Prefix, column: str, work: Path) -> list[SendPlan]:
    """Convert each CSV, streaming, into its staging object (none when no row can be sent)."""
    plans = []
    for index, key in enumerate(keys, start=1):
        source, name = f"s3://{bucket}/{key}", staging_name(index, key)
        lines = work / name
        with lines.open("wb") as out:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            plan = convert_csv(source, body, out, staging_name=name, column=column,
                               max_line_bytes=payload_limit_bytes(MAX_PAYLOAD_MB))  # fmt: skip
        if plan.rows_sent:
            upload_file(s3, lines, staging.bucket, staging.key + name, content_type=JSONLINES,
                        sha256=file_sha256(lines))  # fmt: skip
        lines.unlink()
        print(f"{source}: {plan.rows_read} rows, {plan.rows_sent} to send, {len(plan.unsendable)} not sendable",
              flush=True)  # fmt: skip
        plans.append(plan)
    return plans


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


def model_name(prefix: str, version: str, image_uri: str, model_data_url: str, role_arn: str) -> str:
    """`<prefix>-<version>-<hash>`, the same for the same version, image and role (so it is reused) and new when any
    changes (a model never changes its image); shortened to SageMaker's 63 characters by the version's commit, which
    the hash still covers."""
    digest = hashlib.sha256(json.dumps([version, image_uri, model_data_url, role_arn]).encode()).hexdigest()[:8]
    readable = f"{prefix}-{version}"[: MAX_NAME_LENGTH - len(digest) - 1].rstrip("-")
    return f"{readable}-{digest}"


def transform_job_name(prefix: str, now: dt.datetime | None = None) -> str:
    """`<prefix>-<UTC time>-<4 hex>`: two users starting a job in the same second do not collide."""
    return f"{job_name(prefix, now)}-{secrets.token_hex(2)}"


def aws_tags(version: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in {**TAGS, "ModelVersion": version}.items()]


def model_request(name: str, settings: TransformSettings, version: str) -> dict:
    return {
        "ModelName": name,
        "ExecutionRoleArn": settings.role_arn,
        "PrimaryContainer": {
            "Image": settings.image_uri,
            "Mode": "SingleModel",
            "ModelDataUrl": settings.model_data_url(version),
        },
        # SageMaker moves the data in and out; the container needs no network (as the endpoint's model).
        "EnableNetworkIsolation": True,
        "Tags": aws_tags(version),
    }


def transform_job_request(name: str, model: str, settings: TransformSettings, resources: JobResources,
                          staging: S3Prefix, job_output: S3Prefix, version: str) -> dict:  # fmt: skip
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": BATCH_STRATEGY,
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "MaxConcurrentTransforms": concurrent_requests(resources.instance_type),
        # No Environment: the endpoint's SAGEMAKER_TFS_ENABLE_BATCHING (max_batch_size 64) would refuse a request of
        # ~2,500 instances. No DataProcessing: the join pairs rows itself, in order.
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": staging.uri}},
            "ContentType": JSONLINES,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": job_output.uri,
            "Accept": JSONLINES,
            "AssembleWith": "Line",
            "KmsKeyId": settings.kms_key_arn,
        },
        "TransformResources": {"InstanceType": resources.instance_type, "InstanceCount": resources.instance_count},
        "Tags": aws_tags(version),
    }


def ensure_model(sm, request: dict) -> bool:
    """Create the model unless it exists (a model per version and image, shared by its jobs); True if created."""
    try:
        sm.describe_model(ModelName=request["ModelName"])
        return False
    except ClientError as exc:
        if error_code(exc) != "ValidationException" or "Could not find model" not in str(exc):
            raise
    sm.create_model(**request)
    return True


# --------------------------------------------------------------------------------------------------
# Waiting and joining
# --------------------------------------------------------------------------------------------------


def _elapsed(job: dict) -> str:
    end = job.get("TransformEndTime") or dt.datetime.now(dt.UTC)
    return str(dt.timedelta(seconds=round((end - job["CreationTime"]).total_seconds())))


def transform_progress(job: dict) -> str:
    resources = job["TransformResources"]
    return (f"{job['TransformJobName']}: {job['TransformJobStatus']}, {_elapsed(job)} elapsed, "
            f"{resources['InstanceCount']} x {resources['InstanceType']}")  # fmt: skip


def completed_job(sm, name: str, *, wait: bool, poll_seconds: float, max_wait_seconds: float | None) -> dict:
    """The job's description once it has completed: followed with `wait`, else as it stands now."""
    join_later = f"; it keeps running: join it later with `toxiguard score-join {name} --wait`"
    if wait:
        return follow_job(lambda: sm.describe_transform_job(TransformJobName=name), "TransformJobStatus",
                          transform_progress, f"transform job {name}", poll_seconds, max_wait_seconds,
                          join_later)  # fmt: skip
    job = sm.describe_transform_job(TransformJobName=name)
    if job_outcome(job, "TransformJobStatus", f"transform job {name}") is not None:
        return job
    raise CommandError(f"{transform_progress(job)}: not finished yet; add --wait to follow it")


def read_plan(s3, job: dict) -> TransformPlan:
    output = S3Prefix.parse(job["TransformOutput"]["S3OutputPath"], "the job's output path")
    uri = f"{output.uri}{PLAN_FILE}"
    try:
        body = s3.get_object(Bucket=output.bucket, Key=output.key + PLAN_FILE)["Body"].read()
    except ClientError as exc:
        if is_missing(exc):
            raise CommandError(f"{uri} not found: was {job['TransformJobName']} started by toxiguard score "
                               "--cloud?") from None  # fmt: skip
        raise
    return TransformPlan.from_json(body, uri)


@dataclasses.dataclass(frozen=True)
class Scored:
    job_name: str
    model_version: str
    summary: JoinSummary
    outputs: tuple[str, ...]

    def to_dict(self) -> dict:
        summary = self.summary
        return {
            "job": self.job_name,
            "model_version": self.model_version,
            "rows": summary.rows,
            "scored": summary.scored,
            "flagged_share": {label: round(summary.flagged_share(label), 6) for label in LABELS},
            "actions": dict(summary.actions),
            "failed_records": len(summary.unscored_rows),
            "outputs": list(self.outputs),
        }


def join_outputs(s3, plan: TransformPlan, work: Path) -> Scored:
    """Join every file of `plan` with the job's output and upload `<out>/<stem>.scored.csv[.gz]`."""
    manifest = read_published_manifest(s3, plan.artifact_bucket, plan.model_version)
    out = S3Prefix.parse(plan.output_uri, "the plan's output")
    job_output = out.child(STAGING_DIR, plan.job_name)
    summaries, outputs = [], []
    for file in plan.files:
        source_bucket, source_key = parse_s3_uri(file.source)
        scored = work / file.scored_name
        csv_stream = s3.get_object(Bucket=source_bucket, Key=source_key)["Body"]
        predictions = None
        if file.rows_sent:
            predictions = s3.get_object(Bucket=job_output.bucket, Key=job_output.key + file.output_name)["Body"]
        with scored.open("wb") as out_stream:
            summary = join(file, csv_stream, predictions, manifest, out_stream)
        content_type = "application/gzip" if file.scored_name.endswith(".gz") else "text/csv"
        upload_file(s3, scored, out.bucket, out.key + file.scored_name, content_type=content_type,
                    sha256=file_sha256(scored))  # fmt: skip
        scored.unlink()
        target = f"{out.uri}{file.scored_name}"
        batch.report(file.source, target, summary, plan.model_version)
        summaries.append(summary)
        outputs.append(target)
    return Scored(plan.job_name, plan.model_version, JoinSummary.combine(summaries), tuple(outputs))


# --------------------------------------------------------------------------------------------------
# Entry
# --------------------------------------------------------------------------------------------------


def start_job(sm, settings: TransformSettings, plan: TransformPlan, resources: JobResources, staging: S3Prefix,
              job_output: S3Prefix) -> None:  # fmt: skip
    """Create (or reuse) the version's model and start the transform job on the staging prefix."""
    sending = sum(1 for file in plan.files if file.rows_sent)
    if resources.instance_count > sending:
        log.warning("%d instances but %d file(s) to send: SageMaker gives each file to one instance, so %d will "
                    "idle (split the input into more files)", resources.instance_count, sending,
                    resources.instance_count - sending)  # fmt: skip
    version = plan.model_version
    model = model_name(settings.name_prefix, version, settings.image_uri, settings.model_data_url(version),
                       settings.role_arn)  # fmt: skip
    created = ensure_model(sm, model_request(model, settings, version))
    sm.create_transform_job(**transform_job_request(plan.job_name, model, settings, resources, staging, job_output,
                                                    version))  # fmt: skip
    print(f"started transform job {plan.job_name}: model {model} ({'created' if created else 'reused'}, version "
          f"{version}), {resources.instance_count} x {resources.instance_type}, input {staging.uri}, output "
          f"{job_output.uri}", flush=True)  # fmt: skip


def score_cloud(
    session,
    settings: TransformSettings,
    input_uri: str,
    output_uri: str,
    *,
    resources: JobResources = JobResources(),
    version: str | None = None,
    column: str = TEXT_COLUMN,
    wait: bool = False,
    poll_seconds: float = 30.0,
    max_wait_seconds: float | None = None,
    name: str | None = None,
) -> Scored | None:
    """Stage the CSVs under `input_uri`, start the transform job; with `wait`, join its output into `output_uri`.
    None when the job was started without waiting."""
    input_prefix, output_prefix = S3Prefix.parse(input_uri, "the input"), S3Prefix.parse(output_uri, "--out")
    settings.check_locations(input_prefix, output_prefix)
    name = name or transform_job_name(settings.name_prefix)
    staging, job_output = input_prefix.child(STAGING_DIR, name), output_prefix.child(STAGING_DIR, name)
    s3, sm = session.client("s3"), session.client("sagemaker")
    with tempfile.TemporaryDirectory(prefix="toxiguard-score-") as tmp:
        with aws_errors(f"reading the published models in s3://{settings.artifact_bucket}/{MODELS_PREFIX}"):
            version = version or _newest_version(s3, settings.artifact_bucket)
            read_published_manifest(s3, settings.artifact_bucket, version)  # fails early on an unpublished version
        with aws_errors(f"staging {input_prefix.uri} in {staging.uri}"):
            keys = input_files(s3, input_prefix)
            files = stage_inputs(s3, keys, input_prefix.bucket, staging, column, Path(tmp))
            plan = TransformPlan(name, version, settings.artifact_bucket, output_prefix.uri, tuple(files))
            s3.put_object(Bucket=job_output.bucket, Key=job_output.key + PLAN_FILE, Body=plan.to_json().encode(),
                          ContentType="application/json")  # fmt: skip
        if not plan.rows_sent:
            print("no row can be sent, so no job runs; every row is written with its error", flush=True)
            with aws_errors(f"writing {output_prefix.uri}"):
                return join_outputs(s3, plan, Path(tmp))
        with aws_errors(f"starting SageMaker transform job {name}"):
            start_job(sm, settings, plan, resources, staging, job_output)
        if not wait:
            print(f"when it has finished, join its output into {output_prefix.uri} with: toxiguard score-join {name}"
                  " (add --wait to follow it)", flush=True)  # fmt: skip
            return None
        with aws_errors(f"following transform job {name}"):
            completed_job(sm, name, wait=True, poll_seconds=poll_seconds, max_wait_seconds=max_wait_seconds)
        with aws_errors(f"joining the output of {name} into {output_prefix.uri}"):
            return join_outputs(s3, plan, Path(tmp))


def score_join(session, name: str, *, wait: bool = False, poll_seconds: float = 30.0,
               max_wait_seconds: float | None = None) -> Scored:  # fmt: skip
    """Join the output of a job `score_cloud` started (its plan.json lies beside the output)."""
    s3, sm = session.client("s3"), session.client("sagemaker")
    with aws_errors(f"following transform job {name}"):
        job = completed_job(sm, name, wait=wait, poll_seconds=poll_seconds, max_wait_seconds=max_wait_seconds)
    with aws_errors(f"joining the output of {name}"), tempfile.TemporaryDirectory(prefix="toxiguard-score-") as tmp:
        return join_outputs(s3, read_plan(s3, job), Path(tmp))


def _newest_version(s3, bucket: str) -> str:
    versions = published_versions(s3, bucket)
    if not versions:
        raise CommandError(f"no model is published in s3://{bucket}/{MODELS_PREFIX}: run make publish first")
    return versions[-1]


def print_result(result: Scored) -> int:
    """The summary as JSON on stdout; the exit code local `score` gives (2 when some rows were not scored)."""
    print(json.dumps(result.to_dict(), indent=2))
    return 2 if result.summary.unscored_rows else 0
