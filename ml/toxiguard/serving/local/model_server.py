"""Local stand-in for a SageMaker endpoint running the TensorFlow Serving container, for the packaged model.

Two faces, as on AWS:

* the container contract SageMaker itself calls: `GET /ping` and `POST /invocations`, the container's front end
  (`container`) in front of TensorFlow Serving's REST predict API (`tf_serving`): the same request formats,
  response bytes and error messages;
* the SageMaker Runtime API that boto3's `invoke_endpoint` calls: `POST /endpoints/{EndpointName}/invocations`, SigV4
  signed, which answers with the container's body and AWS's headers, or with AWS's error shapes (`sagemaker_runtime`).

The model is scored by `scoring` (one compiled signature, micro-batching of concurrent requests); HTTP is the shared
waitress layer (`http`). Measurements behind the defaults: docs/model-server.md.

    python -m toxiguard.serving.local.model_server --artifact artifacts/<version> [--host 127.0.0.1] [--port 8080]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote

from toxiguard.artifact import MANIFEST_FILE
from toxiguard.serving.local.container import apply_accept, tfs_request_body
from toxiguard.serving.local.http import (
    BindError,
    HttpError,
    HttpServer,
    Request,
    Response,
    method_not_allowed,
    parse_port,
)
from toxiguard.serving.local.sagemaker_runtime import (
    LOCAL_ACCOUNT_ID,
    RUNTIME_PATH,
    AwsError,
    aws_error_response,
    model_error,
    signing_region,
)
from toxiguard.serving.local.scoring import (
    BATCH_WORKERS,
    CHUNK_TEXTS,
    MAX_TEXTS_PER_CALL,
    PARALLEL_CHUNKS,
    MicroBatcher,
    SignatureScorer,
)
from toxiguard.serving.local.tf_serving import (
    PredictError,
    Scores,
    Text,
    parse_predict_request,
    predict_error_body,
    predict_response,
)

log = logging.getLogger("toxiguard.serving.local.model_server")

MAX_BODY_BYTES = 6 * 2**20  # InvokeEndpoint's payload limit (BodyBlob max in the service model)
DEFAULT_ENDPOINT, DEFAULT_VARIANT = "toxiguard", "AllTraffic"
# Requests in progress at once: enough for every waiting request to join the next micro-batch.
HTTP_THREADS = 32
ROUTES = {"/ping": ("GET", "HEAD"), "/invocations": ("POST",)}


class ModelServerError(RuntimeError):
    """The server cannot start (port taken, no model); the message says what to do."""


class ModelServer:
    """The local SageMaker endpoint for one packaged model; a context manager.

    `start()` binds the port (failing fast with ModelServerError when it is taken), loads and warms up the model,
    then serves in a background thread; `url` reports the bound port, so port 0 picks a free one.
    """

    def __init__(
        self,
        artifact_dir: Path,
        host: str = "127.0.0.1",
        port: int = 8080,
        endpoint_name: str = DEFAULT_ENDPOINT,
        batching: bool = True,
        variant_name: str = DEFAULT_VARIANT,
        chunk_texts: int = CHUNK_TEXTS,
        parallel_chunks: int = PARALLEL_CHUNKS,
        max_texts_per_call: int = MAX_TEXTS_PER_CALL,
        batch_workers: int = BATCH_WORKERS,
    ):
        self.artifact_dir = Path(artifact_dir)
        self.host, self.port = host, port
        self.endpoint_name, self.variant_name = endpoint_name, variant_name
        self.batching = batching
        self.chunk_texts, self.parallel_chunks = chunk_texts, parallel_chunks
        self.max_texts_per_call, self.batch_workers = max_texts_per_call, batch_workers
        self.model_version = ""
        self._artifact = None
        self._scorer: SignatureScorer | None = None
        self._score: Callable[[list[Text]], Scores] | None = None
        self._http: HttpServer | None = None
        self._serving = False

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("the model server is not started")
        return self._http.url

    def start(self) -> ModelServer:
        """Bind, load the model, trace and warm it up, serve; returns once `/ping` answers 200."""
        if self._serving:
            return self
        try:
            self._http = HttpServer(self.handle, self.host, self.port, name="toxiguard-model-server",
                                    threads=HTTP_THREADS, max_body_bytes=MAX_BODY_BYTES,
                                    port_setting="--port <port>")  # fmt: skip
        except BindError as exc:
            raise ModelServerError(str(exc)) from None
        try:
            self._load_model()
        except BaseException:
            self.close()
            raise
        self._http.start()
        self._serving = True
        return self

    def _load_model(self) -> None:
        if not (self.artifact_dir / MANIFEST_FILE).is_file():
            raise ModelServerError(f"no packaged model in {self.artifact_dir}: manifest.json is missing")
        from toxiguard.config import configure_threads

        configure_threads()  # before TensorFlow initialises (a no-op when it already has)
        from toxiguard.serving.model import ServingModel

        try:
            self._artifact = ServingModel(self.artifact_dir)
            self._scorer = SignatureScorer(self._artifact.serving_fn, self.chunk_texts, self.parallel_chunks)
        except Exception as exc:
            raise ModelServerError(f"cannot load the model in {self.artifact_dir}: {exc}") from exc
        self.model_version = self._artifact.version
        score = self._scorer.score
        self._score = MicroBatcher(score, self.max_texts_per_call, self.batch_workers).score if self.batching else score

    def serve_forever(self) -> None:
        """Start if needed, then block until `close()` (or a signal handler raising in the main thread)."""
        self.start()
        while self._serving:
            time.sleep(0.5)  # wakes regularly so signals reach the main thread

    def close(self) -> None:
        self._serving = False
        if self._http is not None:
            self._http.close()  # first: requests under way finish with the model still there
        if self._scorer is not None:
            self._scorer.close()
        self._http = self._scorer = self._artifact = None  # the artifact's extracted copy goes too

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def handle(self, request: Request) -> Response:
        """Route one request (called by the HTTP server's threads); logs one line at debug level, never the text."""
        started = time.perf_counter()
        try:
            response, texts = self._route(request)
        except HttpError as error:
            response, texts = error.response(), 0
        log.debug(
            "%s %s %d texts=%d %.2fms",
            request.method,
            request.path,
            response.status,
            texts,
            (time.perf_counter() - started) * 1e3,
        )
        return response

    def _route(self, request: Request) -> tuple[Response, int]:
        """The response and how many texts it scored."""
        runtime = RUNTIME_PATH.fullmatch(request.path)
        allowed = ("POST",) if runtime else ROUTES.get(request.path)
        if allowed is None:
            routes = "GET /ping, POST /invocations and POST /endpoints/{name}/invocations"
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such route; this server answers {routes}")
        if request.method not in allowed:
            raise method_not_allowed(request.path, allowed)
        if request.path == "/ping":
            return Response(HTTPStatus.OK, b""), 0
        if runtime:
            return self.invoke_endpoint(unquote(runtime.group(1)), request)
        return self.invocations(request)

    def invocations(self, request: Request) -> tuple[Response, int]:
        """The container's `/invocations`: TF Serving's predict API behind the container's front end."""
        accept = request.headers.get("accept")
        try:
            predict = parse_predict_request(tfs_request_body(request.headers.get("content-type"), request.body))
        except PredictError as exc:
            if exc.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:  # answered by the front end, before TF Serving
                return Response(exc.status, json.dumps({"error": str(exc)}).encode()), 0
            return apply_accept(Response(exc.status, predict_error_body(str(exc))), accept), 0
        scores = self._score(predict.texts)
        response = Response(HTTPStatus.OK, predict_response(scores, predict.columnar))
        return apply_accept(response, accept), len(predict.texts)

    def invoke_endpoint(self, endpoint_name: str, request: Request) -> tuple[Response, int]:
        """SageMaker Runtime's InvokeEndpoint: the container's answer with AWS's headers, or AWS's error."""
        request_id = {"x-amzn-RequestId": str(uuid.uuid4())}
        texts = 0
        try:
            region = signing_region(request.headers)
            if endpoint_name != self.endpoint_name:
                message = f"Endpoint {endpoint_name} of account {LOCAL_ACCOUNT_ID} not found."
                raise AwsError(HTTPStatus.BAD_REQUEST, "ValidationError", {"Message": message})
            response, texts = self.invocations(request)
            if response.status != HTTPStatus.OK:
                message = response.body.decode("utf-8", errors="replace")
                raise model_error(response.status, message, region, self.endpoint_name, self.variant_name)
        except AwsError as error:
            failed = aws_error_response(error)
            return dataclasses.replace(failed, headers={**failed.headers, **request_id}), texts
        variant = {"x-Amzn-Invoked-Production-Variant": self.variant_name}
        return dataclasses.replace(response, headers={**response.headers, **request_id, **variant}), texts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toxiguard.serving.local.model_server", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--artifact", type=Path, required=True, help="packaged model directory (artifacts/<version>)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=parse_port, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT, help="the SageMaker endpoint name it answers to")
    parser.add_argument("--no-batching", dest="batching", action="store_false", help="score each request alone")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG logs one line per request (never the text)")  # fmt: skip
    args = parser.parse_args(argv)
    level = logging.getLevelName(args.log_level)
    # DEBUG applies to this server's own lines only, not to the libraries' debug chatter.
    logging.basicConfig(level=max(level, logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(level)

    def stop(signum, frame):
        raise KeyboardInterrupt  # SIGTERM (the local stack stopping us) cleans up like Ctrl-C

    previous_handler = signal.signal(signal.SIGTERM, stop)
    server = ModelServer(args.artifact, args.host, args.port, args.endpoint_name, args.batching)
    try:
        server.start()
        print(f"model server ready at {server.url} (model {server.model_version})", flush=True)
        server.serve_forever()
    except ModelServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
