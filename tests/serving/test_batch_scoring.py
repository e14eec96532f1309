"""`toxiguard score`: streaming CSV scoring keeps every row, in order, and reports bad rows by number.

Tests marked slow score with the shipped model in this process. The others score through the real Lambda handler
(lambda/handler.py, its model endpoint a test double) behind a local HTTP server, as `toxiguard score --api` does.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import email.utils
import functools
import gzip
import importlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from toxiguard import cli
from toxiguard.config import LABELS
from toxiguard.lambda_functions import load_handler
from toxiguard.serving import batch, client
from toxiguard.serving.client import ApiError, ApiScorer, LocalScorer, RetryPolicy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FRIENDLY = "Thanks for fixing the references, the article reads much better now."
RUDE = "You are a pathetic idiot and nobody wants you here."


@pytest.fixture(scope="module")
def scorer(shipped_artifact):
    return LocalScorer(shipped_artifact)


@pytest.fixture(scope="module")
def handler(handler_environment):
    """lambda/handler.py imported as a fresh module (it reads its environment at import, as a cold start does)."""
    api_logger = logging.getLogger("toxiguard.api")
    saved = api_logger.handlers[:], api_logger.level
    yield load_handler(handler_environment)
    api_logger.handlers[:], api_logger.level = saved  # the import configured the logger the handler tests share


def text_scores(text: str) -> list[float]:
    """The model double's scores: distinct per text, so a result attached to the wrong row shows."""
    return [(len(text) * (label + 3) + ord(text[0])) % 101 / 100 for label in range(len(LABELS))]


class ModelEndpoint:
    """Stands in for the SageMaker Runtime client: TF Serving's JSON with `text_scores` for each instance."""

    def invoke_endpoint(self, **params) -> dict:
        instances = json.loads(params["Body"])["instances"]
        raw = json.dumps({"predictions": [text_scores(text) for text in instances]}).encode()
        return {"Body": io.BytesIO(raw), "ContentType": "application/json"}


def api_event(body: bytes) -> dict:
    """An API Gateway HTTP API (2.0) event for `POST /v1/moderate` with a JSON body."""
    return {
        "version": "2.0",
        "rawPath": "/v1/moderate",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST"}, "requestId": "test", "stage": "$default"},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


@dataclasses.dataclass(frozen=True)
class Exchange:
    body_bytes: int
    status: int


class FakeApi(ThreadingHTTPServer):
    """The real handler behind HTTP on 127.0.0.1, as the local gateway runs it, unless `refuse` answers first.

    `refuse(n)` sees the number of each POST (from 1) and returns (status, headers) to answer it with an error the
    way a proxy would (API Gateway's `{"message": ...}` body), or None to let the handler answer. `exchanges` records
    every POST.
    """

    def __init__(self, handler, refuse: Callable[[int], tuple[int, dict[str, str]] | None] | None = None):
        super().__init__(("127.0.0.1", 0), FakeApiRequest)
        self.handler, self.refuse = handler, refuse
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_port}"


class FakeApiRequest(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    server: FakeApi

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            refusal = self.server.refuse(len(self.server.exchanges) + 1) if self.server.refuse else None
            if refusal is None:
                handler = self.server.handler
                response = handler.handle(api_event(body), None, handler.SETTINGS, ModelEndpoint())
                status, headers, payload = response["statusCode"], response["headers"], response["body"].encode()
            else:
                (status, headers), payload = refusal, json.dumps({"message": HTTPStatus(refusal[0]).phrase}).encode()
            self.server.exchanges.append(Exchange(len(body), status))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def serve_api(handler, in_background):
    """Starts FakeApi servers; all are stopped after the test."""
    return lambda refuse=None: in_background(FakeApi(handler, refuse))


def write_csv(path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def read_csv(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_scores_every_row_in_order_with_the_models_verdicts(tmp_path, scorer, shipped_artifact):
    source = tmp_path / "comments.csv"
    write_csv(source, [["id", "comment_text", "source"], ["a", FRIENDLY, "web"], ["b", RUDE, "app"],
                       ["c", "multi-line\ncomment, with a comma", "web"]])  # fmt: skip
    summary = batch.score_file(source, tmp_path / "out.csv", scorer, show_progress=False)

    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == ["a", "b", "c"] and rows[2]["source"] == "web"
    expected = shipped_artifact.score([FRIENDLY, RUDE, "multi-line\ncomment, with a comma"])
    got = np.array([[float(r[f"score_{label}"]) for label in LABELS] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert rows[0]["flagged"] == "false" and rows[1]["flagged"] == "true"
    assert "insult" in rows[1]["flagged_labels"].split()
    assert rows[0]["action"] == "allow" and rows[1]["action"] in ("review", "block")
    assert summary.blocked == sum(row["action"] == "block" for row in rows)
    assert (summary.rows, summary.scored, summary.flagged, summary.unscored_rows) == (3, 3, 1, [])


@pytest.mark.slow
def test_bad_rows_are_kept_with_an_error_and_reported_by_row_number(tmp_path, scorer):
    source = tmp_path / "mixed.csv"
    source.write_bytes(
        b"id,comment_text\n"
        b"1,fine comment\n"
        b"2,\n"  # row 3: empty
        b"3,bad \xff bytes\n"  # row 4: invalid UTF-8
        b"4,too,many\n"  # row 5: three fields
        b'5,"   "\n'  # row 6: whitespace only
        b"6,another fine comment\n"
    )
    summary = batch.score_file(source, tmp_path / "out.csv", scorer, show_progress=False)

    assert [p.row for p in summary.unscored_rows] == [3, 4, 5, 6]
    assert [p.column for p in summary.unscored_rows] == ["comment_text", "comment_text", None, "comment_text"]
    problems = {p.row: p.message for p in summary.unscored_rows}
    assert problems[3] == "empty comment text" and "UTF-8" in problems[4] and "3 fields" in problems[5]
    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert b"3,bad \xff bytes," in (tmp_path / "out.csv").read_bytes()  # the undecodable row is copied byte for byte
    assert rows[0]["score_error"] == "" and rows[0]["score_toxic"] != ""
    assert rows[3]["score_error"] == problems[5] and rows[3]["score_toxic"] == ""
    assert rows[5]["score_toxic"] != ""


@pytest.mark.slow
def test_small_chunks_give_the_same_file_as_one_chunk(tmp_path, scorer):
    source = tmp_path / "many.csv"
    texts = [FRIENDLY, RUDE, "", "what a lovely photo", "shut up, moron"] * 7
    write_csv(source, [["id", "comment_text"], *([str(i), t] for i, t in enumerate(texts))])
    batch.score_file(source, tmp_path / "one.csv", scorer, chunk_rows=1024, show_progress=False)
    batch.score_file(source, tmp_path / "small.csv", scorer, chunk_rows=3, show_progress=False)
    one, small = read_csv(tmp_path / "one.csv"), read_csv(tmp_path / "small.csv")
    assert len(one) == len(texts) and [r["id"] for r in small] == [r["id"] for r in one]
    for a, b in zip(one, small, strict=True):
        for label in LABELS:  # batches of other lengths pad differently; scores must not notice beyond float noise
            assert (a[f"score_{label}"] == "") == (b[f"score_{label}"] == "")
            if a[f"score_{label}"]:
                assert abs(float(a[f"score_{label}"]) - float(b[f"score_{label}"])) < 1e-5


@pytest.mark.slow
def test_streams_a_chunk_at_a_time(tmp_path, scorer):
    """However long the file, the scorer never sees more than one chunk, so memory stays flat."""
    source = tmp_path / "long.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "comment_text"])
        writer.writerows([i, f"comment number {i}"] for i in range(2500))
    calls = []

    class Spy:
        model_version = scorer.model_version

        def results(self, texts):
            calls.append(len(texts))
            return scorer.results(texts)

    summary = batch.score_file(source, tmp_path / "out.csv", Spy(), chunk_rows=1000, show_progress=False)
    assert calls == [1000, 1000, 500] and summary.scored == 2500
    assert not (tmp_path / "out.csv.partial").exists()


@pytest.mark.slow
def test_reads_gzip_and_a_custom_column(tmp_path, scorer):
    source = tmp_path / "posts.csv.gz"
    with gzip.open(source, "wt", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["post", "body"], ["p1", RUDE]])
    batch.score_file(source, tmp_path / "out.csv", scorer, column="body", show_progress=False)
    assert read_csv(tmp_path / "out.csv")[0]["flagged"] == "true"


@pytest.mark.slow
def test_a_missing_column_or_file_names_the_file(tmp_path, scorer):
    source = tmp_path / "nocol.csv"
    write_csv(source, [["id", "text"], ["1", "hi"]])
    with pytest.raises(batch.ScoreFileError, match=r"nocol\.csv: row 1 \(header\) has no column 'comment_text'"):
        batch.score_file(source, tmp_path / "out.csv", scorer, show_progress=False)
    with pytest.raises(batch.ScoreFileError, match=r"missing\.csv: no such file"):
        batch.score_file(tmp_path / "missing.csv", tmp_path / "out.csv", scorer, show_progress=False)


@pytest.mark.slow
def test_cli_exit_codes_and_report(tmp_path, capsys, shipped_artifact):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    write_csv(good, [["id", "comment_text"], ["1", FRIENDLY]])
    write_csv(bad, [["id", "comment_text"], ["1", FRIENDLY], ["2", ""]])
    artifact = ["--artifact", str(shipped_artifact.directory), "--quiet"]

    assert cli.main(["score", str(good), *artifact]) == 0
    assert (tmp_path / "good.scored.csv").exists()
    assert cli.main(["score", str(bad), "--out", str(tmp_path / "b.csv"), *artifact]) == 2
    err = capsys.readouterr().err
    assert (
        "2 rows, 1 scored, 0 flagged, 0 blocked, 1 not scored" in err
        and "bad.csv, row 3, column 'comment_text': empty comment text" in err
    )
    assert cli.main(["score", str(tmp_path / "nope.csv"), *artifact]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bom.csv", "bom.csv.gz"])
def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path, serve_api, name):
    source = tmp_path / name
    content = "\ufeffcomment_text,id\r\nhello there,1\r\n\ufeffnot a mark at the start,2\r\n".encode()
    source.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    summary = batch.score_file(source, tmp_path / "out.csv", ApiScorer(serve_api().url), show_progress=False)

    rows = read_csv(tmp_path / "out.csv")
    assert list(rows[0])[:2] == ["comment_text", "id"] and summary.scored == 2
    assert rows[1]["comment_text"] == "\ufeffnot a mark at the start"  # only the file's first character is a BOM


# --------------------------------------------------------------------------------------------------
# Through the API
# --------------------------------------------------------------------------------------------------


def write_comments(path, texts) -> None:
    write_csv(path, [["id", "comment_text"], *([str(number), text] for number, text in enumerate(texts, start=1))])


def assert_scored_in_order(path, texts) -> None:
    rows = read_csv(path)
    assert [row["comment_text"] for row in rows] == list(texts)
    for row in rows:
        expected = text_scores(row["comment_text"])
        assert [float(row[f"score_{label}"]) for label in LABELS] == pytest.approx(expected, abs=1e-6)


def test_requests_are_split_by_encoded_size_as_well_as_count(tmp_path, serve_api, capsys):
    """64 comments of 1,000 CJK characters: about 384 KB as \\u escapes, over the API's 256 KB in one request."""
    texts = [f"{number:02d}" + "評論內容" * 250 for number in range(64)]
    source = tmp_path / "cjk.csv"
    write_comments(source, texts)
    api = serve_api()

    assert cli.main(["score", str(source), "--api", api.url, "--quiet"]) == 0, capsys.readouterr().err
    assert_scored_in_order(tmp_path / "cjk.scored.csv", texts)
    assert {exchange.status for exchange in api.exchanges} == {200}
    assert all(exchange.body_bytes <= client.API_MAX_BODY_BYTES for exchange in api.exchanges)


def test_a_request_is_as_full_as_the_limits_allow_and_its_size_exact(serve_api):
    # 51 texts of 5,000 characters, then one that brings the body to exactly the limit, then one byte more.
    texts = ["x" * 5000] * 51
    exact = client.API_MAX_BODY_BYTES - len(json.dumps({"texts": texts}, separators=(",", ":")).encode()) - 3
    texts.append("é" * (exact // 2) + "x" * (exact % 2))  # a separator and two quotes: the 3 bytes above
    assert len(texts[-1]) <= client.API_MAX_TEXT_CHARS

    (count, body), *rest = client.request_bodies(texts)
    assert (count, len(body), rest) == (52, client.API_MAX_BODY_BYTES, [])
    assert json.loads(body) == {"texts": texts}
    api = serve_api()
    assert len(ApiScorer(api.url).moderate(texts)["results"]) == 52  # the handler takes a body exactly at its limit
    assert api.exchanges == [Exchange(client.API_MAX_BODY_BYTES, 200)]
    assert [count for count, _ in client.request_bodies([*texts[:-1], texts[-1] + "x"])] == [51, 1]
    assert [count for count, _ in client.request_bodies(["short"] * 129)] == [64, 64, 1]


FAST_RETRY = RetryPolicy(base_delay_seconds=0.01, max_delay_seconds=0.05, max_total_seconds=5)


def every_fifth(status: int, headers: Callable[[], dict[str, str]] = dict):
    """A `refuse` for FakeApi: requests 5, 10, 15, ... get `status` with `headers()`."""
    return lambda number: (status, headers()) if number % 5 == 0 else None


def test_a_proxy_that_throttles_every_fifth_request_costs_no_rows(tmp_path, serve_api, monkeypatch, capsys):
    texts = [f"comment number {number}" for number in range(399)]
    source = tmp_path / "many.csv"
    write_comments(source, texts)
    api = serve_api(refuse=every_fifth(429))  # API Gateway's throttle: no Retry-After
    monkeypatch.setattr(client, "ApiScorer", functools.partial(ApiScorer, retry=FAST_RETRY))

    assert cli.main(["score", str(source), "--api", api.url, "--chunk-rows", "10", "--quiet"]) == 0
    assert "399 rows, 399 scored" in capsys.readouterr().err
    assert_scored_in_order(tmp_path / "many.scored.csv", texts)
    statuses = [exchange.status for exchange in api.exchanges]
    assert statuses.count(429) == len(statuses) // 5 > 0 and statuses.count(200) == 40


@pytest.mark.parametrize(
    ("retry_after", "shortest", "longest"),
    [(lambda: "2", 2.0, 2.0), (lambda: email.utils.formatdate(time.time() + 3, usegmt=True), 1.9, 3.0)],
    ids=["seconds", "http-date"],
)
def test_waits_as_long_as_retry_after_asks(serve_api, retry_after, shortest, longest):
    api = serve_api(refuse=every_fifth(503, lambda: {"Retry-After": retry_after()}))
    waits: list[float] = []
    scorer = ApiScorer(api.url, retry=RetryPolicy(base_delay_seconds=0.01), sleep=waits.append)
    for number in range(10):
        scorer.moderate([f"text {number}"])
    assert len(waits) == 2 and all(shortest <= wait <= longest for wait in waits), waits


def test_waits_double_with_full_jitter_up_to_a_ceiling_and_never_undercut_retry_after():
    policy = RetryPolicy(base_delay_seconds=0.5, max_delay_seconds=30)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (20, 30.0)]:
        waits = [policy.delay(retry, None) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits) and max(waits) > ceiling / 2 and len(set(waits)) > 100
    assert {policy.delay(1, 4.0) for _ in range(50)} == {4.0}
    assert min(policy.delay(7, 4.0) for _ in range(200)) >= 4.0


def test_retry_after_is_read_as_seconds_or_an_http_date():
    now = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
    later = email.utils.format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert client.retry_after_seconds(later, now) == 90
    assert client.retry_after_seconds("Mon, 07 Dec 2026 17:00:00 GMT", now) == 0  # in the past: no wait
    assert client.retry_after_seconds(" 7 ", now) == 7
    for unusable in (None, "", "-1", "1.5", "soon", "٣"):
        assert client.retry_after_seconds(unusable, now) is None


def test_retries_are_bounded_in_attempts(serve_api):
    api = serve_api(refuse=lambda number: (503, {}))
    scorer = ApiScorer(api.url, retry=dataclasses.replace(FAST_RETRY, max_attempts=4))
    with pytest.raises(ApiError, match=r"http_error \(503\): Service Unavailable \(gave up after 4 attempts in"):
        scorer.moderate(["hello"])
    assert len(api.exchanges) == 4


def test_retries_are_bounded_in_time(serve_api):
    api = serve_api(refuse=lambda number: (502, {"Retry-After": "0"}))
    policy = RetryPolicy(max_attempts=1000, base_delay_seconds=0.05, max_delay_seconds=0.05, max_total_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(ApiError, match="gave up after"):
        ApiScorer(api.url, retry=policy).moderate(["hello"])
    assert time.monotonic() - started < 1.5 and 2 <= len(api.exchanges) < 1000


def test_an_unreachable_api_is_retried_and_a_refusal_is_not(serve_api):
    closed = serve_api()
    closed.shutdown()
    closed.server_close()
    waits: list[float] = []
    with pytest.raises(ApiError, match=r"unreachable.*gave up after 8 attempts"):
        ApiScorer(closed.url, sleep=waits.append).moderate(["hello"])
    assert len(waits) == 7

    api = serve_api(refuse=lambda number: (413, {}))
    with pytest.raises(ApiError, match=r"\(413\)"):
        ApiScorer(api.url, sleep=waits.append).moderate(["hello"])
    assert len(api.exchanges) == 1 and len(waits) == 7


def test_rows_the_api_fails_are_kept_reported_and_the_rest_written(tmp_path, serve_api, monkeypatch, capsys):
    texts = ["first", "second", "", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]
    source = tmp_path / "down.csv"
    write_comments(source, texts)
    api = serve_api(refuse=lambda number: (503, {}) if number >= 2 else None)  # down after the first request
    monkeypatch.setattr(client, "ApiScorer", functools.partial(ApiScorer, retry=FAST_RETRY))

    assert cli.main(["score", str(source), "--api", api.url, "--chunk-rows", "4", "--quiet"]) == 1
    rows = read_csv(tmp_path / "down.scored.csv")
    assert [row["comment_text"] for row in rows] == texts  # every row, in order
    assert [row["score_error"] == "" for row in rows] == [True, True, False, True] + [False] * 6
    assert_scored_in_order_where_scored(rows)
    # Rows 6-9 failed after 8 attempts; rows 10-11 were not sent: each request would have waited as long again.
    assert rows[4]["score_error"].startswith("not scored: http_error (503): Service Unavailable (gave up after 8")
    assert rows[8]["score_error"].startswith("not scored: http_error (503): not sent after an earlier request fail")
    assert len(api.exchanges) == 1 + 8
    err = capsys.readouterr().err
    assert "10 rows, 3 scored," in err and "7 not scored (model test-model)" in err
    assert "down.csv, row 4, column 'comment_text': empty comment text" in err
    assert "down.csv, row 11, column 'comment_text': not scored: http_error (503)" in err
    assert "the API failed: http_error (503)" in err


def assert_scored_in_order_where_scored(rows) -> None:
    for row in rows:
        if not row["score_error"]:
            expected = text_scores(row["comment_text"])
            assert [float(row[f"score_{label}"]) for label in LABELS] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("status", "exit_code", "error"), [(413, 2, "http_error (413)"), (200, 1, "bad_response")])
def test_a_request_the_api_refuses_fails_alone(tmp_path, serve_api, capsys, status, exit_code, error):
    """A refusal (4xx) or an answer that is not the API's (a proxy's page) is not retried and stops nothing else."""
    texts = [f"comment {number}" for number in range(9)]
    source = tmp_path / "refused.csv"
    write_comments(source, texts)
    api = serve_api(refuse=lambda number: (status, {}) if number == 2 else None)

    assert cli.main(["score", str(source), "--api", api.url, "--chunk-rows", "3", "--quiet"]) == exit_code
    rows = read_csv(tmp_path / "refused.scored.csv")
    failed = [row["score_error"].startswith(f"not scored: {error}") for row in rows]
    assert failed == [False] * 3 + [True] * 3 + [False] * 3
    assert_scored_in_order_where_scored(rows)
    assert len(api.exchanges) == 3
    assert "9 rows, 6 scored" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# The CLI and the API agree
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "end\x00", "fine", "\\u0000 spelt out", "\u2400 the symbol"])
def test_the_api_and_score_treat_nul_alike(tmp_path, handler, serve_api, text):
    api = handler.handle(api_event(json.dumps({"text": text}).encode()), None, handler.SETTINGS, ModelEndpoint())
    source = tmp_path / "one.csv"
    write_csv(source, [["id", "comment_text"], ["1", text]])
    batch.score_file(source, tmp_path / "out.csv", ApiScorer(serve_api().url), show_progress=False)
    cli_problem = read_csv(tmp_path / "out.csv")[0]["score_error"]

    if "\x00" in text:
        error = json.loads(api["body"])["error"]
        assert (api["statusCode"], error["code"]) == (400, "invalid_request")
        assert error["message"].removeprefix("`text` ") == cli_problem.removeprefix("comment text ")
        assert "NUL" in cli_problem
    else:
        assert (api["statusCode"], cli_problem) == (200, "")


def test_the_clients_limits_are_the_handlers(handler):
    limits = (client.API_MAX_TEXTS, client.API_MAX_TEXT_CHARS, client.API_MAX_BODY_BYTES)
    api_limits = (
        handler.DEFAULT_MAX_TEXTS,
        handler.DEFAULT_MAX_TEXT_CHARS,
        importlib.import_module("http_api").DEFAULT_MAX_BODY_BYTES,
    )
    assert limits == api_limits
    assert limits == (handler.SETTINGS.max_texts, handler.SETTINGS.max_text_chars, handler.SETTINGS.max_body_bytes)
