"""The local stack end to end over HTTP: gateway -> real handler -> boto3 (SigV4) -> model server process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import requests

from toxiguard import cli
from toxiguard.artifact import latest_artifact, read_manifest
from toxiguard.config import LABELS, PROJECT_ROOT
from toxiguard.serving.local.stack import LocalStack, StackError, StackSettings, handler_environment

pytestmark = pytest.mark.slow

RUDE = "You are a pathetic idiot and nobody wants you here."
FRIENDLY = "Thanks for fixing the references, the article reads much better now."


def test_moderate_returns_the_models_scores_and_the_manifests_thresholds(local_stack, shipped_artifact):
    reply = requests.post(f"{local_stack.gateway_url}/v1/moderate", json={"texts": [FRIENDLY, RUDE]}, timeout=30)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model_version"] == shipped_artifact.version
    assert body["thresholds"] == pytest.approx(shipped_artifact.thresholds)
    scores = np.array([[result["scores"][label] for label in LABELS] for result in body["results"]])
    np.testing.assert_allclose(scores, shipped_artifact.score([FRIENDLY, RUDE]), atol=1e-5)
    assert [result["flagged"] for result in body["results"]] == [False, True]
    assert "insult" in body["results"][1]["labels"]


def test_scored_comments_fill_the_review_queue_and_moderators_decide_them(local_stack):
    """The two functions side by side, as on AWS: the scoring function queues what needs a human (storing is on by
    default locally), the review function lists it and takes one decision per item."""
    api = local_stack.gateway_url
    ref = f"stack-{os.getpid()}"
    reply = requests.post(f"{api}/v1/moderate", json={"texts": [FRIENDLY, RUDE], "refs": [None, ref]}, timeout=30)
    body = reply.json()
    assert reply.status_code == 200 and body["stored"] is True
    friendly, rude = body["results"]
    assert friendly["action"] == "allow" and "review_id" not in friendly
    assert rude["action"] in ("review", "block") and rude["ref"] == ref

    queue = requests.get(f"{api}/v1/reviews", params={"limit": 100}, timeout=30).json()
    (item,) = [item for item in queue["items"] if item["ref"] == ref]
    assert (item["id"], item["text"], item["status"]) == (rude["review_id"], RUDE, "pending")
    assert item["thresholds"] == {"review": body["thresholds"], "block": body["block_thresholds"]}

    decision = f"{api}/v1/reviews/{item['id']}/decision"
    decided = requests.post(decision, json={"decision": "remove", "note": "insult"}, timeout=30)
    assert decided.status_code == 200 and decided.json()["status"] == "removed"
    again = requests.post(decision, json={"decision": "approve"}, timeout=30)
    assert again.status_code == 409 and again.json()["review"]["note"] == "insult"


def test_health_reports_the_model_version_and_a_live_endpoint(local_stack):
    reply = requests.get(f"{local_stack.gateway_url}/v1/health", timeout=30)
    assert reply.status_code == 200
    assert reply.json()["model_version"] == local_stack.model_version and reply.json()["endpoint"]["reachable"]


def test_page_and_config_are_served_from_the_same_origin(local_stack):
    page = requests.get(f"{local_stack.gateway_url}/", timeout=10)
    assert page.status_code == 200 and "<textarea" in page.text
    assert '"apiUrl": ""' in requests.get(f"{local_stack.gateway_url}/config.js", timeout=10).text


def test_cli_predict_and_score_through_the_api(local_stack, tmp_path, capsys):
    assert cli.main(["predict", "--api", local_stack.gateway_url, RUDE]) == 0
    out = capsys.readouterr().out
    assert f"model {local_stack.model_version}" in out and "FLAGGED" in out and "insult" in out

    source = tmp_path / "in.csv"
    source.write_text("id,comment_text\n1,hello there\n2," + "a" * 5001 + "\n3,you idiot\n")
    assert cli.main(["score", str(source), "--api", local_stack.gateway_url, "--quiet"]) == 2
    assert "row 3, column 'comment_text': comment text has 5001 characters, the API accepts at most 5000" in (
        capsys.readouterr().err
    )
    assert (tmp_path / "in.scored.csv").read_text().count("\n") == 4


def test_cli_reports_an_unreachable_api(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert cli.main(["predict", "--api", dead, "hi"]) == 1
    assert "unreachable: cannot reach" in capsys.readouterr().err


def test_a_taken_port_is_a_clear_error_before_the_model_loads(shipped_artifact):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = LocalStack(shipped_artifact.directory, settings=StackSettings(gateway_port=port, model_port=0))
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is already in use.*GATEWAY_PORT"):
            stack.start()


def test_settings_come_from_the_environment():
    settings = StackSettings.from_env({"GATEWAY_PORT": "9000", "MODEL_BATCHING": "false", "TOXIGUARD_ARTIFACT": ""})
    assert (settings.gateway_port, settings.batching, settings.artifact_dir) == (9000, False, None)
    with pytest.raises(StackError, match="MODEL_SERVER_PORT='http' is not a port number"):
        StackSettings.from_env({"MODEL_SERVER_PORT": "http"})
    assert StackSettings.from_env({}).payload_format == "2.0"
    assert StackSettings.from_env({"API_PAYLOAD_FORMAT": "1.0"}).payload_format == "1.0"
    with pytest.raises(StackError, match=r"API_PAYLOAD_FORMAT='3\.0'"):
        StackSettings.from_env({"API_PAYLOAD_FORMAT": "3.0"})


def test_the_handler_gets_the_manifests_block_thresholds_with_the_env_overrides_merged_over_them():
    manifest = read_manifest(latest_artifact(PROJECT_ROOT / "artifacts"))
    assert StackSettings.from_env({"MODEL_BLOCK_THRESHOLDS": ""}).block_threshold_overrides == {}
    environment = handler_environment(manifest, "http://127.0.0.1:9", "toxiguard")
    assert json.loads(environment["MODEL_BLOCK_THRESHOLDS"]) == manifest["block_thresholds"]

    overrides = StackSettings.from_env({"MODEL_BLOCK_THRESHOLDS": '{"toxic": null, "threat": 0.99}'})
    environment = handler_environment(
        manifest, "http://127.0.0.1:9", "toxiguard", block_threshold_overrides=overrides.block_threshold_overrides
    )
    expected = {**manifest["block_thresholds"], "toxic": None, "threat": 0.99}
    assert json.loads(environment["MODEL_BLOCK_THRESHOLDS"]) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0.99", "is not a JSON object of label -> number or null"),
        ("{toxic: 0.9}", "is not a JSON object"),
        ('{"toxik": 0.99}', "must have exactly the labels"),
        ('{"toxic": 0.01}', "from the label's review threshold to 1: toxic"),
    ],
)
def test_a_bad_block_threshold_override_stops_the_stack_before_the_model_loads(value, problem):
    with pytest.raises(StackError, match=f"MODEL_BLOCK_THRESHOLDS.*{problem}"):
        settings = StackSettings.from_env({"MODEL_BLOCK_THRESHOLDS": value})
        LocalStack(latest_artifact(PROJECT_ROOT / "artifacts"), settings=settings).start()


def test_sigterm_stops_gateway_and_model_server_cleanly(shipped_artifact, tmp_path):
    environment = {**os.environ, "TOXIGUARD_ARTIFACT": str(shipped_artifact.directory), "PYTHONUNBUFFERED": "1",
                   "TOXIGUARD_DATA_DIR": str(tmp_path)}  # fmt: skip
    command = [sys.executable, "-m", "toxiguard.cli", "serve", "--port", "0", "--model-port", "0"]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = {}
        for line in process.stdout:  # bounded: the stack prints these lines or exits
            match = re.search(r"(web page|model)\s+(http://\S+?)/?\s", line + " ")
            if match:
                urls[match.group(1)] = match.group(2)
            if "Press Ctrl-C" in line:
                break
        assert set(urls) == {"web page", "model"}, process.stderr.read() if process.poll() is not None else urls
        assert requests.get(f"{urls['web page']}/v1/health", timeout=30).status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in out + err and "stopping" in out
    for url in urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
