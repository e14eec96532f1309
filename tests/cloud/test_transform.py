"""`toxiguard score --cloud` and `score-join` against moto: the SageMaker model and transform job requests and every
setting, the settings from Terraform's outputs, the wait loop, and whole runs whose container output the test writes
into moto's S3 the way TF Serving's container does (one `{"predictions": [...]}` line per request).

moto completes a transform job as soon as it is created and never fails one, so the progression through
InProgress and a Failed job with its FailureReason are stubbed with botocore's Stubber. The transform role's scope
is the infrastructure tests' (tests/infra); here the request is checked."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import gzip
import io
import json
import re

import botocore.session
import pytest
from botocore.stub import Stubber

from toxiguard import cli
from toxiguard.artifact import moderation_result
from toxiguard.cloud import aws, transform
from toxiguard.cloud.transform_data import staging_name
from toxiguard.config import LABELS
from toxiguard.serving.batch import OUTPUT_COLUMNS

from .fake_aws import BUCKET, REGION, SHIPPED_MANIFEST, fake_aws, record_calls

BATCH = "toxiguard-batch-test"
ROLE = "arn:aws:iam::123456789012:role/toxiguard-dev-batch-transform"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:2.19-cpu-py312-sagemaker"
VERSION = "20270101T000000Z-0123456"
IN, OUT = f"s3://{BATCH}/input/history/", f"s3://{BATCH}/output/history/"
PREFIX = "toxiguard-dev-batch"
JOB = f"{PREFIX}-test"
OUTPUTS = {
    "transform_role_arn": ROLE,
    "batch_input_uri": f"s3://{BATCH}/input/",
    "batch_output_uri": f"s3://{BATCH}/output/",
    "batch_kms_key_arn": KMS,
    "serving_image_uri": IMAGE,
    "artifact_bucket_name": BUCKET,
    "batch_name_prefix": PREFIX,
    "api_url": "https://api.example.test",  # the stack's other outputs are ignored
}
ENVIRONMENT = {variable: OUTPUTS[output] for _, output, variable in transform.SETTING_SOURCES}
MANIFEST = {**copy.deepcopy(SHIPPED_MANIFEST), "version": VERSION}
# Row 2 sendable, row 3 a quoted newline, row 4 empty text (kept with its error), row 5 sendable.
COMMENTS = 'id,comment_text\n1,thank you for the edit\n2,"first line\nsecond line"\n3,\n4,you absolute idiot\n'
SENT_SCORES = [[0.01] * 6, [0.02] * 6, [0.99, 0.2, 0.9, 0.01, 0.95, 0.3]]  # rows 2, 3 and 5
STAGED_SCORES = [SENT_SCORES[2], *SENT_SCORES[:2]]  # as the container answers them: staged shortest text first


@pytest.fixture
def session(monkeypatch):
    with fake_aws(monkeypatch) as session:
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BATCH, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key=f"models/{VERSION}/model.tar.gz", Body=b"model")
        s3.put_object(Bucket=BUCKET, Key=f"models/{VERSION}/manifest.json", Body=json.dumps(MANIFEST).encode())
        yield session


@pytest.fixture
def stack_outputs(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({name: {"sensitive": False, "type": "string", "value": value}
                                for name, value in OUTPUTS.items()}))  # fmt: skip
    return path


@pytest.fixture
def settings(stack_outputs):
    return transform.TransformSettings.from_stack_outputs(stack_outputs)


def put(session, uri: str, body: bytes) -> None:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    session.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def get(session, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def container_output(*requests: list[list[float]]) -> bytes:
    """What the container writes for a staging file: one TF Serving response per request, newline-free."""
    return b"".join(json.dumps({"predictions": scores}).encode() + b"\n" for scores in requests)


def start(session, settings, name=JOB, **kwargs):
    return transform.score_cloud(session, settings, IN, OUT, name=name, poll_seconds=0, **kwargs)


def sent(calls, operation):
    (params,) = [p for op, p in calls if op == operation]
    return params


def test_model_and_transform_job_requests(session, settings, capsys):
    put(session, IN + "comments.csv", COMMENTS.encode())
    calls = record_calls(session, "sagemaker")
    assert start(session, settings) is None  # not waiting

    model = sent(calls, "CreateModel")
    # The operator policy allows models and jobs named <batch_name_prefix>-* only.
    assert re.fullmatch(rf"{PREFIX}-20270101T000000Z-0123456-[0-9a-f]{{8}}", model["ModelName"])
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"] == {"Image": IMAGE, "Mode": "SingleModel",
                                         "ModelDataUrl": f"s3://{BUCKET}/models/{VERSION}/model.tar.gz"}  # fmt: skip
    assert model["EnableNetworkIsolation"] is True

    job = sent(calls, "CreateTransformJob")
    assert job["TransformJobName"] == JOB and job["ModelName"] == model["ModelName"]
    assert job["BatchStrategy"] == "MultiRecord"
    assert job["MaxPayloadInMB"] == 1
    assert job["MaxConcurrentTransforms"] == 2  # ml.c5.xlarge: 4 vCPUs, one request per 2
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{IN}_toxiguard/{JOB}/"}},
        "ContentType": "application/jsonlines", "SplitType": "Line", "CompressionType": "None",
    }  # fmt: skip
    assert job["TransformOutput"] == {"S3OutputPath": f"{OUT}_toxiguard/{JOB}/", "Accept": "application/jsonlines",
                                      "AssembleWith": "Line", "KmsKeyId": KMS}  # fmt: skip
    assert job["TransformResources"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1}
    assert "Environment" not in job and "DataProcessing" not in job
    tags = {tag["Key"]: tag["Value"] for tag in job["Tags"]}
    assert tags["Project"] == "toxiguard" and tags["ModelVersion"] == VERSION

    # What the job reads: only its staging prefix, one record per sendable row (shortest first); the plan beside it.
    staged = get(session, f"{IN}_toxiguard/{JOB}/{staging_name(1, 'comments.csv')}").decode()
    assert [json.loads(line)["text"] for line in staged.splitlines()] == [
        "you absolute idiot", "thank you for the edit", "first line\nsecond line"]  # fmt: skip
    plan = transform.TransformPlan.from_json(get(session, f"{OUT}_toxiguard/{JOB}/plan.json"), "plan.json")
    assert (plan.job_name, plan.model_version, plan.output_uri, plan.rows_sent) == (JOB, VERSION, OUT, 3)
    assert [(p.row, p.message) for p in plan.files[0].unsendable] == [(4, "empty comment text")]
    described = session.client("sagemaker").describe_transform_job(TransformJobName=JOB)
    assert described["TransformInput"] == job["TransformInput"]  # moto accepted it as sent
    out = capsys.readouterr().out
    assert "4 rows, 3 to send, 1 not sendable" in out
    assert f"toxiguard score-join {JOB}" in out


def test_the_model_is_reused_for_its_version_and_image(session, settings, caplog):
    put(session, IN + "comments.csv", COMMENTS.encode())
    calls = record_calls(session, "sagemaker")
    start(session, settings, name=f"{PREFIX}-a")
    start(session, settings, name=f"{PREFIX}-b", resources=transform.JobResources("ml.m5.2xlarge", 3))
    assert "3 instances but 1 file(s) to send" in caplog.text  # each file goes to one instance
    assert [op for op, _ in calls if op == "CreateModel"] == ["CreateModel"]
    first, second = [p for op, p in calls if op == "CreateTransformJob"]
    assert first["ModelName"] == second["ModelName"]
    assert second["TransformResources"] == {"InstanceType": "ml.m5.2xlarge", "InstanceCount": 3}
    assert second["MaxConcurrentTransforms"] == 4
    other_image = IMAGE.replace("2.19-cpu", "2.20-cpu")
    assert transform.model_name(PREFIX, VERSION, other_image, "s3://b/k", ROLE) != transform.model_name(
        PREFIX, VERSION, IMAGE, "s3://b/k", ROLE
    )
    long_version = "20270101T000000Z-" + "a" * 40  # a full commit hash: the name still fits SageMaker's 63
    assert len(transform.model_name(PREFIX, long_version, IMAGE, "s3://b/k", ROLE)) <= 63


def test_job_names_are_unique_valid_and_carry_the_stacks_prefix():
    longest = "a" * 42
    names = {transform.transform_job_name(longest) for _ in range(20)}
    assert len(names) > 1  # a random part: two jobs started in the same second differ
    pattern = botocore.session.get_session().get_service_model("sagemaker").shape_for("TransformJobName")
    assert all(len(n) <= 63 and re.fullmatch(pattern.metadata["pattern"], n) for n in names)
    assert all(n.startswith(f"{longest}-") for n in names)


def test_instance_types_are_transform_types_with_their_vcpus():
    model = botocore.session.get_session().get_service_model("sagemaker")
    offered = set(model.shape_for("TransformInstanceType").enum)
    assert set(transform.INSTANCE_VCPUS) <= offered
    assert {t: transform.concurrent_requests(t) for t in ("ml.m5.large", "ml.c5.xlarge", "ml.c5.4xlarge")} == {
        "ml.m5.large": 1, "ml.c5.xlarge": 2, "ml.c5.4xlarge": 8}  # fmt: skip
    # SageMaker refuses MaxConcurrentTransforms x MaxPayloadInMB above 100 MB.
    assert max(transform.concurrent_requests(t) for t in transform.INSTANCE_VCPUS) * transform.MAX_PAYLOAD_MB <= 100
    with pytest.raises(aws.CommandError, match=r"ml\.p3\.2xlarge is not one this job runs on.*ml\.c5\.xlarge"):
        transform.JobResources("ml.p3.2xlarge")


def test_settings_from_the_environment_equal_the_stack_outputs(settings):
    assert transform.load_settings(None, ENVIRONMENT) == settings
    assert settings.input_prefix == transform.S3Prefix(BATCH, "input/")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transform_role_arn": None}, r"has no transform_role_arn: apply the stack"),
        ({"transform_role_arn": "toxiguard-transform"}, r"transform_role_arn is not an IAM role ARN"),
        ({"serving_image_uri": "tensorflow/serving:latest"}, r"serving_image_uri is not an ECR image URI"),
        ({"batch_output_uri": "https://bucket/output/"}, r"batch_output_uri: 'https://bucket/output/' is not an s3://"),
        ({"batch_output_uri": f"s3://{BATCH}/input/out/"}, r"prefixes overlap"),
        ({"batch_name_prefix": "Toxiguard_dev"}, r"batch_name_prefix is not a SageMaker name prefix"),
        ({"batch_name_prefix": "a" * 43}, r"at most 42 characters"),
    ],
)
def test_settings_are_checked(stack_outputs, change, message):
    outputs = {name: value for name, value in {**OUTPUTS, **change}.items() if value is not None}
    stack_outputs.write_text(json.dumps({name: {"value": value} for name, value in outputs.items()}))
    with pytest.raises(aws.CommandError, match=message):
        transform.TransformSettings.from_stack_outputs(stack_outputs)
    env = {k: v for k, v in ENVIRONMENT.items() if k != "TOXIGUARD_TRANSFORM_ROLE_ARN"}
    with pytest.raises(aws.CommandError, match=r"the environment .* has no TOXIGUARD_TRANSFORM_ROLE_ARN"):
        transform.load_settings(None, env)
    with pytest.raises(aws.CommandError, match=r"missing\.json not found: write it with terraform"):
        transform.load_settings(stack_outputs.with_name("missing.json"), {})


@pytest.mark.parametrize(
    ("input_uri", "output_uri", "message"),
    [
        (f"s3://{BATCH}/elsewhere/", OUT, r"s3://toxiguard-batch-test/elsewhere/ is not under the stack's batch input"),
        ("s3://other-bucket/input/x/", OUT, r"is not under the stack's batch input"),
        (IN, f"s3://{BATCH}/input/results/", r"--out .* is not under the stack's batch output .* could not write"),
    ],
)
def test_locations_outside_the_roles_prefixes_are_refused(session, settings, input_uri, output_uri, message):
    put(session, IN + "comments.csv", COMMENTS.encode())
    calls = record_calls(session, "s3")
    with pytest.raises(aws.CommandError, match=message) as raised:
        transform.score_cloud(session, settings, input_uri, output_uri, name=JOB)
    assert raised.value.exit_code == 2
    assert calls == []  # refused before anything was read or staged


def test_only_csv_files_directly_under_the_input_are_sent(session, settings):
    put(session, IN + "b.csv.gz", gzip.compress(COMMENTS.encode()))
    put(session, IN + "a.csv", COMMENTS.encode())
    put(session, IN + "notes.txt", b"not comments")
    put(session, IN + "_toxiguard/earlier-job/00001-a.jsonl", b'{"text":"x"}\n')
    put(session, IN + "nested/c.csv", COMMENTS.encode())
    start(session, settings)
    plan = transform.TransformPlan.from_json(get(session, f"{OUT}_toxiguard/{JOB}/plan.json"), "plan.json")
    assert [f.source for f in plan.files] == [IN + "a.csv", IN + "b.csv.gz"]
    with pytest.raises(aws.CommandError, match=r"no \.csv or \.csv\.gz files directly under .*/input/empty/"):
        transform.score_cloud(session, settings, f"s3://{BATCH}/input/empty/", OUT, name=f"{PREFIX}-x")


def describe(status: str, **extra) -> dict:
    return {"TransformJobName": JOB, "TransformJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:transform-job/x",
            "TransformJobStatus": status, "ModelName": "m", "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": IN}}},
            "TransformOutput": {"S3OutputPath": f"{OUT}_toxiguard/{JOB}/"},
            "TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2}, **extra}  # fmt: skip


def stubbed(session, monkeypatch, *responses: dict) -> Stubber:
    """The session's SageMaker client answers DescribeTransformJob with `responses`, in order."""
    sm = type(session).client(session, "sagemaker")  # not an earlier call's stubbed client
    stub = Stubber(sm)
    for response in responses:
        stub.add_response("describe_transform_job", response, {"TransformJobName": JOB})
    stub.activate()
    real_client = session.client
    monkeypatch.setattr(session, "client", lambda name, **kw: sm if name == "sagemaker" else real_client(name, **kw))
    return stub


def test_waiting_prints_progress_until_the_job_ends(session, monkeypatch, capsys):
    stubbed(session, monkeypatch, describe("InProgress"), describe("InProgress"),
            describe("Completed", TransformEndTime=dt.datetime(2026, 1, 1, 1, 2, 3, tzinfo=dt.UTC)))  # fmt: skip
    job = transform.completed_job(session.client("sagemaker"), JOB, wait=True, poll_seconds=0, max_wait_seconds=60)
    assert job["TransformJobStatus"] == "Completed"
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"{JOB}: InProgress, \d+ days?, \d+:\d\d:\d\d elapsed, 2 x ml\.c5\.xlarge", lines[0])
    assert lines[-1] == f"{JOB}: Completed, 1:02:03 elapsed, 2 x ml.c5.xlarge"


def test_a_failed_job_prints_its_reason_and_exits_non_zero(session, monkeypatch, capsys):
    reason = "ClientError: See job logs for more information"
    stubbed(session, monkeypatch, describe("InProgress"), describe("Failed", FailureReason=reason))
    monkeypatch.setattr(cli, "_aws_session", lambda region: session)
    assert cli.main(["score-join", JOB, "--wait", "--poll-seconds", "0"]) == 1
    assert f"toxiguard score-join: transform job {JOB} failed: {reason}" in capsys.readouterr().err

    stubbed(session, monkeypatch, describe("Stopped", FailureReason="stopped by the user"))
    assert cli.main(["score-join", JOB]) == 1
    assert f"transform job {JOB} stopped: stopped by the user" in capsys.readouterr().err


def test_waiting_is_bounded_and_a_running_job_can_be_joined_later(session, monkeypatch):
    stubbed(session, monkeypatch, describe("InProgress"), describe("InProgress"))
    sm = session.client("sagemaker")
    with pytest.raises(aws.CommandError, match=rf"still InProgress after 0 hours; .*toxiguard score-join {JOB}"):
        transform.completed_job(sm, JOB, wait=True, poll_seconds=0, max_wait_seconds=0)
    with pytest.raises(aws.CommandError, match=r"InProgress, .* not finished yet; add --wait"):
        transform.completed_job(sm, JOB, wait=False, poll_seconds=0, max_wait_seconds=None)


def scored_rows(session, uri: str) -> list[dict]:
    body = get(session, uri)
    text = gzip.decompress(body).decode() if uri.endswith(".gz") else body.decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_wait_joins_the_container_output_into_scored_csvs(session, stack_outputs, monkeypatch, capsys):
    """End to end through the CLI: the container's output files exist when moto's job completes."""
    put(session, IN + "comments.csv", COMMENTS.encode())
    put(session, IN + "more.csv.gz", gzip.compress(b"id,comment_text\n9,hello there\n"))
    job_output = f"{OUT}_toxiguard/{JOB}/"
    # Two requests for the first file (a mini-batch boundary after two records), one for the second.
    first_requests = container_output(STAGED_SCORES[:2], STAGED_SCORES[2:])
    put(session, f"{job_output}{staging_name(1, 'comments.csv')}.out", first_requests)
    put(session, f"{job_output}{staging_name(2, 'more.csv.gz')}.out", container_output([[0.05] * 6]))
    monkeypatch.setattr(transform, "transform_job_name", lambda prefix: JOB)
    monkeypatch.setattr(cli, "_aws_session", lambda region: session)

    code = cli.main(["score", IN, "--out", OUT, "--cloud", "--wait", "--poll-seconds", "0",
                     "--stack-outputs", str(stack_outputs)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2, captured.err  # as local score: a row could not be scored
    rows = scored_rows(session, OUT + "comments.scored.csv")
    assert list(rows[0]) == ["id", "comment_text", *OUTPUT_COLUMNS]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"] and rows[1]["comment_text"] == "first line\nsecond line"
    assert rows[2]["score_error"] == "empty comment text" and rows[2]["score_toxic"] == ""
    thresholds, blocks = MANIFEST["thresholds"], MANIFEST.get("block_thresholds") or dict.fromkeys(LABELS)
    for row, scores in zip([rows[0], rows[1], rows[3]], SENT_SCORES, strict=True):
        expected = moderation_result(LABELS, scores, [thresholds[label] for label in LABELS],
                                     [blocks[label] for label in LABELS])  # fmt: skip
        assert [float(row[f"score_{label}"]) for label in LABELS] == pytest.approx(scores)
        assert row["flagged"] == str(expected["flagged"]).lower() and row["action"] == expected["action"]
        assert row["flagged_labels"] == " ".join(expected["labels"]) and row["score_error"] == ""
    assert rows[3]["flagged"] == "true"
    assert [r["id"] for r in scored_rows(session, OUT + "more.scored.csv.gz")] == ["9"]

    summary = json.loads(captured.out[captured.out.index("{") :])
    assert summary["job"] == JOB and summary["model_version"] == VERSION
    assert (summary["rows"], summary["scored"], summary["failed_records"]) == (5, 4, 1)
    assert set(summary["flagged_share"]) == set(LABELS) and summary["flagged_share"]["toxic"] == 0.25
    assert sum(summary["actions"].values()) == 4
    assert summary["outputs"] == [OUT + "comments.scored.csv", OUT + "more.scored.csv.gz"]
    assert f"{JOB}: Completed" in captured.out
    assert "row 4, column 'comment_text': empty comment text" in captured.err


def test_a_job_that_lost_rows_is_not_joined(session, settings, capsys):
    put(session, IN + "comments.csv", COMMENTS.encode())
    start(session, settings)
    put(session, f"{OUT}_toxiguard/{JOB}/{staging_name(1, 'comments.csv')}.out", container_output(SENT_SCORES[:2]))
    with pytest.raises(ValueError, match=r"2 predictions for the 3 rows sent from s3://.*/comments\.csv"):
        transform.score_join(session, JOB)
    assert "Contents" not in session.client("s3").list_objects_v2(Bucket=BATCH, Prefix="output/history/comments")


def test_a_file_without_sendable_rows_needs_no_job(session, settings, capsys):
    put(session, IN + "empty.csv", b"id,comment_text\n1,\n2,   \n")
    calls = record_calls(session, "sagemaker")
    result = start(session, settings, wait=True)
    assert calls == []
    assert (result.summary.rows, result.summary.scored, len(result.summary.unscored_rows)) == (2, 0, 2)
    assert [r["score_error"] for r in scored_rows(session, OUT + "empty.scored.csv")] == ["empty comment text"] * 2
    assert transform.print_result(result) == 2


def test_score_without_cloud_keeps_to_local_files(tmp_path, capsys):
    assert cli.main(["score", IN, "--out", OUT]) == 2
    assert f"{IN}, {OUT} needs --cloud" in capsys.readouterr().err
    local = tmp_path / "c.csv"
    local.write_text(COMMENTS)
    assert cli.main(["score", str(local), "--instances", "2", "--wait"]) == 2
    assert "--instances, --wait needs --cloud" in capsys.readouterr().err
    assert cli.main(["score", str(local), "--out", OUT, "--cloud"]) == 2
    assert f"{local} is not an s3:// URI" in capsys.readouterr().err
    assert cli.main(["score", IN, "--cloud"]) == 2
    assert "no --out is not an s3:// URI" in capsys.readouterr().err


def test_cli_refuses_an_unknown_instance_type_before_any_aws_call(session, stack_outputs, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_aws_session", lambda region: pytest.fail("no AWS call expected"))
    code = cli.main(["score", IN, "--out", OUT, "--cloud", "--instance-type", "ml.t2.medium",
                     "--stack-outputs", str(stack_outputs)])  # fmt: skip
    assert code == 2
    assert "--instance-type ml.t2.medium is not one this job runs on" in capsys.readouterr().err


def test_score_cloud_needs_the_cloud_extra(python_without):
    code = f"""
from toxiguard import cli
raise SystemExit(cli.main(["score", {IN!r}, "--out", {OUT!r}, "--cloud"]))
"""
    run = python_without(("boto3", "botocore"), code, timeout=120)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "pip install 'toxiguard[cloud]'" in run.stderr
