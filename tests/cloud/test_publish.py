"""`toxiguard publish` against moto's in-process S3: upload order, checksums, refusals, the quality gate, tfvars."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from toxiguard.cli import main
from toxiguard.cloud import aws, publish

from .fake_aws import BUCKET, REGION, SHIPPED_MANIFEST, fake_aws, isolate_from_real_aws, make_artifact, record_calls

V1, V2, V3 = "20270101T000000Z-aaaaaaa", "20270102T000000Z-bbbbbbb", "20270103T000000Z-ccccccc"
MEAN = SHIPPED_MANIFEST["metrics"]["mean_roc_auc"]
THREAT = SHIPPED_MANIFEST["metrics"]["per_label"]["threat"]["roc_auc"]
BIAS, FLAG_RATE = 0.90, 0.05  # the published model's fairness numbers in the fairness gate tests


@pytest.fixture
def session(monkeypatch):
    with fake_aws(monkeypatch) as session:
        yield session


def cli_publish(artifact, *extra) -> int:
    return main(["publish", "--artifact", str(artifact), "--bucket", BUCKET, "--region", REGION, *extra])


def keys(session, version) -> list[str]:
    listing = session.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"models/{version}/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def sha256_header(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_first_publish_uploads_the_tarball_then_the_manifest_with_checksums(session, tmp_path, capsys):
    artifact = make_artifact(tmp_path, V1)
    calls = record_calls(session, "s3")
    result = publish.publish(artifact, BUCKET, session)

    assert result.uploaded and result.gate.baseline_version is None
    assert "no model published yet" in capsys.readouterr().out
    puts = [(op, params["Key"]) for op, params in calls if op == "PutObject"]
    assert puts == [("PutObject", f"models/{V1}/model.tar.gz"), ("PutObject", f"models/{V1}/manifest.json")]
    manifest_put = next(p for op, p in calls if op == "PutObject" and p["Key"].endswith("manifest.json"))
    assert manifest_put["IfNoneMatch"] == "*"

    s3 = session.client("s3")
    for name in ("model.tar.gz", "manifest.json"):
        local = (artifact / name).read_bytes()
        head = s3.head_object(Bucket=BUCKET, Key=f"models/{V1}/{name}", ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(local)
        assert head["ChecksumSHA256"] == sha256_header(local)  # S3 stored (and checked) the SHA-256 we sent
    tarball = (artifact / "model.tar.gz").read_bytes()
    head = s3.head_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz")
    assert head["Metadata"]["sha256"] == hashlib.sha256(tarball).hexdigest()
    assert head["ContentType"] == "application/gzip"
    body = s3.get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read()
    assert body == (artifact / "manifest.json").read_bytes()


def test_cli_prints_terraform_values_and_writes_tfvars(session, tmp_path, capsys):
    artifact = make_artifact(tmp_path, V1)
    tfvars = tmp_path / "out" / "model.auto.tfvars.json"
    assert cli_publish(artifact, "--tfvars-out", str(tfvars)) == 0

    expected = {
        "model_version": V1,
        "model_thresholds": SHIPPED_MANIFEST["thresholds"],
        "model_block_thresholds": SHIPPED_MANIFEST["block_thresholds"],
        "model_labels": SHIPPED_MANIFEST["labels"],
    }
    written = json.loads(tfvars.read_text())
    assert written == expected
    assert list(written) == ["model_version", "model_thresholds", "model_block_thresholds", "model_labels"]
    assert list(written["model_thresholds"]) == list(written["model_block_thresholds"]) == SHIPPED_MANIFEST["labels"]
    out = capsys.readouterr().out
    assert f"published s3://{BUCKET}/models/{V1}/model.tar.gz" in out
    assert f'model_version          = "{V1}"' in out
    assert f"model_labels           = {json.dumps(SHIPPED_MANIFEST['labels'])}" in out
    assert f"model_thresholds       = {json.dumps(SHIPPED_MANIFEST['thresholds'])}" in out
    assert f"model_block_thresholds = {json.dumps(SHIPPED_MANIFEST['block_thresholds'])}" in out  # null: valid HCL


def test_a_manifest_from_before_block_thresholds_deploys_none():
    manifest = {k: v for k, v in SHIPPED_MANIFEST.items() if k != "block_thresholds"}
    assert publish.terraform_values(manifest)["model_block_thresholds"] == dict.fromkeys(SHIPPED_MANIFEST["labels"])


def test_publishing_the_identical_artifact_again_uploads_nothing_and_succeeds(session, tmp_path, capsys):
    """A deploy re-run (or the next stage) publishes the same model again: that must not fail."""
    artifact = make_artifact(tmp_path, V1)
    assert cli_publish(artifact) == 0
    before = session.client("s3").head_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz")["LastModified"]
    capsys.readouterr()
    calls = record_calls(session, "s3")

    assert cli_publish(artifact, "--tfvars-out", str(tmp_path / "model.auto.tfvars.json")) == 0
    assert f"already published, identical: s3://{BUCKET}/models/{V1}/model.tar.gz" in capsys.readouterr().out
    assert not [op for op, _ in calls if op in ("PutObject", "CreateMultipartUpload")]
    assert json.loads((tmp_path / "model.auto.tfvars.json").read_text())["model_version"] == V1
    assert session.client("s3").head_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz")["LastModified"] == before


def test_a_published_version_is_never_overwritten_with_other_contents(session, tmp_path, capsys):
    assert cli_publish(make_artifact(tmp_path / "a", V1)) == 0
    before = session.client("s3").get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read()
    capsys.readouterr()

    other = make_artifact(tmp_path / "b", V1, payload=b"another graph")
    assert cli_publish(other) == 1
    assert f"s3://{BUCKET}/models/{V1}/manifest.json exists with different contents" in capsys.readouterr().err
    after = session.client("s3").get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read()
    assert after == before


def with_manifest(artifact, **changes):
    """Edit the artifact's manifest.json in place; its model.tar.gz stays as it is."""
    path = artifact / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}, indent=2) + "\n")
    return artifact


def test_a_published_models_decision_policy_can_be_chosen_again(session, tmp_path, capsys):
    """`toxiguard decision-policy` re-chooses block thresholds without retraining: publish replaces the manifest (and
    only it) when nothing but the policy differs, and writes the new thresholds for Terraform."""
    artifact = make_artifact(tmp_path, V1)
    assert cli_publish(artifact) == 0
    tarball = session.client("s3").head_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz")
    capsys.readouterr()
    block = {**SHIPPED_MANIFEST["block_thresholds"], "toxic": 0.99}
    rule = "per label, the lowest threshold at 99% precision"
    metrics = {**SHIPPED_MANIFEST["metrics"], "block": {"precision_target": 0.99}}
    with_manifest(artifact, block_thresholds=block, block_rule=rule, metrics=metrics)

    assert cli_publish(artifact, "--tfvars-out", str(tmp_path / "model.auto.tfvars.json")) == 0

    assert f"already published, same model, decision policy updated: s3://{BUCKET}" in capsys.readouterr().out
    after = session.client("s3").head_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz")
    assert (after["ETag"], after["LastModified"]) == (tarball["ETag"], tarball["LastModified"])  # not uploaded again
    published = session.client("s3").get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read()
    assert published == (artifact / "manifest.json").read_bytes()
    assert json.loads((tmp_path / "model.auto.tfvars.json").read_text())["model_block_thresholds"] == block


@pytest.mark.parametrize(
    "changes",
    [{"thresholds": {**SHIPPED_MANIFEST["thresholds"], "toxic": 0.2}},
     {"metrics": {**SHIPPED_MANIFEST["metrics"], "mean_roc_auc": 0.5}}, {"created_at": "2027-01-01T00:00:00Z"}],
    ids=["review-thresholds", "metrics", "created_at"],
)  # fmt: skip
def test_anything_but_the_decision_policy_is_never_changed_in_a_published_version(session, tmp_path, capsys, changes):
    artifact = make_artifact(tmp_path, V1)
    assert cli_publish(artifact) == 0
    before = session.client("s3").get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read()
    capsys.readouterr()

    assert cli_publish(with_manifest(artifact, **changes)) == 1
    assert "only its decision policy may change" in capsys.readouterr().err
    assert session.client("s3").get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read() == before


def test_a_policy_update_never_overwrites_a_manifest_changed_meanwhile(session, tmp_path):
    artifact = publish.load_artifact(make_artifact(tmp_path, V1))
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json", Body=b"{}")
    stale = s3.head_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["ETag"]
    s3.put_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json", Body=b'{"another": "publish"}')
    with pytest.raises(aws.CommandError, match="changed while publishing"):
        publish.update_decision_policy(s3, BUCKET, artifact, stale)
    assert s3.get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read() == b'{"another": "publish"}'


def test_a_half_published_version_is_refused_with_what_to_do(session, tmp_path, capsys):
    artifact = make_artifact(tmp_path, V1)
    session.client("s3").put_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz", Body=b"partial")
    assert cli_publish(artifact) == 1
    err = capsys.readouterr().err
    assert "exists without a manifest" in err and f"aws s3 rm s3://{BUCKET}/models/{V1}/model.tar.gz" in err


def test_the_manifest_write_is_conditional_so_only_one_concurrent_publish_wins(session, tmp_path):
    """moto honours `If-None-Match: *` on PutObject: a manifest that appears meanwhile is not replaced."""
    artifact = publish.load_artifact(make_artifact(tmp_path, V1))
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json", Body=b"{}")  # the other publish, first
    with pytest.raises(aws.CommandError, match=r"another publish of .+ finished first"):
        publish.put_manifest(s3, BUCKET, artifact)
    assert s3.get_object(Bucket=BUCKET, Key=f"models/{V1}/manifest.json")["Body"].read() == b"{}"


def test_gate_passes_within_tolerance_against_the_newest_published_version(session, tmp_path, capsys):
    assert cli_publish(make_artifact(tmp_path, V1, mean=MEAN - 0.02)) == 0  # an older, weaker model
    assert cli_publish(make_artifact(tmp_path, V2)) == 0
    capsys.readouterr()
    slightly_worse = make_artifact(tmp_path, V3, mean=MEAN - 0.004, label_aucs={"threat": THREAT - 0.015})
    assert cli_publish(slightly_worse) == 0
    out = capsys.readouterr().out
    assert f"quality gate against {V2}:" in out  # the newest, not the first
    assert "mean_roc_auc" in out and "-0.0040" in out and "WORSE" not in out


def test_gate_refuses_a_worse_mean_with_exit_3_and_uploads_nothing(session, tmp_path, capsys):
    assert cli_publish(make_artifact(tmp_path, V1)) == 0
    capsys.readouterr()
    assert cli_publish(make_artifact(tmp_path, V2, mean=MEAN - 0.006)) == 3
    captured = capsys.readouterr()
    assert "WORSE" in captured.out and "beyond the tolerance on mean_roc_auc" in captured.err
    assert keys(session, V2) == []


def test_gate_refuses_a_label_that_dropped_beyond_its_tolerance(session, tmp_path, capsys):
    assert cli_publish(make_artifact(tmp_path, V1)) == 0
    capsys.readouterr()
    assert cli_publish(make_artifact(tmp_path, V2, label_aucs={"threat": THREAT - 0.03})) == 3
    assert "beyond the tolerance on threat" in capsys.readouterr().err
    assert keys(session, V2) == []
    # The tolerances are options; a looser one, an explicit baseline and --allow-regression each let it through.
    assert cli_publish(make_artifact(tmp_path, V3, label_aucs={"threat": THREAT - 0.03}), "--label-tolerance",
                       "0.05", "--baseline-version", V1) == 0  # fmt: skip
    assert keys(session, V3) == [f"models/{V3}/manifest.json", f"models/{V3}/model.tar.gz"]


def test_allow_regression_publishes_a_worse_model_with_a_warning(session, tmp_path, caplog):
    assert cli_publish(make_artifact(tmp_path, V1)) == 0
    with caplog.at_level(logging.WARNING):
        assert cli_publish(make_artifact(tmp_path, V2, mean=MEAN - 0.05), "--allow-regression") == 0
    assert "publishing anyway" in caplog.text
    assert len(keys(session, V2)) == 2


def test_a_change_of_label_order_is_refused_even_with_allow_regression(session, tmp_path, capsys):
    assert cli_publish(make_artifact(tmp_path, V1)) == 0
    capsys.readouterr()
    swapped = [SHIPPED_MANIFEST["labels"][1], SHIPPED_MANIFEST["labels"][0], *SHIPPED_MANIFEST["labels"][2:]]
    assert cli_publish(make_artifact(tmp_path, V2, labels=swapped), "--allow-regression") == 3
    assert "labels differ" in capsys.readouterr().err
    assert keys(session, V2) == []


def with_fairness(directory, bias_metric, flag_rate):
    """Set the manifest's bias metric and neutral identity flag rate; None removes one."""

    def change(manifest):
        for (section, name), value in ((publish.BIAS_METRIC, bias_metric), (publish.NEUTRAL_FLAG_RATE, flag_rate)):
            values = manifest["metrics"].setdefault(section, {})
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value

    _edit(directory, change)
    return directory


def test_gate_passes_fairness_within_tolerance(session, tmp_path, capsys):
    assert cli_publish(with_fairness(make_artifact(tmp_path, V1), BIAS, FLAG_RATE)) == 0
    capsys.readouterr()
    assert cli_publish(with_fairness(make_artifact(tmp_path, V2), BIAS - 0.004, FLAG_RATE + 0.009)) == 0
    out = capsys.readouterr().out
    assert "bias_metric" in out and ">=0.8950" in out
    assert "neutral_identity_flag_rate" in out and "<=0.0600" in out  # a ceiling: lower is better
    assert "WORSE" not in out


@pytest.mark.parametrize(
    ("bias_metric", "flag_rate", "failed"),
    [(BIAS - 0.006, FLAG_RATE, "bias_metric"), (BIAS, FLAG_RATE + 0.011, "neutral_identity_flag_rate")],
    ids=["lower-bias-metric", "higher-neutral-flag-rate"],
)
def test_gate_refuses_a_fairness_regression(session, tmp_path, capsys, bias_metric, flag_rate, failed):
    assert cli_publish(with_fairness(make_artifact(tmp_path, V1), BIAS, FLAG_RATE)) == 0
    capsys.readouterr()
    assert cli_publish(with_fairness(make_artifact(tmp_path, V2), bias_metric, flag_rate)) == 3
    captured = capsys.readouterr()
    assert "WORSE" in captured.out and f"beyond the tolerance on {failed};" in captured.err
    assert keys(session, V2) == []


def test_gate_skips_fairness_rows_when_the_published_model_has_none(session, tmp_path, capsys):
    assert cli_publish(with_fairness(make_artifact(tmp_path, V1), None, None)) == 0
    capsys.readouterr()
    assert cli_publish(with_fairness(make_artifact(tmp_path, V2), 0.5, 0.9)) == 0
    out = capsys.readouterr().out
    assert "bias_metric: the current model was published without it, not gated" in out
    assert "neutral_identity_flag_rate: the current model was published without it, not gated" in out


def test_gate_refuses_a_model_that_drops_its_fairness_evidence(session, tmp_path, capsys):
    assert cli_publish(with_fairness(make_artifact(tmp_path, V1), BIAS, FLAG_RATE)) == 0
    capsys.readouterr()
    assert cli_publish(with_fairness(make_artifact(tmp_path, V2), None, None)) == 3
    captured = capsys.readouterr()
    assert "must not drop the current one's fairness evidence" in captured.out
    assert "bias_metric (missing from the new manifest)" in captured.err
    assert "neutral_identity_flag_rate (missing from the new manifest)" in captured.err
    assert keys(session, V2) == []


def test_dry_run_gates_and_prints_but_uploads_nothing(session, tmp_path, capsys):
    assert cli_publish(make_artifact(tmp_path, V1), "--dry-run") == 0
    assert "dry run, nothing uploaded" in capsys.readouterr().out
    assert keys(session, V1) == []


def test_large_files_go_up_in_parts_each_with_a_sha256(session, tmp_path, caplog):
    payload = os.urandom(11 * 1024 * 1024)  # incompressible: the tarball stays above two 5 MB parts
    artifact = make_artifact(tmp_path, V1, payload=payload)
    calls = record_calls(session, "s3")
    with caplog.at_level(logging.INFO, logger="toxiguard.cloud.aws"):
        publish.publish(artifact, BUCKET, session, multipart_threshold=5 * aws.MIB)

    operations = [op for op, _ in calls]
    assert operations.count("UploadPart") == 3 and "CompleteMultipartUpload" in operations
    assert all(p["ChecksumAlgorithm"] == "SHA256" for op, p in calls if op in {"CreateMultipartUpload", "UploadPart"})
    assert operations.index("CompleteMultipartUpload") < [i for i, (op, p) in enumerate(calls)
                                                         if op == "PutObject"][-1]  # fmt: skip
    head = session.client("s3").head_object(Bucket=BUCKET, Key=f"models/{V1}/model.tar.gz", ChecksumMode="ENABLED")
    local = (artifact / "model.tar.gz").read_bytes()
    assert head["ContentLength"] == len(local)
    assert head["ChecksumSHA256"] != sha256_header(local)  # a checksum of the three parts' SHA-256s
    assert head["Metadata"]["sha256"] == hashlib.sha256(local).hexdigest()
    assert "(100%)" in caplog.text and "MB uploaded" in caplog.text


@pytest.mark.parametrize(
    ("damage", "message", "code"),
    [
        (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json: not valid JSON", 2),
        (lambda d: (d / "model.tar.gz").unlink(), "model.tar.gz not found", 1),
        (lambda d: (d / "model.tar.gz").write_bytes(b"x" * 10), "records", 2),  # size differs from the manifest
        (lambda d: _edit(d, lambda m: m["thresholds"].pop("threat")), "thresholds must have exactly the labels", 2),
        (lambda d: _edit(d, lambda m: m.update(version="20270101T000000Z-0000000")), "does not match the directory", 2),
        (lambda d: with_fairness(d, "high", None), "metrics.fairness.bias_metric must be a number between 0 and 1", 2),
        (lambda d: with_fairness(d, None, 1.5), "neutral_identity_flag_rate must be a number between 0 and 1", 2),
        (lambda d: _edit(d, lambda m: m["metrics"].update(functional=[])), "metrics.functional must be an object", 2),
    ],
    ids=[
        "bad-json",
        "no-tarball",
        "size-mismatch",
        "missing-threshold",
        "version-mismatch",
        "bias-metric-not-a-number",
        "flag-rate-above-1",
        "functional-not-an-object",
    ],
)
def test_a_damaged_artifact_is_refused_before_any_upload(session, tmp_path, capsys, damage, message, code):
    artifact = make_artifact(tmp_path, V1)
    damage(artifact)
    assert cli_publish(artifact) == code
    err = capsys.readouterr().err
    assert message in err and str(artifact) in err
    assert keys(session, V1) == []


def test_a_tarball_without_a_saved_model_is_refused(session, tmp_path, capsys):
    from .fake_aws import tarball_bytes

    artifact = make_artifact(tmp_path, V1)
    (artifact / "model.tar.gz").write_bytes(tarball_bytes({"model.keras": b"x"}))
    _edit(artifact, lambda m: m["artifact"].update(bytes=(artifact / "model.tar.gz").stat().st_size))
    assert cli_publish(artifact) == 2
    assert "has no 1/saved_model.pb" in capsys.readouterr().err


def test_a_missing_bucket_is_one_line_naming_it(session, tmp_path, capsys):
    artifact = make_artifact(tmp_path, V1)
    assert main(["publish", "--artifact", str(artifact), "--bucket", "no-such-bucket-here", "--region", REGION]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "toxiguard publish: bucket 'no-such-bucket-here' does not exist (check --bucket and --region)"


def test_no_credentials_is_explained_without_a_traceback(monkeypatch, tmp_path, capsys):
    isolate_from_real_aws(monkeypatch)  # and no moto: botocore finds no credentials and sends nothing
    assert cli_publish(make_artifact(tmp_path, V1)) == 1
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NoCredentialsError(), "no AWS credentials found while uploading"),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "nope"}}, "PutObject"),
            "access denied while uploading: nope",
        ),
        (ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "PutObject"), "bucket does not exist"),
        (ClientError({"Error": {"Code": "ExpiredToken", "Message": "old"}}, "PutObject"), "rejected the credentials"),
    ],
)
def test_aws_failures_become_one_line_messages(error, expected):
    with pytest.raises(aws.CommandError, match=expected) as caught, aws.aws_errors("uploading"):
        raise error
    assert caught.value.exit_code == 1


def _edit(directory, change) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
