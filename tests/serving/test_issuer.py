"""The local development issuer: its key pair on disk, the tokens it mints, and `toxiguard token`."""

from __future__ import annotations

import json
import stat

import pytest

from toxiguard import cli
from toxiguard.serving.local.auth import MODERATE_SCOPE, REVIEW_SCOPE, Authorizer, AuthSettings
from toxiguard.serving.local.issuer import IssuerError, LocalIssuer, parse_ttl


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_pair_is_made_once_with_a_private_key_only_its_owner_can_read(tmp_path):
    issuer = LocalIssuer(tmp_path).ensure_keys()
    assert mode(issuer.key_file) == 0o600 and mode(issuer.directory) == 0o700
    (key,) = json.loads(issuer.jwks_file.read_text())["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and "d" not in key  # public only
    pem = issuer.key_file.read_bytes()
    again = LocalIssuer(tmp_path).ensure_keys()
    assert again.key_file.read_bytes() == pem and json.loads(again.jwks_file.read_text())["keys"] == [key]
    assert not [path.name for path in issuer.directory.iterdir() if path.name.startswith(".")]  # no temporary files


def test_a_private_key_others_may_read_is_refused(tmp_path):
    issuer = LocalIssuer(tmp_path).ensure_keys()
    issuer.key_file.chmod(0o644)
    with pytest.raises(IssuerError, match=r"may be read by other users: run `chmod 600 .*signing-key.pem`"):
        LocalIssuer(tmp_path).mint_token([MODERATE_SCOPE])


def test_minted_tokens_look_like_cognito_access_tokens_and_verify(tmp_path):
    issuer = LocalIssuer(tmp_path)
    authorizer = Authorizer(AuthSettings(mode="jwt", data_dir=tmp_path))
    backend = authorizer.verify(issuer.mint_token([MODERATE_SCOPE], ttl_seconds=90))
    assert backend["sub"] == backend["client_id"] == "toxiguard-local" and "username" not in backend
    assert backend["token_use"] == "access" and backend["exp"] - backend["iat"] == 90 and backend["jti"]
    user = authorizer.verify(issuer.mint_token([MODERATE_SCOPE, REVIEW_SCOPE], user="ann"))
    assert user["username"] == "ann" and user["sub"] != "toxiguard-local"
    assert user["scope"] == f"{MODERATE_SCOPE} {REVIEW_SCOPE}"


def test_the_gateway_follows_a_key_pair_made_again(tmp_path):
    authorizer = Authorizer(AuthSettings(mode="jwt", data_dir=tmp_path))
    for path in (tmp_path / "auth").iterdir():
        path.unlink()
    assert authorizer.verify(LocalIssuer(tmp_path).mint_token([MODERATE_SCOPE]))["iss"] == "toxiguard-local"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), (" 7d ", 604800), ("30d", 30 * 86400)]
)
def test_lifetimes(text, seconds):
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [("1", "not a lifetime"), ("1.5h", "not a lifetime"), ("1w", "not a lifetime"), ("-1h", "not a lifetime"),
     ("0s", "out of range"), ("31d", "out of range"), ("721h", "out of range")],
)  # fmt: skip
def test_lifetimes_out_of_range_or_malformed_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ttl(text)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An environment for `toxiguard token`: its own data directory and no AUTH settings from outside."""
    for name in ("AUTH", "AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_COGNITO_DOMAIN", "AUTH_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOXIGUARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTH", "jwt")
    return tmp_path


def test_toxiguard_token_prints_one_token_the_gateway_accepts(data_dir, capsys):
    argv = ["token", "--scope", "review", "--scope", "toxiguard/moderate", "--user", "ann", "--ttl", "15m"]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and err == ""
    claims = Authorizer(AuthSettings(mode="jwt", data_dir=data_dir)).verify(out.strip())
    assert claims["scope"] == f"{MODERATE_SCOPE} {REVIEW_SCOPE}" and claims["username"] == "ann"
    assert claims["exp"] - claims["iat"] == 900
    assert mode(data_dir / "auth" / "signing-key.pem") == 0o600  # made on first use


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scope", "moderate", "--ttl", "2y"], "argument --ttl: '2y' is not a lifetime"),
        (["--scope", "moderate", "--ttl", "31d"], "argument --ttl: '31d' is out of range"),
        (["--scope", "admin"], "argument --scope: 'admin' is not one of the API's scopes (moderate, review)"),
        ([], "the following arguments are required: --scope"),
    ],
)
def test_toxiguard_token_usage_errors(data_dir, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["token", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_toxiguard_token_refuses_when_the_gateway_trusts_a_real_pool(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("AUTH_JWKS_URL", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X/.well-known/jwks.json")
    monkeypatch.setenv("AUTH_ISSUER", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X")
    monkeypatch.setenv("AUTH_AUDIENCE", "web")
    assert cli.main(["token", "--scope", "moderate"]) == 2
    assert "AUTH_JWKS_URL is set" in capsys.readouterr().err
