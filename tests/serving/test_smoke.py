"""The deploy workflow's smoke test, run against the local stack: it passes on a healthy stack and fails loudly."""

from __future__ import annotations

import io
import socket

import pytest

from toxiguard.cloud import smoke
from toxiguard.serving.client import StaticToken

pytestmark = pytest.mark.slow


def run(api: str, site: str | None = None, version: str | None = None) -> tuple[list[smoke.Check], str]:
    out = io.StringIO()
    return smoke.run(smoke.Smoke(api, site, version, wait_seconds=0), out), out.getvalue()


def failed(results: list[smoke.Check]) -> set[str]:
    return {r.name for r in results if not r.ok}


def test_a_healthy_stack_passes_every_check(local_stack):
    url = local_stack.gateway_url
    results, out = run(url, site=url, version=local_stack.model_version)
    assert [r.name for r in results] == ["health", "moderate", "json errors", "page", "page config"]
    assert failed(results) == set(), out
    assert "abusive flagged as toxic" in out


def test_a_different_model_version_fails_health_and_moderate(local_stack):
    results, out = run(local_stack.gateway_url, version="20990101T000000Z-0000000")
    assert failed(results) == {"health", "moderate"}
    assert "expected '20990101T000000Z-0000000'" in out


def test_a_page_on_another_origin_needs_its_config_and_cors(local_stack):
    # localhost and 127.0.0.1 are different origins; the local stack allows no cross-origin caller.
    site = local_stack.gateway_url.replace("127.0.0.1", "localhost")
    results, out = run(local_stack.gateway_url, site=site)
    assert failed(results) == {"page config", "cors"}, out


def test_an_unreachable_api_fails_every_check_without_a_traceback(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = smoke.main(["--api", f"http://127.0.0.1:{port}"])
    out = capsys.readouterr().out
    assert code == 1
    assert "0/3 checks passed" in out
    assert "Traceback" not in out


def test_with_credentials_an_open_api_fails_the_auth_check(local_stack):
    """A deployment meant to run with auth = "jwt" that answers without a token is caught."""
    check = smoke.Smoke(local_stack.gateway_url, None, None, wait_seconds=0, credentials=StaticToken("not checked"))
    assert [name for name, _ in check.checks()] == ["health", "moderate", "json errors", "auth"]
    with pytest.raises(smoke.SmokeFailure, match="without a token: status 200"):
        check.auth()
