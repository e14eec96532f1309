"""The local development issuer: a key pair on this machine that signs access tokens shaped like Cognito's.

`<TOXIGUARD_DATA_DIR>/auth/` holds `signing-key.pem` (the RSA private key, mode 0600, never committed: the data
directory is git-ignored) and `jwks.json` (its public half, the JSON Web Key Set the gateway verifies against, as it
would fetch a Cognito pool's). The pair is made on first use, by `toxiguard serve` with AUTH=jwt or by
`toxiguard token`, whichever comes first.

Tokens carry what a Cognito access token carries: `iss` (`toxiguard-local`), `sub`, `client_id`
(`toxiguard-local`, the audience the gateway expects), `token_use: access`, `scope` (space-separated), `iat`, `exp`,
`jti`, and `username` when minted for a user. RS256 with the key's id (`kid`, its RFC 7638 thumbprint) in the header.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

LOCAL_ISSUER = "toxiguard-local"
LOCAL_CLIENT_ID = "toxiguard-local"
ALGORITHM = "RS256"
KEY_BITS = 2048
KEY_FILE, JWKS_FILE = "signing-key.pem", "jwks.json"
# `toxiguard token --ttl`: a number and a unit. Tokens are bearer secrets, so even development ones expire.
TTL_PATTERN = re.compile(r"([0-9]{1,7})([smhd])")
TTL_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_SECONDS = 30 * 86400


class IssuerError(RuntimeError):
    """The key pair cannot be used (unreadable, or readable by other users); the message says what to do."""


def parse_ttl(text: str) -> int:
    """A token lifetime such as `90s`, `15m`, `1h` or `7d` in seconds, from 1 s to 30 days; ValueError otherwise."""
    match = TTL_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a lifetime: use a number and a unit, e.g. 90s, 15m, 1h or 7d")
    seconds = int(match[1]) * TTL_UNIT_SECONDS[match[2]]
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"{text!r} is out of range: a token lives from 1s to 30d")
    return seconds


class LocalIssuer:
    """The key pair under `data_dir/auth`: mints tokens and looks up its public key by id, as a JWKS client does."""

    def __init__(self, data_dir: Path):
        self.directory = Path(data_dir) / "auth"
        self.key_file = self.directory / KEY_FILE
        self.jwks_file = self.directory / JWKS_FILE
        self._private_key: rsa.RSAPrivateKey | None = None
        self._key_id = ""
        self._public_keys: jwt.PyJWKSet | None = None

    def ensure_keys(self) -> LocalIssuer:
        """Create the key pair if there is none, and (re)write `jwks.json` from the private key."""
        if not self.key_file.exists():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            with contextlib.suppress(FileExistsError):  # another process made one first: both use that one
                _create_private_file(self.key_file, pem)
        jwks = json.dumps({"keys": [self._public_jwk()]}, indent=2) + "\n"
        if not self.jwks_file.exists() or self.jwks_file.read_text() != jwks:
            temporary = self.jwks_file.with_name(f".{JWKS_FILE}.{os.getpid()}")
            temporary.write_text(jwks)
            os.replace(temporary, self.jwks_file)  # readers see the old set or the new one, never half of one
        return self

    def mint_token(self, scopes: Sequence[str], user: str | None = None, ttl_seconds: int = 3600) -> str:
        """An access token for `scopes` (full names, e.g. `toxiguard/moderate`), as a backend (`user` None) or a
        signed-in user would get from Cognito, valid for `ttl_seconds`."""
        self.ensure_keys()
        now = int(time.time())
        claims = {
            "iss": LOCAL_ISSUER,
            # Cognito's `sub` is the user's id, or the client id for client-credentials tokens.
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{LOCAL_ISSUER}:{user}")) if user else LOCAL_CLIENT_ID,
            "client_id": LOCAL_CLIENT_ID,
            "token_use": "access",
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": str(uuid.uuid4()),
        }
        if user:
            claims["username"] = user
        return jwt.encode(claims, self._signing_key(), algorithm=ALGORITHM, headers={"kid": self._key_id})

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        """The public key `kid` names in `jwks.json` (read again when the id is new: the pair may have been
        re-created); PyJWKClientError when there is none, as `jwt.PyJWKClient.get_signing_key` raises."""
        for refresh in (False, True):
            if refresh or self._public_keys is None:
                self._public_keys = jwt.PyJWKSet.from_json(self.jwks_file.read_text())
            with contextlib.suppress(KeyError):
                return self._public_keys[kid]
        raise jwt.PyJWKClientError(f"no key {kid!r} in {self.jwks_file}")

    def _signing_key(self) -> rsa.RSAPrivateKey:
        if self._private_key is None:
            if self.key_file.stat().st_mode & 0o077:
                raise IssuerError(f"{self.key_file} may be read by other users: run `chmod 600 {self.key_file}`")
            try:
                key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            except ValueError:
                raise IssuerError(f"{self.key_file} is not a PEM private key: delete it to make a new pair") from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise IssuerError(f"{self.key_file} is not an RSA key: delete it to make a new pair")
            self._private_key, self._key_id = key, _thumbprint(key.public_key())
        return self._private_key

    def _public_jwk(self) -> dict:
        public_key = self._signing_key().public_key()
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        return {"kty": "RSA", "kid": self._key_id, "alg": ALGORITHM, "use": "sig", "n": jwk["n"], "e": jwk["e"]}


def _create_private_file(path: Path, content: bytes) -> None:
    """Write a file only its owner may read, appearing whole or not at all; FileExistsError if `path` exists."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.link(temporary, path)  # unlike a rename, never replaces a key another process made meanwhile
    finally:
        temporary.unlink()


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """The key's RFC 7638 thumbprint: SHA-256 of its required members in canonical JSON, base64url."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({name: jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
