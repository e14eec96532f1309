"""Client of the moderation API (`POST /v1/moderate`), local or deployed, and the in-process equivalent.

Both return the API's response shape, so the CLI prints and writes the same thing whichever one scored the text.
The API client splits texts into requests within the API's limits and retries what may succeed later (RetryPolicy).
An API with authentication on gets a bearer token (`credentials_from_env`): a fixed one, or one fetched with OAuth 2.0
client credentials and renewed before it expires, or when the API refuses it.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:  # loading a model needs TensorFlow; the API client does not
    from toxiguard.serving.model import ServingModel

# The API's limits (docs/api.md): lambda/handler.py's DEFAULT_MAX_* copied, since the handler is deployed alone (a test
# checks that they agree). Requests are split by count and by encoded size so that none is refused for either.
API_MAX_TEXTS = 64
API_MAX_TEXT_CHARS = 5000
API_MAX_BODY_BYTES = 262_144
# A body is assembled from each text's JSON, so its exact size is known before it is built and sent.
BODY_START, BODY_END, TEXT_SEPARATOR = b'{"texts":[', b"]}", b","
# Answers worth another attempt: throttled (by the API or a proxy in front of it), or failed on the server's side.
RETRY_STATUSES = frozenset({429, *range(500, 600)})
# The authorizer's refusals, by the API's error codes: API Gateway's own answers (`{"message": "Unauthorized"}`) carry
# none, so the status names them.
AUTH_ERROR_CODES = {401: "unauthorized", 403: "insufficient_scope"}
DEFAULT_TOKEN_SCOPE = "toxiguard/moderate"
# A fetched token is renewed this long before it expires, so none expires on its way to the API.
TOKEN_RENEW_MARGIN_SECONDS = 60
CLIENT_CREDENTIALS = ("TOXIGUARD_CLIENT_ID", "TOXIGUARD_CLIENT_SECRET", "TOXIGUARD_TOKEN_URL")

log = logging.getLogger("toxiguard.serving.client")


class ApiError(RuntimeError):
    """The API answered with an error, or could not be reached (status 0).

    `retryable`: a later attempt may succeed (throttled, failed on the server's side, or not reached); `retry_after`:
    the seconds the answer asked the client to wait (its Retry-After header), if it said.
    """

    def __init__(self, status: int, code: str, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(f"{code} ({status}): {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a request that was throttled (429), failed on the server's side (5xx) or not sent.

    Waits grow exponentially with full jitter, so that clients throttled together do not all come back together,
    and are never shorter than the answer's Retry-After. At most `max_attempts` attempts, and none whose wait would
    end more than `max_total_seconds` after the first attempt began.
    """

    max_attempts: int = 8
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    max_total_seconds: float = 120.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (the second attempt is retry 1)."""
        backoff = random.uniform(0, min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (retry - 1)))
        return max(backoff, retry_after or 0.0)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (RFC 9110: whole seconds, or an HTTP date) as seconds from `now`; None if absent or bad."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


DEFAULT_RETRY = RetryPolicy()


class CredentialsError(ValueError):
    """The token settings in the environment are incomplete or contradict each other; the message names them."""


class StaticToken:
    """TOXIGUARD_API_TOKEN: one token, sent as it is; it cannot be renewed."""

    renewable = False

    def __init__(self, token: str):
        self._token = token

    def authorization(self) -> str:
        return f"Bearer {self._token}"


class ClientCredentials:
    """OAuth 2.0 client credentials (RFC 6749 section 4.4) at a token endpoint such as Cognito's `/oauth2/token`.

    The client id and secret go in HTTP Basic authentication, `grant_type=client_credentials&scope=...` in a form
    body. The token is reused until TOKEN_RENEW_MARGIN_SECONDS before its `expires_in`; `renew` drops it, so that the
    next request fetches another. `clock` is there for tests.
    """

    renewable = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str = DEFAULT_TOKEN_SCOPE,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.token_url, self.scope, self.timeout, self.clock = token_url, scope, timeout, clock
        self._basic_auth = (client_id, client_secret)
        self.session = requests.Session()
        self._token: str | None = None
        self._renew_at = 0.0

    def authorization(self) -> str:
        if self._token is None or self.clock() >= self._renew_at:
            self._token, lifetime = self._fetch()
            self._renew_at = self.clock() + lifetime - TOKEN_RENEW_MARGIN_SECONDS
        return f"Bearer {self._token}"

    def renew(self) -> None:
        self._token = None

    def _fetch(self) -> tuple[str, float]:
        """A new access token and its lifetime in seconds (unbounded when the endpoint does not say)."""
        form = {"grant_type": "client_credentials", "scope": self.scope}
        try:
            reply = self.session.post(self.token_url, data=form, auth=self._basic_auth, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            message = f"cannot reach TOXIGUARD_TOKEN_URL ({self.token_url}): {exc.__class__.__name__}"
            raise ApiError(0, "token_unreachable", message, retryable=True) from None
        except requests.RequestException as exc:
            message = f"cannot ask TOXIGUARD_TOKEN_URL ({self.token_url}) for a token: {exc.__class__.__name__}"
            raise ApiError(0, "token_request_failed", message) from None
        try:
            answer = reply.json()
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        if reply.status_code != 200:
            reason = answer.get("error") if isinstance(answer.get("error"), str) else reply.reason
            message = (f"the token endpoint TOXIGUARD_TOKEN_URL answered {reply.status_code} {reason}: check "
                       "TOXIGUARD_CLIENT_ID, TOXIGUARD_CLIENT_SECRET and TOXIGUARD_TOKEN_SCOPE")  # fmt: skip
            raise ApiError(reply.status_code, "token_refused", message, retryable=reply.status_code in RETRY_STATUSES)
        token, lifetime = answer.get("access_token"), answer.get("expires_in", math.inf)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float) or lifetime <= 0:
            message = f"the token endpoint TOXIGUARD_TOKEN_URL ({self.token_url}) did not answer with an access token"
            raise ApiError(reply.status_code, "bad_token_response", message)
        return token, lifetime


Credentials = StaticToken | ClientCredentials


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The API token settings (environment or `.env`): TOXIGUARD_API_TOKEN, or client credentials
    (TOXIGUARD_CLIENT_ID, TOXIGUARD_CLIENT_SECRET, TOXIGUARD_TOKEN_URL, TOXIGUARD_TOKEN_SCOPE); None without either."""
    env = os.environ if environ is None else environ
    token = env.get("TOXIGUARD_API_TOKEN", "").strip()
    given = {name: env.get(name, "").strip() for name in CLIENT_CREDENTIALS}
    if token and any(given.values()):
        raise CredentialsError("set TOXIGUARD_API_TOKEN or the client credentials (TOXIGUARD_CLIENT_ID, ...), not both")
    if token:
        return StaticToken(token)
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise CredentialsError(f"client credentials need {' and '.join(missing)} as well")
    url = urlsplit(given["TOXIGUARD_TOKEN_URL"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CredentialsError(f"TOXIGUARD_TOKEN_URL={given['TOXIGUARD_TOKEN_URL']!r} is not an http(s) URL")
    scope = env.get("TOXIGUARD_TOKEN_SCOPE", "").strip() or DEFAULT_TOKEN_SCOPE
    return ClientCredentials(given["TOXIGUARD_TOKEN_URL"], given["TOXIGUARD_CLIENT_ID"],
                             given["TOXIGUARD_CLIENT_SECRET"], scope)  # fmt: skip


def refused_by_authorizer(error: ApiError, credentials: Credentials | None) -> ApiError:
    """A 401 or 403 that renewing the token did not cure, saying what to set."""
    if error.status == 403:
        hint = (
            "the token does not grant the scope the API needs (toxiguard/moderate): "
            + ("mint one with it (`toxiguard token --scope moderate`)" if isinstance(credentials, StaticToken)
               else "set TOXIGUARD_TOKEN_SCOPE=toxiguard/moderate and allow the app client that scope")
        )  # fmt: skip
    elif credentials is None:
        hint = ("the API needs an access token: set TOXIGUARD_API_TOKEN (locally: `toxiguard token --scope "
                "moderate`), or client credentials: TOXIGUARD_CLIENT_ID, TOXIGUARD_CLIENT_SECRET and "
                "TOXIGUARD_TOKEN_URL")  # fmt: skip
    elif isinstance(credentials, StaticToken):
        hint = ("the API refused TOXIGUARD_API_TOKEN (expired, or not from the issuer the API trusts): set a new "
                "one, or client credentials, which are renewed as they expire")  # fmt: skip
    else:
        hint = ("the API refused a new token from TOXIGUARD_TOKEN_URL: it trusts another user pool or app client "
                "(check TOXIGUARD_TOKEN_URL and TOXIGUARD_CLIENT_ID)")  # fmt: skip
    code = AUTH_ERROR_CODES[error.status] if error.code == "http_error" else error.code
    return ApiError(error.status, code, f"{hint} (the API said: {error.message})")


class ApiScorer:
    """Scores through a running API with one keep-alive session; batches larger than the API allows are split.

    Each request is retried as `retry` says; `sleep` and `clock` are there for tests.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        credentials: Credentials | None = None,
    ):
        self.url = base_url.rstrip("/") + "/v1/moderate"
        self.timeout = timeout
        self.retry, self.sleep, self.clock = retry, sleep, clock
        self.credentials = credentials
        self.session = requests.Session()
        self.model_version = ""
        self.thresholds: dict[str, float] = {}
        self.block_thresholds: dict[str, float | None] = {}
        # The failure that stops this scorer sending more requests: retryable, or the authorizer's refusal.
        self.gave_up: ApiError | None = None

    def moderate(self, texts: Sequence[str]) -> dict:
        """The API's response shape for any number of texts; raises the first request's ApiError."""
        results = self.results(texts)
        failure = next((result for result in results if isinstance(result, ApiError)), None)
        if failure is not None:
            raise failure
        return {
            "model_version": self.model_version,
            "thresholds": self.thresholds,
            "block_thresholds": self.block_thresholds,
            "results": results,
        }

    def results(self, texts: Sequence[str]) -> list[dict | ApiError]:
        """One entry per text, in order: its result, or the ApiError that stopped its request.

        A request the API refuses fails alone. Once one has failed for good with a retryable error (the API down,
        or throttling beyond the retry budget), the later ones are not sent: each would only wait as long again. Nor
        are they after the authorizer refused the token: the next ones carry the same.
        """
        results: list[dict | ApiError] = []
        for count, body in request_bodies(texts):
            try:
                results.extend(self._checked_results(self._post(body), count))
            except ApiError as error:
                stops = error.retryable or error.status in AUTH_ERROR_CODES
                self.gave_up = self.gave_up or (error if stops else None)
                results.extend([error] * count)
        return results

    def _checked_results(self, response: Any, count: int) -> list[dict]:
        results = response.get("results") if isinstance(response, dict) else None
        if not isinstance(results, list) or len(results) != count:  # a proxy's page, say: never misplace scores
            raise ApiError(200, "bad_response", f"the answer is not the API's {count} results")
        self.model_version, self.thresholds = response.get("model_version", ""), response.get("thresholds", {})
        self.block_thresholds = response.get("block_thresholds", {})
        return results

    def _post(self, body: bytes) -> Any:
        """One request, retried while `retry` allows; the last ApiError, saying so, when it gives up."""
        if self.gave_up is not None:
            message = f"not sent after an earlier request failed: {self.gave_up.message}"
            raise ApiError(self.gave_up.status, self.gave_up.code, message, retryable=self.gave_up.retryable)
        started, attempt = self.clock(), 1
        while True:
            try:
                return self._post_authorized(body)
            except ApiError as error:
                if not error.retryable:
                    raise
                delay, elapsed = self.retry.delay(attempt, error.retry_after), self.clock() - started
                if attempt == self.retry.max_attempts or elapsed + delay > self.retry.max_total_seconds:
                    message = f"{error.message} (gave up after {attempt} attempts in {elapsed:.1f} s)"
                    raise ApiError(error.status, error.code, message, retryable=True) from None
                log.debug("attempt %d: %s; retrying in %.2f s", attempt, error, delay)
                self.sleep(delay)
                attempt += 1

    def _post_authorized(self, body: bytes) -> Any:
        """One request; when the API refuses the token (401) and it can be renewed, once more with a new one."""
        try:
            return self._post_once(body)
        except ApiError as error:
            if error.status != 401 or self.credentials is None or not self.credentials.renewable:
                raise self._explained(error) from None
        self.credentials.renew()
        try:
            return self._post_once(body)
        except ApiError as error:
            raise self._explained(error) from None

    def _explained(self, error: ApiError) -> ApiError:
        return refused_by_authorizer(error, self.credentials) if error.status in AUTH_ERROR_CODES else error

    def _post_once(self, body: bytes) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.authorization()
        try:
            reply = self.session.post(self.url, data=body, headers=headers, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            message = f"cannot reach {self.url}: {exc.__class__.__name__}"
            raise ApiError(0, "unreachable", message, retryable=True) from None
        except requests.RequestException as exc:  # a malformed URL, say: trying again cannot help
            raise ApiError(0, "request_failed", f"cannot send to {self.url}: {exc.__class__.__name__}") from None
        try:
            answer = reply.json()
        except ValueError:
            answer = {}
        if reply.status_code != 200:
            # API Gateway's own 429 and 5xx answers carry {"message": ...}, not the API's error object.
            error = answer.get("error") if isinstance(answer, dict) else None
            error = error if isinstance(error, dict) else {}
            raise ApiError(
                reply.status_code,
                error.get("code", "http_error"),
                error.get("message", reply.reason),
                retryable=reply.status_code in RETRY_STATUSES,
                retry_after=retry_after_seconds(reply.headers.get("Retry-After")),
            )
        return answer


def request_bodies(texts: Sequence[str]) -> Iterator[tuple[int, bytes]]:
    """`{"texts": [...]}` bodies that carry `texts` in order within the API's limits, each with its count of texts."""
    # Counting a separator with every text, the start and end make up for the one fewer there really is.
    no_texts_size = len(BODY_START) + len(BODY_END) - len(TEXT_SEPARATOR)
    items: list[bytes] = []
    size = no_texts_size
    for text in texts:
        # UTF-8 rather than \u escapes: CJK text then takes 3 bytes a character instead of 6.
        item = json.dumps(text, ensure_ascii=False).encode("utf-8")
        if items and (len(items) == API_MAX_TEXTS or size + len(TEXT_SEPARATOR) + len(item) > API_MAX_BODY_BYTES):
            yield len(items), request_body(items)
            items, size = [], no_texts_size
        items.append(item)
        size += len(TEXT_SEPARATOR) + len(item)
    if items:
        yield len(items), request_body(items)


def request_body(items: list[bytes]) -> bytes:
    return BODY_START + TEXT_SEPARATOR.join(items) + BODY_END


class LocalScorer:
    """Scores in this process with a packaged model and its thresholds, in the API's response shape."""

    def __init__(self, model: ServingModel):
        self.model = model
        self.model_version = model.version

    def results(self, texts: Sequence[str]) -> list[dict]:
        return self.model.predict(list(texts))

    def moderate(self, texts: Sequence[str]) -> dict:
        results = self.results(texts)
        return {
            "model_version": self.model_version,
            "thresholds": self.model.thresholds,
            "block_thresholds": self.model.block_thresholds,
            "results": results,
        }
