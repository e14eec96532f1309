"""AWS plumbing shared by `toxiguard publish`, `train-cloud` and `score --cloud`.

A boto3 session, S3 transfers with SHA-256 checksums and progress logging, following a SageMaker job to its end,
and the translation of AWS failures a user can fix (no credentials, a missing bucket, access denied) into one-line
messages with a non-zero exit code instead of stack traces.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Files above this go up in parts of the same size, several at once; S3 checks each part's SHA-256.
DEFAULT_MULTIPART_THRESHOLD = 16 * MIB
ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "403", "Forbidden"}
BAD_CREDENTIALS_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidClientTokenId"}
# SageMaker job states that end a job without its result.
TERMINAL_FAILURES = {"Failed", "Stopped"}


class CommandError(Exception):
    """An expected failure: the CLI prints the message on one line and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def session(region: str | None = None) -> boto3.Session:
    """A boto3 session; credentials and, without `region`, the region come from the usual AWS sources."""
    return boto3.Session(region_name=region)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def is_missing(exc: ClientError) -> bool:
    """Whether a HEAD or GET failed because the object (not the bucket) does not exist."""
    return error_code(exc) in {"404", "NoSuchKey", "NotFound"}


@contextlib.contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn the AWS failures a user can fix into `CommandError`s that say what was being done."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise CommandError(
            f"no AWS credentials found while {doing}: configure a profile (AWS_PROFILE), environment variables or "
            "an SSO/OIDC session first"
        ) from None
    except NoRegionError:
        raise CommandError(f"no AWS region while {doing}: pass --region or set AWS_REGION") from None
    except EndpointConnectionError as exc:
        raise CommandError(f"cannot reach AWS while {doing}: {exc}") from None
    except S3UploadFailedError as exc:  # boto3 wraps the ClientError of a transfer in a message
        raise CommandError(f"upload failed while {doing}: {exc}") from None
    except ClientError as exc:
        code, message = error_code(exc), exc.response.get("Error", {}).get("Message", str(exc))
        if code == "NoSuchBucket":
            raise CommandError(f"the bucket does not exist ({doing}): {message}") from None
        if code in ACCESS_DENIED_CODES:
            raise CommandError(f"access denied while {doing}: {message or 'no permission'}") from None
        if code in BAD_CREDENTIALS_CODES:
            raise CommandError(f"AWS rejected the credentials while {doing} ({code}): {message}") from None
        raise CommandError(f"AWS error while {doing} ({code}): {message}") from None
    except BotoCoreError as exc:
        raise CommandError(f"AWS client error while {doing}: {exc}") from None


def check_bucket(s3, bucket: str) -> None:
    """Fail early, with a message naming the bucket, when it is missing or not ours to use."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise CommandError(f"bucket {bucket!r} does not exist (check --bucket and --region)") from None
        if code in ACCESS_DENIED_CODES:
            raise CommandError(f"access denied to bucket {bucket!r}: these credentials may not use it") from None
        raise


def object_exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return False
        raise
    return True


def checksum_header(hex_digest: str) -> str:
    """S3's `ChecksumSHA256` form of a hex SHA-256: base64 of the raw digest."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


class UploadProgress:
    """boto3 transfer callback: logs bytes sent every tenth of the file (parts arrive from several threads)."""

    def __init__(self, name: str, total: int):
        self.name, self.total = name, total
        self.sent = 0
        self._next_step = 1
        self._lock = threading.Lock()

    def __call__(self, sent: int) -> None:
        with self._lock:
            self.sent += sent
            while self.total and self.sent * 10 >= self._next_step * self.total and self._next_step <= 10:
                log.info(
                    "%s: %.1f of %.1f MB uploaded (%d%%)",
                    self.name, self.sent / MIB, self.total / MIB, self._next_step * 10,
                )  # fmt: skip
                self._next_step += 1


def upload_file(
    s3, path: Path, bucket: str, key: str, *, content_type: str, sha256: str,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
) -> dict:  # fmt: skip
    """Upload with a SHA-256 checksum S3 verifies (per part above the threshold); returns the object's HEAD.

    The whole file's SHA-256 goes into the object's metadata (`sha256`), since a multipart object's stored
    checksum is a checksum of the parts' checksums. The HEAD afterwards proves the size, and for single-part
    objects the checksum S3 stored.
    """
    config = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold)
    size = path.stat().st_size
    extra = {"ChecksumAlgorithm": "SHA256", "ContentType": content_type, "Metadata": {"sha256": sha256}}
    s3.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=config, Callback=UploadProgress(key, size))
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    if head["ContentLength"] != size:
        raise CommandError(f"s3://{bucket}/{key} has {head['ContentLength']} bytes after upload, {path} has {size}")
    single_part = size < multipart_threshold  # a multipart object's checksum is one of its parts' checksums
    if single_part and head.get("ChecksumSHA256", checksum_header(sha256)) != checksum_header(sha256):
        raise CommandError(f"s3://{bucket}/{key}: S3's SHA-256 differs from {path}'s")
    return head


def job_outcome(job: dict, status_key: str, what: str) -> dict | None:
    """A SageMaker job's description if it completed, None while it runs; a failed or stopped job raises a
    CommandError with SageMaker's FailureReason."""
    status = job[status_key]
    if status in TERMINAL_FAILURES:
        raise CommandError(f"{what} {status.lower()}: {job.get('FailureReason') or 'no reason given'}")
    return job if status == "Completed" else None


def follow_job(
    describe: Callable[[], dict], status_key: str, progress: Callable[[dict], str], what: str, poll_seconds: float,
    max_wait_seconds: float | None = None, on_timeout: str = "",
) -> dict:  # fmt: skip
    """Poll a SageMaker job until it ends, printing `progress(description)` whenever the line changes.

    Returns the last description when the job completed; a failed or stopped job raises a CommandError with
    SageMaker's FailureReason, and so does a job still running after `max_wait_seconds` (`on_timeout` says what then).
    """
    deadline = None if max_wait_seconds is None else time.monotonic() + max_wait_seconds
    shown = None
    while True:
        job = describe()
        line = progress(job)
        if line != shown:
            print(line, flush=True)
            shown = line
        if job_outcome(job, status_key, what) is not None:
            return job
        status = job[status_key]
        if deadline is not None and time.monotonic() >= deadline:
            raise CommandError(f"{what} is still {status} after {max_wait_seconds / 3600:g} hours{on_timeout}")
        time.sleep(poll_seconds)
