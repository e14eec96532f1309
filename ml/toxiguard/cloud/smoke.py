"""Smoke test of a running toxiguard stack: the API's contract and, given its URL, the web page.

The base install only (no TensorFlow, no boto3), as the deploy workflow runs it:
`python -m toxiguard.cloud.smoke --api URL --site URL --expect-version V`. Against an API with authentication on, it
sends the token the API client would (TOXIGUARD_API_TOKEN or client credentials, see `toxiguard.serving.client`)
and also checks that a request without one is refused. The tests run it against the
local stack, so what the deployment is checked with is itself checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

from toxiguard.config import EXAMPLE_TEXTS
from toxiguard.serving.client import ApiError, Credentials, CredentialsError, credentials_from_env

FRIENDLY, ABUSIVE = EXAMPLE_TEXTS[:2]  # the manifest's example request


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class SmokeFailure(AssertionError):
    """One expectation of a check did not hold; its message says what was seen."""


def request(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> Reply:
    """One HTTP exchange; HTTP errors are replies too (the checks look at their status and body)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Smoke:
    """The checks; each returns a one-line detail or raises SmokeFailure."""

    def __init__(
        self,
        api_url: str,
        site_url: str | None,
        expect_version: str | None,
        wait_seconds: float,
        credentials: Credentials | None = None,
    ):
        self.api = api_url.rstrip("/")
        self.site = site_url.rstrip("/") if site_url else None
        self.expect_version = expect_version
        self.wait_seconds = wait_seconds
        self.credentials = credentials

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        checks = [("health", self.health), ("moderate", self.moderate), ("json errors", self.json_errors)]
        if self.credentials:
            checks.append(("auth", self.auth))
        if self.site:
            checks += [("page", self.page), ("page config", self.page_config)]
            if origin_of(self.site) != origin_of(self.api):
                checks.append(("cors", self.cors))
        return checks

    def _version(self, body: dict) -> None:
        if self.expect_version:
            seen = body.get("model_version")
            expect(seen == self.expect_version, f"model_version {seen!r}, expected {self.expect_version!r}")

    def health(self) -> str:
        # A new serverless endpoint's first invocations can fail while it scales from zero: retry until the deadline.
        deadline = time.monotonic() + self.wait_seconds
        while True:
            reply = request("GET", f"{self.api}/v1/health")
            body = reply.json()
            if reply.status == 200 or time.monotonic() >= deadline:
                break
            time.sleep(5)
        expect(reply.status == 200, f"status {reply.status}: {body.get('error') or reply.body[:200]!r}")
        expect(body.get("status") == "ok", f"status field {body.get('status')!r}")
        self._version(body)
        return f"endpoint {body['endpoint']['name']} answered in {body['endpoint']['latency_ms']} ms"

    def _post_moderate(self, payload: bytes, with_token: bool = True) -> Reply:
        headers = {"Content-Type": "application/json"}
        if with_token and self.credentials:
            headers["Authorization"] = self.credentials.authorization()
        return request("POST", f"{self.api}/v1/moderate", payload, headers)

    def moderate(self) -> str:
        reply = self._post_moderate(json.dumps({"texts": [FRIENDLY, ABUSIVE]}).encode())
        body = reply.json()
        expect(reply.status == 200, f"status {reply.status}: {body.get('error') or reply.body[:200]!r}")
        self._version(body)
        expect("x-request-id" in reply.headers, "no X-Request-Id header")
        results = body.get("results", [])
        expect(len(results) == 2, f"{len(results)} results for 2 texts")
        expect(not results[0]["flagged"], f"a friendly comment was flagged: {results[0]['labels']}")
        expect(results[1]["flagged"], f"an abusive comment was not flagged: {results[1]['scores']}")
        return f"model {body['model_version']}: friendly passed, abusive flagged as {', '.join(results[1]['labels'])}"

    def json_errors(self) -> str:
        reply = self._post_moderate(b"{not json")
        code = reply.json().get("error", {}).get("code")
        expect(reply.status == 400 and code == "invalid_json", f"status {reply.status}, error code {code!r}")
        return "malformed JSON gives 400 invalid_json"

    def auth(self) -> str:
        reply = self._post_moderate(json.dumps({"text": FRIENDLY}).encode(), with_token=False)
        body = reply.json()
        # API Gateway's own body on AWS, the error contract through the local gateway.
        refused = body.get("message") == "Unauthorized" or body.get("error", {}).get("code") == "unauthorized"
        expect(reply.status == 401 and refused, f"without a token: status {reply.status}, {reply.body[:200]!r}")
        return "a request without a token is refused with 401; with one it is scored"

    def page(self) -> str:
        reply = request("GET", f"{self.site}/")
        expect(reply.status == 200, f"status {reply.status}")
        expect(reply.headers.get("content-type", "").startswith("text/html"), "not text/html")
        expect(b"toxiguard" in reply.body.lower(), "the page does not mention toxiguard")
        return f"{len(reply.body)} bytes of HTML"

    def page_config(self) -> str:
        reply = request("GET", f"{self.site}/config.js")
        expect(reply.status == 200, f"config.js status {reply.status}")
        text = reply.body.decode("utf-8", "replace")
        start = text.find("{")
        try:
            config = json.loads(text[start : text.rindex("}") + 1])
        except ValueError:
            raise SmokeFailure(f"config.js holds no JSON object: {text[:120]!r}") from None
        api_url = config.get("apiUrl", "").rstrip("/")
        same_origin = not api_url and origin_of(self.site) == origin_of(self.api)
        expect(same_origin or api_url == self.api, f"config.js points at {api_url!r}, not {self.api!r}")
        return "config.js points the page at the API"

    def cors(self) -> str:
        origin = origin_of(self.site)
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",  # a signed-in page sends its token
        }
        reply = request("OPTIONS", f"{self.api}/v1/moderate", None, headers)
        allowed = reply.headers.get("access-control-allow-origin")
        expect(reply.status in (200, 204), f"preflight status {reply.status}")
        expect(allowed in (origin, "*"), f"Access-Control-Allow-Origin {allowed!r} for {origin}")
        allowed_headers = reply.headers.get("access-control-allow-headers", "")
        names = {name.strip().lower() for name in allowed_headers.split(",")}
        expect("authorization" in names, f"Access-Control-Allow-Headers {allowed_headers!r} lacks authorization")
        return f"preflight from {origin} allowed"


def run(smoke: Smoke, out=sys.stdout) -> list[Check]:
    results = []
    for name, check in smoke.checks():
        try:
            result = Check(name, True, check())
        except (SmokeFailure, ApiError, urllib.error.URLError, OSError, KeyError, TypeError) as error:
            result = Check(name, False, f"{error.__class__.__name__}: {error}")
        print(f"{'ok  ' if result.ok else 'FAIL'} {name:<12} {result.detail}", file=out, flush=True)
        results.append(result)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api", required=True, help="the API's base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com"
    )
    parser.add_argument("--site", help="the web page's URL; checks the page, its config.js and CORS from its origin")
    parser.add_argument("--expect-version", help="fail unless the API reports this model version")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep retrying health (cold endpoints)")


def smoke_command(args: argparse.Namespace) -> int:
    try:
        credentials = credentials_from_env()
    except CredentialsError as error:
        print(f"smoke test: {error}", file=sys.stderr)
        return 2
    results = run(Smoke(args.api, args.site, args.expect_version, args.wait, credentials))
    failed = [r.name for r in results if not r.ok]
    print(f"smoke test: {len(results) - len(failed)}/{len(results)} checks passed", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toxiguard.cloud.smoke", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return smoke_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
