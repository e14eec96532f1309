"""Who may call the local API: API Gateway's HTTP API JWT authorizer, reproduced for the local gateway.

With AUTH=jwt the gateway calls `Authorizer.authorize` before the Lambda handler runs, as API Gateway runs the JWT
authorizer before it invokes the function. The checks are the authorizer's:
  token      `Authorization: Bearer <jwt>`, or the bare token, which API Gateway accepts too;
  signature  RS256 only (no `none`, no HMAC), against the issuer's JWKS, the key chosen by the token's `kid`;
  claims     `iss` equal to the issuer; `exp` in the future; `nbf` and `iat` not in the future (CLOCK_SKEW_SECONDS
             of leeway for the issuer's clock); `aud`, or `client_id` when there is no `aud` (Cognito access tokens
             carry `client_id`), one of the audience;
  scopes     the token's `scope` (or `scp`) holds at least one of the route's scopes (ROUTE_SCOPES).
A missing or invalid token is refused 401 `unauthorized`, a valid one without the route's scope 403
`insufficient_scope`, both with a `WWW-Authenticate` challenge (RFC 6750). An authorized request carries the token's
claims where API Gateway puts them for payload 2.0: `requestContext.authorizer.jwt` = `{"claims": {name: string},
"scopes": [...]}`.

The keys come from AUTH_JWKS_URL, a real user pool's JWKS (Cognito's is
`https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json`), or without it from the local
development issuer (`toxiguard.serving.local.issuer`). Tokens are never logged.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt

from toxiguard.config import DEFAULT_DATA_DIR
from toxiguard.serving.local.issuer import ALGORITHM, LOCAL_CLIENT_ID, LOCAL_ISSUER, LocalIssuer

log = logging.getLogger("toxiguard.serving.local.auth")

# The Cognito resource server and its scopes; Terraform's user pool and routes use the same strings.
RESOURCE_SERVER = "toxiguard"
MODERATE_SCOPE = f"{RESOURCE_SERVER}/moderate"  # score comments
REVIEW_SCOPE = f"{RESOURCE_SERVER}/review"  # read and decide review items (the review queue's routes)
SCOPES = (MODERATE_SCOPE, REVIEW_SCOPE)
# The API's routes, keyed as API Gateway names them, with the scopes a token needs (any one of them; none: public),
# as terraform/modules/api declares them (a test holds the two equal). CORS preflights are public on every path
# (browsers send them without credentials: `OPTIONS /{proxy+}`); any other request, unknown paths and wrong methods
# included, takes the `$default` route, which needs a token of this API before the handler answers 404 or 405.
ROUTE_SCOPES: dict[str, tuple[str, ...]] = {
    "POST /v1/moderate": (MODERATE_SCOPE,),
    "GET /v1/health": (),
    "GET /v1/reviews": (REVIEW_SCOPE,),
    "GET /v1/reviews/{id}": (REVIEW_SCOPE,),
    "POST /v1/reviews/{id}/decision": (REVIEW_SCOPE,),
    "OPTIONS /{proxy+}": (),
    "$default": SCOPES,
}
# The routes with a method and path as regular expressions; a path parameter (`{id}`) matches one non-empty segment.
ROUTE_PATTERNS = {
    key: re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(key)))
    for key in ROUTE_SCOPES
    if key != "$default" and not key.startswith("OPTIONS ")
}
# What the page asks Cognito's hosted UI for (config.js): an OpenID sign-in and both API scopes.
PAGE_SCOPES = ("openid", *SCOPES)
AUTH_MODES = ("none", "jwt")
CLOCK_SKEW_SECONDS = 30
# A pool's keys are cached as API Gateway may cache them; a token naming an unknown key fetches them again (PyJWT
# allows that once per 30 s), so a rotated key is picked up.
JWKS_CACHE_SECONDS = 7200
JWKS_TIMEOUT_SECONDS = 5


class AuthSettingsError(ValueError):
    """An AUTH setting is invalid or missing; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    """AUTH and the settings that go with it, from the environment or `.env` (see .env.example)."""

    mode: str = "none"  # AUTH: "none" (no checks) or "jwt"
    jwks_url: str | None = None  # a real user pool's JWKS; None: the local development issuer
    issuer: str = LOCAL_ISSUER
    audience: tuple[str, ...] = (LOCAL_CLIENT_ID,)  # accepted `aud` / `client_id` values (app client ids)
    data_dir: Path = DEFAULT_DATA_DIR  # where the local issuer keeps its key pair (auth/)
    # The page's sign-in with the pool's hosted UI (config.js); without them it takes a handed-over token.
    cognito_domain: str | None = None
    page_client_id: str | None = None
    redirect_uri: str | None = None  # default: the gateway's page URL

    @property
    def enabled(self) -> bool:
        return self.mode == "jwt"

    @property
    def local_issuer(self) -> bool:
        return self.enabled and self.jwks_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        env = os.environ if environ is None else environ

        def value(name: str) -> str:
            return env.get(name, "").strip()

        mode = value("AUTH").lower() or "none"
        if mode not in AUTH_MODES:
            raise AuthSettingsError(f"AUTH={env['AUTH']!r} is not a mode: use `none` (no tokens) or `jwt`")
        jwks_url, cognito_domain = _url(env, "AUTH_JWKS_URL"), _url(env, "AUTH_COGNITO_DOMAIN")
        issuer, page_client_id = value("AUTH_ISSUER"), value("AUTH_CLIENT_ID")
        audience = tuple(client for client in (part.strip() for part in value("AUTH_AUDIENCE").split(",")) if client)
        if mode == "jwt":
            if jwks_url:
                missing = [name for name, given in (("AUTH_ISSUER", issuer), ("AUTH_AUDIENCE", audience)) if not given]
                if missing:
                    raise AuthSettingsError(
                        f"AUTH_JWKS_URL needs {' and '.join(missing)}: the pool's issuer "
                        "(https://cognito-idp.<region>.amazonaws.com/<pool id>) and its app client ids, comma-separated"
                    )
            elif issuer or audience or cognito_domain or page_client_id:
                raise AuthSettingsError(
                    "AUTH_ISSUER, AUTH_AUDIENCE, AUTH_COGNITO_DOMAIN and AUTH_CLIENT_ID describe a real user pool and "
                    "need its AUTH_JWKS_URL; without it the local development issuer signs the tokens"
                )
            if bool(cognito_domain) != bool(page_client_id):
                raise AuthSettingsError(
                    "AUTH_COGNITO_DOMAIN and AUTH_CLIENT_ID go together: the hosted UI the page signs in with and "
                    "the page's app client id"
                )
        return cls(
            mode=mode,
            jwks_url=jwks_url or None,
            issuer=issuer or LOCAL_ISSUER,
            audience=audience or (LOCAL_CLIENT_ID,),
            data_dir=Path(value("TOXIGUARD_DATA_DIR") or DEFAULT_DATA_DIR),
            cognito_domain=cognito_domain.rstrip("/") or None,
            page_client_id=page_client_id or None,
            redirect_uri=_url(env, "AUTH_REDIRECT_URI") or None,
        )

    def page_config(self, page_url: str) -> dict:
        """The `auth` entry of the page's config.js: how the page gets a token.

        `none`: it sends none. `local`: it takes one handed over in its URL, `#access_token=<jwt>` (the local issuer,
        or a real pool without hosted-UI settings). `cognito`: it signs in with the hosted UI (code + PKCE).
        """
        if not self.enabled:
            return {"mode": "none"}
        if self.cognito_domain is None:
            return {"mode": "local"}
        redirect_uri = self.redirect_uri or page_url
        return {"mode": "cognito", "domain": self.cognito_domain, "clientId": self.page_client_id,
                "redirectUri": redirect_uri, "logoutUri": redirect_uri, "scopes": list(PAGE_SCOPES)}  # fmt: skip


def _url(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    url = urlsplit(raw)
    if raw and (url.scheme not in ("http", "https") or not url.hostname):
        raise AuthSettingsError(f"{name}={raw!r} is not an http(s) URL")
    return raw


def scope_name(name: str) -> str:
    """`moderate` or `toxiguard/moderate` -> `toxiguard/moderate`; ValueError for a scope the API does not define."""
    full = name if "/" in name else f"{RESOURCE_SERVER}/{name}"
    if full not in SCOPES:
        known = ", ".join(scope.partition("/")[2] for scope in SCOPES)
        raise ValueError(f"{name!r} is not one of the API's scopes ({known})")
    return full


class AuthError(Exception):
    """The authorizer's answer instead of the handler's: an error code of the handler's ERROR_STATUS (`unauthorized`,
    `insufficient_scope`, or `internal_error` when the keys cannot be had), a message, and response headers."""

    def __init__(self, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, dict(headers or {})


def missing_token() -> AuthError:
    # A bare challenge: the client sent nothing to find fault with (RFC 6750 section 3.1).
    return AuthError("unauthorized", "this route needs an access token: send `Authorization: Bearer <token>`",
                     {"WWW-Authenticate": "Bearer"})  # fmt: skip


def invalid_token(reason: str) -> AuthError:
    challenge = f'Bearer error="invalid_token", error_description="{reason}"'
    return AuthError("unauthorized", reason, {"WWW-Authenticate": challenge})


def insufficient_scope(needed: tuple[str, ...]) -> AuthError:
    scopes = " ".join(needed)
    message = f"the token does not grant the scope this route needs ({' or '.join(needed)})"
    challenge = f'Bearer error="insufficient_scope", error_description="{message}", scope="{scopes}"'
    return AuthError("insufficient_scope", message, {"WWW-Authenticate": challenge})


class SigningKeys(Protocol):
    """A JWKS by key id: `jwt.PyJWKClient` for a URL, `LocalIssuer` for the development issuer."""

    def get_signing_key(self, kid: str) -> jwt.PyJWK: ...


def route_key(method: str, path: str) -> str:
    """The key of the route API Gateway matches for this request: a route of ROUTE_SCOPES (`{id}` matching one path
    segment), `OPTIONS /{proxy+}` for any preflight, else `$default`."""
    if method == "OPTIONS":
        return "OPTIONS /{proxy+}"
    return next((key for key, pattern in ROUTE_PATTERNS.items() if pattern.fullmatch(f"{method} {path}")), "$default")


def route_scopes(method: str, path: str) -> tuple[str, ...]:
    """The scopes the route API Gateway would match for this request demands (empty: a public route)."""
    return ROUTE_SCOPES[route_key(method, path)]


class Authorizer:
    """The JWT authorizer of one issuer and audience, on the routes of ROUTE_SCOPES."""

    def __init__(self, settings: AuthSettings):
        self.issuer, self.audience = settings.issuer, frozenset(settings.audience)
        self.keys: SigningKeys
        if settings.jwks_url:
            self.keys = jwt.PyJWKClient(settings.jwks_url, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS)
            self.keys_source = f"AUTH_JWKS_URL ({settings.jwks_url})"
        else:
            self.keys = LocalIssuer(settings.data_dir).ensure_keys()
            self.keys_source = str(self.keys.jwks_file)

    def authorize(self, method: str, path: str, headers: Mapping[str, str]) -> dict | None:
        """API Gateway's `requestContext.authorizer.jwt` for a request to an authorized route, None for a public
        one; AuthError when the request may not pass. `headers` have lower-case names."""
        # Upper-cased as the handler routes methods, so no spelling of one slips past its route's check.
        needed = route_scopes(method.upper(), path)
        if not needed:
            return None
        claims = self.verify(bearer_token(headers.get("authorization")))
        granted = token_scopes(claims)
        if not set(needed) & set(granted):
            raise insufficient_scope(needed)
        return {"claims": {name: claim_text(value) for name, value in claims.items()}, "scopes": granted}

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this issuer signed for this audience and that is valid now; AuthError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token("the token is not a JWT") from None
        if header.get("alg") != ALGORITHM:  # before any key is looked at: no `none`, no HMAC keyed by a public key
            raise invalid_token(f"the token is not signed with {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise invalid_token("the token names no signing key (kid)")
        try:
            key = self.keys.get_signing_key(kid)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, OSError) as error:
            log.error("cannot read the signing keys from %s: %s", self.keys_source, error)
            raise AuthError("internal_error", "the gateway cannot read the issuer's keys; see its log") from None
        except jwt.PyJWKClientError:
            raise invalid_token("the token's signing key is not one of the issuer's") from None
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=self.issuer, leeway=CLOCK_SKEW_SECONDS,
                                options={"require": ["exp", "iss"], "verify_aud": False})  # fmt: skip
        except jwt.PyJWTError as error:
            raise invalid_token(_problem(error)) from None
        # The leeway is for the issuer's clock running ahead (nbf, iat); an expired token is expired.
        if int(claims["exp"]) <= time.time():
            raise invalid_token("the token has expired")
        # API Gateway checks `client_id` only when there is no `aud`.
        presented = claims["aud"] if "aud" in claims else claims.get("client_id")
        if not any(isinstance(value, str) and value in self.audience for value in _as_list(presented)):
            raise invalid_token("the token does not have a valid audience")
        return claims


def bearer_token(header: str | None) -> str:
    """The token of an Authorization header: `Bearer <token>` (any case) or the bare token."""
    parts = (header or "").split()
    if not parts:
        raise missing_token()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return parts[0]
    raise invalid_token("the Authorization header is not `Bearer <token>`")


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The scopes a token grants: `scope`, or else `scp`, space-separated or a list."""
    granted = claims.get("scope", claims.get("scp"))
    return granted.split() if isinstance(granted, str) else [s for s in _as_list(granted) if isinstance(s, str)]


def claim_text(value: Any) -> str:
    """A claim as API Gateway hands it to the function: strings as they are, numbers in decimal, arrays `[a b]`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(map(claim_text, value)) + "]"
    return json.dumps(value)  # objects and null, which Cognito's access tokens do not carry


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _problem(error: jwt.PyJWTError) -> str:
    """Why a token failed, in words safe for a WWW-Authenticate quoted string."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the token does not have a valid issuer"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token has no `{error.claim}` claim"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the token's signature does not match the issuer's key"
    return "the token is malformed"
