"""The whole system on one machine: local model server + local gateway (handler + page), as `make serve` runs it.

The model server runs in its own process, like SageMaker's container: the gateway process never imports
TensorFlow, and the handler reaches the model only through boto3's SigV4-signed `InvokeEndpoint` calls, redirected
by `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`. The handler gets the deployed configuration (model version, label order,
review and block thresholds) from the artifact's manifest, as Terraform gives it to the Lambda function, with
`MODEL_BLOCK_THRESHOLDS` from `.env` merged over the manifest's block thresholds as Terraform merges an
environment's override. With AUTH=jwt the gateway checks tokens as API Gateway's JWT authorizer does
(`toxiguard.serving.local.auth`); without it, the stack refuses to listen where other machines can reach it unless
told to (`check_exposure`).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from toxiguard.artifact import block_thresholds_problem, latest_artifact, manifest_block_thresholds, read_manifest
from toxiguard.config import DEFAULT_DATA_DIR, REVIEWS_DB_NAME, reviews_db_path
from toxiguard.lambda_functions import REVIEWS_FILE
from toxiguard.serving.local.auth import SCOPES, AuthSettings
from toxiguard.serving.local.gateway import EVENT_FORMATS, Gateway
from toxiguard.serving.local.http import BindError, check_port_free, parse_port
from toxiguard.serving.local.issuer import LocalIssuer

READY_LINE = re.compile(r"model server ready at (http://\S+)")
MODEL_START_TIMEOUT_SECONDS = 180
# The development token the start-up banner hands the page (in its URL fragment) with the local issuer.
PAGE_TOKEN_USER = "developer"
PAGE_TOKEN_TTL_SECONDS = 8 * 3600
REVIEW_PAGE = "review.html"  # the review queue, next to the page (frontend/)
# Locally the queue fills unless REVIEWS_STORE_DEFAULT says otherwise (on AWS storing is off unless configured).
LOCAL_STORE_DEFAULT = "true"
FLAG_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class StackError(RuntimeError):
    """The local stack could not start (port taken, model server failed); the message says what to do."""


@dataclasses.dataclass(frozen=True)
class StackSettings:
    """Where the local stack listens and what it serves; `from_env` reads the variables `.env.example` documents."""

    artifact_dir: Path | None = None  # None: the newest version under artifacts/
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    model_host: str = "127.0.0.1"
    model_port: int = 8080
    endpoint_name: str = "toxiguard"
    batching: bool = True
    auth: AuthSettings = dataclasses.field(default_factory=AuthSettings)
    allow_open: bool = False  # serve without tokens on an address other machines can reach
    payload_format: str = "2.0"  # the event the handler gets: HTTP API (2.0) or REST API (1.0)
    reviews_db: Path = DEFAULT_DATA_DIR / REVIEWS_DB_NAME  # the review queue's SQLite file (REVIEWS_DB)
    # MODEL_BLOCK_THRESHOLDS: label -> block threshold or None, merged over the manifest's; empty = the manifest's.
    block_threshold_overrides: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StackSettings:
        env = os.environ if environ is None else environ
        defaults = cls()
        artifact = env.get("TOXIGUARD_ARTIFACT")
        return cls(
            artifact_dir=Path(artifact) if artifact else None,
            gateway_host=env.get("GATEWAY_HOST", defaults.gateway_host),
            gateway_port=_port(env, "GATEWAY_PORT", defaults.gateway_port),
            model_host=env.get("MODEL_SERVER_HOST", defaults.model_host),
            model_port=_port(env, "MODEL_SERVER_PORT", defaults.model_port),
            endpoint_name=env.get("SAGEMAKER_ENDPOINT_NAME", defaults.endpoint_name),
            batching=env.get("MODEL_BATCHING", "true").lower() not in ("0", "false", "no"),
            auth=AuthSettings.from_env(env),
            allow_open=_flag(env, "AUTH_ALLOW_OPEN"),
            payload_format=_payload_format(env),
            reviews_db=reviews_db_path(env),
            block_threshold_overrides=_block_threshold_overrides(env),
        )


def _port(env, name: str, default: int) -> int:
    try:
        return parse_port(env.get(name, str(default)))
    except argparse.ArgumentTypeError as exc:
        raise StackError(f"{name}={exc}") from None


def _payload_format(env) -> str:
    value = env.get("API_PAYLOAD_FORMAT", "2.0").strip()
    if value not in EVENT_FORMATS:
        raise StackError(f"API_PAYLOAD_FORMAT={value!r}: use 2.0 (HTTP API, as deployed) or 1.0 (REST API)")
    return value


def _block_threshold_overrides(env) -> dict:
    raw = env.get("MODEL_BLOCK_THRESHOLDS", "").strip()
    try:
        overrides = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        overrides = None
    if not isinstance(overrides, dict):
        raise StackError(f"MODEL_BLOCK_THRESHOLDS={raw!r} is not a JSON object of label -> number or null")
    return overrides


def block_thresholds_setting(manifest: dict, overrides: dict) -> dict[str, float | None]:
    """The block thresholds the handler gets: the overrides merged over the manifest's, checked against its labels
    and review thresholds."""
    block_thresholds = {**manifest_block_thresholds(manifest), **overrides}
    problem = block_thresholds_problem(block_thresholds, manifest["thresholds"])
    if problem:
        raise StackError(f"MODEL_BLOCK_THRESHOLDS merged over the manifest's block thresholds {problem}")
    return block_thresholds


def _flag(env, name: str) -> bool:
    raw = env.get(name, "").strip().lower() or "false"
    if raw not in FLAG_VALUES:
        raise StackError(f"{name}={env[name]!r} is not true or false")
    return FLAG_VALUES[raw]


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host`: `localhost` or a loopback address (not "" or 0.0.0.0: all)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, which may resolve to any address
        return False


def check_exposure(settings: StackSettings) -> None:
    """Refuse to serve the API without tokens where other machines can reach it, unless told to."""
    if settings.auth.enabled or settings.allow_open or is_loopback(settings.gateway_host):
        return
    raise StackError(
        f"GATEWAY_HOST={settings.gateway_host} with AUTH=none would let anyone who can reach this machine call the "
        "API: set AUTH=jwt (tokens from `toxiguard token` or a Cognito pool), or serve it open anyway with "
        "AUTH_ALLOW_OPEN=true or `toxiguard serve --allow-open`"
    )


def handler_environment(
    manifest: dict,
    model_url: str,
    endpoint_name: str,
    reviews_db: Path | None = None,
    block_threshold_overrides: dict | None = None,
) -> dict[str, str]:
    """What the Lambda functions' configuration holds on AWS, with the runtime endpoint pointed at `model_url`, the
    block thresholds merged as `block_thresholds_setting` says and, given `reviews_db`, the review store at that
    SQLite file instead of a DynamoDB table."""
    environment = {
        "SAGEMAKER_ENDPOINT_NAME": endpoint_name,
        "MODEL_VERSION": manifest["version"],
        "MODEL_LABELS": ",".join(manifest["labels"]),
        "MODEL_THRESHOLDS": json.dumps(manifest["thresholds"]),
        "MODEL_BLOCK_THRESHOLDS": json.dumps(block_thresholds_setting(manifest, block_threshold_overrides or {})),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url,
        # boto3 signs every call; the local server checks the signature's presence, not the key.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    if reviews_db is not None:
        store_default = os.environ.get("REVIEWS_STORE_DEFAULT", "").strip() or LOCAL_STORE_DEFAULT
        environment.update(REVIEWS_DB=str(reviews_db), REVIEWS_STORE_DEFAULT=store_default)
    return environment


def ensure_port_free(host: str, port: int, variable: str) -> None:
    """Fail fast, before the model loads, when a fixed port is already taken."""
    try:
        check_port_free(host, port, f"{variable}=<port>")
    except BindError as exc:
        raise StackError(str(exc)) from None


class LocalStack:
    """Model server process + in-process gateway; a context manager whose `gateway_url` serves page and API."""

    def __init__(
        self,
        artifact_dir: Path | None = None,
        gateway_port: int | None = None,
        model_port: int | None = None,
        settings: StackSettings | None = None,
    ):
        settings = settings or StackSettings()
        overrides = {"gateway_port": gateway_port, "model_port": model_port, "artifact_dir": artifact_dir}
        self.settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        self.artifact_dir = Path(self.settings.artifact_dir or latest_artifact())
        self.manifest = read_manifest(self.artifact_dir)
        self.model_url = ""
        self._process: subprocess.Popen | None = None
        self._gateway: Gateway | None = None

    @property
    def gateway_url(self) -> str:
        return self._gateway.url

    @property
    def model_version(self) -> str:
        return self.manifest["version"]

    @property
    def model_server_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalStack:
        s = self.settings
        check_exposure(s)
        block_thresholds_setting(self.manifest, s.block_threshold_overrides)  # fail before the model loads
        ensure_port_free(s.gateway_host, s.gateway_port, "GATEWAY_PORT")
        ensure_port_free(s.model_host, s.model_port, "MODEL_SERVER_PORT")
        try:
            self.model_url = self._start_model_server()
            environment = handler_environment(
                self.manifest, self.model_url, s.endpoint_name, s.reviews_db, s.block_threshold_overrides
            )
            self._gateway = Gateway(
                environment,
                s.gateway_host,
                s.gateway_port,
                reviews_file=REVIEWS_FILE,
                auth=s.auth,
                payload_format=s.payload_format,
            ).start()
        except BaseException:
            self.close()
            raise
        return self

    def _start_model_server(self) -> str:
        s = self.settings
        command = [sys.executable, "-m", "toxiguard.serving.local.model_server", "--artifact", str(self.artifact_dir),
                   "--host", s.model_host, "--port", str(s.model_port), "--endpoint-name", s.endpoint_name]  # fmt: skip
        if not s.batching:
            command.append("--no-batching")
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
        deadline = time.monotonic() + MODEL_START_TIMEOUT_SECONDS
        for line in self._process.stdout:
            match = READY_LINE.search(line)
            if match:
                threading.Thread(target=_forward, args=(self._process.stdout,), daemon=True).start()
                _wait_for_ping(match.group(1), deadline)
                return match.group(1)
            sys.stdout.write(line)
            if time.monotonic() > deadline:
                break
        code = self._process.wait(timeout=10)
        raise StackError(f"the model server stopped before it was ready (exit code {code}); its messages are above")

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()


def _forward(stream) -> None:
    for line in stream:
        sys.stdout.write(line)


def _wait_for_ping(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StackError(f"the model server at {url} did not answer /ping in time")
        time.sleep(0.1)


def auth_banner(auth: AuthSettings, gateway_url: str) -> str:
    """The start-up lines about authentication; with the local issuer, the page's URL with a development token."""
    if not auth.enabled:
        return "  auth      off (AUTH=none): the API takes requests without a token"
    if not auth.local_issuer:
        return f"  auth      JWT (AUTH=jwt) from {auth.issuer}, keys from AUTH_JWKS_URL"
    token = LocalIssuer(auth.data_dir).mint_token(SCOPES, PAGE_TOKEN_USER, PAGE_TOKEN_TTL_SECONDS)
    hours = PAGE_TOKEN_TTL_SECONDS // 3600
    return (
        "  auth      JWT (AUTH=jwt) from the local development issuer; API tokens: toxiguard token --scope moderate\n"
        f"  signed in {gateway_url}/#access_token={token}\n"
        f"            {gateway_url}/{REVIEW_PAGE}#access_token={token}\n"
        f"            (the page and the review queue as {PAGE_TOKEN_USER!r}, scopes moderate and review, {hours} h)"
    )


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def serve(settings: StackSettings) -> int:
    """Run the stack in the foreground until Ctrl-C (or SIGTERM); prints where everything is."""
    # Explicit handlers: a shell that starts us in the background makes us inherit an ignored SIGINT.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "found credentials" lines are noise here
    with LocalStack(settings=settings) as stack:
        print(
            f"toxiguard is running (model {stack.model_version})\n"
            f"  web page  {stack.gateway_url}/\n"
            f"  review    {stack.gateway_url}/{REVIEW_PAGE}  (the moderators' queue)\n"
            f"  API       {stack.gateway_url}/v1/moderate  (health: {stack.gateway_url}/v1/health)\n"
            f"  model     {stack.model_url}  (SageMaker-compatible: /ping, /invocations)\n"
            f"{auth_banner(settings.auth, stack.gateway_url)}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        try:
            while stack.model_server_running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
            return 0
    raise StackError("the model server stopped unexpectedly; its messages are above")
