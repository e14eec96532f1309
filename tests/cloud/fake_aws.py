"""Helpers for the publish and train-cloud tests: moto's in-process AWS with fake credentials, and fake artifacts.

Every AWS_* variable of the caller's environment is removed first, so no profile, endpoint or credential can
point a test at a real account.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import boto3
from moto import mock_aws

from toxiguard.artifact import latest_artifact
from toxiguard.config import DEFAULT_ARTIFACTS

REGION = "eu-west-1"
BUCKET = "toxiguard-artifacts-test"
SHIPPED_MANIFEST = json.loads((latest_artifact(DEFAULT_ARTIFACTS) / "manifest.json").read_text())


def isolate_from_real_aws(monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@contextlib.contextmanager
def fake_aws(monkeypatch) -> Iterator[boto3.Session]:
    """moto's S3 and SageMaker with one bucket; yields a session bound to them."""
    isolate_from_real_aws(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield session


def record_calls(session: boto3.Session, service: str) -> list[tuple[str, dict]]:
    """(operation, parameters but the body) of every call clients of `session` make to `service`, in order."""
    calls: list[tuple[str, dict]] = []

    def record(params, model, **_):
        calls.append((model.name, copy.deepcopy({k: v for k, v in params.items() if k != "Body"})))

    session.events.register(f"provide-client-params.{service}", record)
    return calls


def tarball_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_artifact(
    root: Path,
    version: str,
    *,
    mean: float | None = None,
    label_aucs: dict[str, float] | None = None,
    labels: list[str] | None = None,
    payload: bytes = b"graph",
) -> Path:
    """`<root>/<version>/` with a tiny model.tar.gz and the shipped manifest, metrics edited as asked."""
    manifest = copy.deepcopy(SHIPPED_MANIFEST)
    manifest["version"] = version
    if mean is not None:
        manifest["metrics"]["mean_roc_auc"] = mean
    for label, auc in (label_aucs or {}).items():
        manifest["metrics"]["per_label"][label]["roc_auc"] = auc
    if labels is not None:
        manifest["labels"] = labels
    directory = root / version
    directory.mkdir(parents=True)
    tarball = directory / "model.tar.gz"
    tarball.write_bytes(tarball_bytes({"1/saved_model.pb": payload, "1/variables/variables.index": b"index"}))
    manifest["artifact"]["bytes"] = tarball.stat().st_size
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory
