"""`toxiguard score --cloud`'s data: CSV -> JSON Lines staging -> container output -> joined CSV.

The container is the project's emulation of SageMaker's TF Serving container (toxiguard.serving.local: the
jsonlines front end, TF Serving's request parsing and response bytes, the Accept header's newline removal), so each
staging file is sent in mini-batches of several sizes, as MultiRecord does, and answered one line per request.
The key test: the joined file is byte for byte what local `toxiguard score` writes with the same scorer.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import itertools
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from toxiguard.artifact import moderation_result
from toxiguard.cloud import transform_data
from toxiguard.cloud.transform_data import JoinSummary, SendPlan, TransformDataError
from toxiguard.config import LABELS
from toxiguard.serving import batch
from toxiguard.serving.local import container, tf_serving
from toxiguard.serving.local.http import Response

THRESHOLDS = dict(zip(LABELS, (0.8, 0.7, 0.85, 0.75, 0.8, 0.9), strict=True))
BLOCKS = dict(zip(LABELS, (0.95, None, 0.97, None, 0.9, None), strict=True))
MANIFEST = {"labels": list(LABELS), "thresholds": THRESHOLDS, "block_thresholds": BLOCKS}
PAYLOAD = transform_data.payload_limit_bytes(1)
MINI_BATCHES = (5, 1, 3, 8, 2)  # records per request, cycled: MultiRecord fills each request to the payload

LONG = "long comment " * 462  # 6,006 characters: over the API's 5,000, sent to the model all the same
ROWS = (
    "\ufeffid,comment_text,source\r\n".encode()  # Excel's byte-order mark and line ends
    + b"1,plain comment,web\r\n"
    + b'2,"multi-line\ncomment, with a comma and ""quotes""",app\r\n'
    + b"3,,web\r\n"  # row 4: empty
    + b"4,bad \xff bytes,web\r\n"  # row 5: invalid UTF-8
    + b"5,too,many,fields,web\r\n"  # row 6: five fields
    + b"6,short\r\n"  # row 7: two fields
    + b'7,"   ",web\r\n'  # row 8: whitespace only
    + b"8,nul \x00 inside,web\r\n"  # row 9: NUL
    + f"9,{LONG},web\r\n".encode()
    + b'10,"code: } { and ]\n[ brackets, \\ a backslash",web\r\n'  # nothing that changes how it is read
    + "11,評論內容 with an emoji 🙂,app\r\n".encode()
    + "12,\ufeffnot a mark at the start,web\r\n".encode()
    + "".join(f"{number},comment number {number} {'!' * number},web\r\n" for number in range(13, 53)).encode()
)
UNSENDABLE = {  # row number: (column, message)
    4: ("comment_text", "empty comment text"),
    5: ("comment_text", "comment text is not valid UTF-8"),
    6: (None, "has 5 fields, the header has 3"),
    7: (None, "has 2 fields, the header has 3"),
    8: ("comment_text", "empty comment text"),
    9: ("comment_text", "comment text contains a NUL character (U+0000)"),
}


def fake_scores(text: str) -> list[float]:
    """The fake model: six scores from the whole text (a text read wrongly or paired with the wrong row shows), in
    hundredths, which survive TF Serving's float32 printing exactly."""
    crc = zlib.crc32(text.encode("utf-8"))
    return [(crc >> (5 * label)) % 101 / 100 for label in range(len(LABELS))]


class FakeScorer:
    """The fake model in process, as `toxiguard score` scores with a packaged model (ServingModel.predict)."""

    model_version = "test"

    def results(self, texts: list[str]) -> list[dict]:
        thresholds, blocks = list(THRESHOLDS.values()), list(BLOCKS.values())
        return [moderation_result(LABELS, fake_scores(text), thresholds, blocks) for text in texts]


def container_output(staging: bytes, sizes=MINI_BATCHES) -> bytes:
    """The `.out` a job writes for a staging file: its lines sent `sizes[i]` at a time (SplitType Line, MultiRecord),
    each request through the container's front end to TF Serving and back with Accept application/jsonlines, each
    response one line (AssembleWith Line)."""
    records, responses = staging.splitlines(keepends=True), []
    starts = itertools.accumulate(itertools.cycle(sizes), initial=0)
    for start, end in itertools.pairwise(starts):
        if start >= len(records):
            break
        request = tf_serving.parse_predict_request(
            container.tfs_request_body("application/jsonlines", b"".join(records[start:end]))
        )
        scores = np.array([fake_scores(text.decode("utf-8")) for text in request.texts], dtype=np.float32)
        reply = Response(200, tf_serving.predict_response(scores, request.columnar))
        responses.append(container.apply_accept(reply, "application/jsonlines").body + b"\n")
    return b"".join(responses)


def write_source(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    return path


def convert(source: Path, max_line_bytes: int = PAYLOAD, **options) -> tuple[SendPlan, bytes]:
    staging = io.BytesIO()
    with source.open("rb") as stream:
        plan = transform_data.convert_csv(
            str(source), stream, staging, staging_name=transform_data.staging_name(1, str(source)),
            max_line_bytes=max_line_bytes, **options,
        )  # fmt: skip
    return plan, staging.getvalue()


def join(source: Path, plan: SendPlan, output: bytes | None) -> tuple[JoinSummary, bytes]:
    out = io.BytesIO()
    with source.open("rb") as stream:
        summary = transform_data.join(plan, stream, None if output is None else io.BytesIO(output), MANIFEST, out)
    joined = out.getvalue()
    return summary, gzip.decompress(joined) if plan.source.endswith(".gz") else joined


# --------------------------------------------------------------------------------------------------
# The round trip gives what local `toxiguard score` gives
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window_rows", [7, transform_data.WINDOW_ROWS], ids=["window-7", "default-window"])
@pytest.mark.parametrize("name", ["comments.csv", "comments.csv.gz"])
def test_convert_send_and_join_write_what_local_score_writes(tmp_path, name, window_rows):
    """With windows of 7 rows, window ends fall inside requests (of 5, 1, 3, 8, 2 records) and between them."""
    source = write_source(tmp_path, name, ROWS)
    plan, staging = convert(source, window_rows=window_rows)
    output = container_output(staging)
    plan = SendPlan.from_json(plan.to_json())  # the join may run in a later process
    summary, joined = join(source, plan, output)

    local = batch.score_file(source, tmp_path / "local.csv", FakeScorer(), chunk_rows=7, show_progress=False)
    assert joined == (tmp_path / "local.csv").read_bytes()
    assert (summary.rows, summary.scored, summary.flagged, summary.blocked) == (
        local.rows, local.scored, local.flagged, local.blocked,
    )  # fmt: skip
    assert summary.unscored_rows == local.unscored_rows == plan.unsendable
    assert {p.row: (p.column, p.message) for p in plan.unsendable} == UNSENDABLE
    assert (plan.rows_read, plan.rows_sent) == (52, 52 - len(UNSENDABLE))
    assert output.count(b"\n") == 13 > len(MINI_BATCHES)  # several requests of different sizes, one line each
    assert summary.actions["block"] and summary.actions["review"] and summary.actions["allow"]


def test_the_joined_file_keeps_every_row_in_order_with_scores_or_its_error(tmp_path):
    source = write_source(tmp_path, "comments.csv", ROWS)
    plan, staging = convert(source)
    summary, joined = join(source, plan, container_output(staging))

    rows = list(csv.DictReader(io.StringIO(joined.decode("utf-8", "surrogateescape"), newline="")))
    assert [row["id"] for row in rows] == [str(number) for number in range(1, 53)]
    assert list(rows[0]) == ["id", "comment_text", "source", *batch.OUTPUT_COLUMNS]
    long_row = rows[8]
    assert long_row["comment_text"] == LONG and long_row["score_error"] == ""
    assert [float(long_row[f"score_{label}"]) for label in LABELS] == fake_scores(LONG)
    assert rows[3]["score_toxic"] == "" and rows[3]["score_error"] == "comment text is not valid UTF-8"
    assert b"4,bad \xff bytes,web," in joined  # the undecodable row is copied byte for byte
    assert rows[4][None] == ["fields", "web"]  # a long row's surplus fields are kept, last
    flagged = {label: sum(label in row["flagged_labels"].split() for row in rows) for label in LABELS}
    assert dict(summary.flagged_by_label) == {label: n for label, n in flagged.items() if n}
    assert summary.flagged_share("toxic") == flagged["toxic"] / summary.scored
    assert sum(summary.actions.values()) == summary.scored == 52 - len(UNSENDABLE)


def test_summaries_of_a_jobs_files_combine(tmp_path):
    summaries = []
    for index, content in enumerate([ROWS, b"id,comment_text\n1,\n2,hello\n"], start=1):
        source = write_source(tmp_path, f"part{index}.csv", content)
        plan, staging = convert(source)
        summaries.append(join(source, plan, container_output(staging))[0])
    total = JoinSummary.combine(summaries)
    assert (total.rows, total.scored) == (52 + 2, 52 - len(UNSENDABLE) + 1)
    assert [p.row for p in total.unscored_rows] == [*UNSENDABLE, 2]
    assert total.sources == [str(tmp_path / "part1.csv"), str(tmp_path / "part2.csv")]
    assert total.actions == summaries[0].actions + summaries[1].actions


def test_a_file_with_nothing_to_send_joins_without_job_output(tmp_path):
    source = write_source(tmp_path, "empty.csv", b"id,comment_text\n1,\n2,  \n")
    plan, staging = convert(source)
    assert (staging, plan.rows_sent) == (b"", 0)
    summary, joined = join(source, plan, None)
    assert summary.rows == 2 and summary.scored == 0 and joined.count(b"empty comment text") == 2


# --------------------------------------------------------------------------------------------------
# What is sent
# --------------------------------------------------------------------------------------------------


def test_each_window_is_staged_shortest_text_first(tmp_path):
    source = write_source(tmp_path, "comments.csv", ROWS)
    plan, staging = convert(source, window_rows=7)
    staged = [json.loads(line)["text"] for line in staging.splitlines()]
    texts = list(csv.reader(io.StringIO(ROWS.decode("utf-8", "replace").removeprefix("\ufeff"), newline="")))[1:]
    not_sent = {problem.row for problem in plan.unsendable}
    start = 0
    for first in range(0, len(texts), 7):
        window = [row[1] for number, row in enumerate(texts[first : first + 7], start=first + 2)
                  if number not in not_sent]  # fmt: skip
        assert staged[start : start + len(window)] == sorted(window, key=len)  # stable: equal lengths in row order
        start += len(window)
    assert start == len(staged) == plan.rows_sent


@pytest.mark.parametrize("sizes", [(1,), (2,), (7,)], ids=["one", "two", "seven"])
def test_the_container_reads_each_record_as_its_text(sizes):
    """A record is `{"text": ...}` with brackets escaped: text like `} {` or `][` must not change how the container's
    front end reads the request (it looks for `}` or `]` followed by `{` or `[` anywhere in the body)."""
    texts = ["} {", "][", '"instances": [1]', "a\nb\r\nc", "\\", "ünïcödé 🙂", "\u2028line separator", "x" * 6000]
    staging = b"".join(transform_data._record(text) for text in texts)
    assert staging.count(b"\n") == len(texts)
    received = []
    for start in range(0, len(texts), sizes[0]):
        body = b"".join(staging.splitlines(keepends=True)[start : start + sizes[0]])
        received += tf_serving.parse_predict_request(container.tfs_request_body("application/jsonlines", body)).texts
    assert [text.decode("utf-8") for text in received] == texts


def test_bare_json_strings_would_break_a_multi_record_request():
    """Why records are objects: the container wraps bare strings of several lines as `["a"\\n"b"]`, not JSON."""
    body = container.tfs_request_body("application/jsonlines", b'"first"\n"second"\n')
    with pytest.raises(tf_serving.PredictError, match="Missing a comma"):
        tf_serving.parse_predict_request(body)


def test_a_record_over_the_payload_limit_is_not_sent_and_is_reported(tmp_path):
    fits = "x" * (100 - len(b'{"text":""}\n'))  # exactly 100 bytes with its newline
    over = "é" * 45  # 90 bytes of text, 102 as a record
    source = write_source(tmp_path, "sizes.csv", f"id,comment_text\n1,{fits}\n2,{over}\n3,{fits}x\n".encode())
    plan, staging = convert(source, max_line_bytes=100)

    assert staging.splitlines() == [json.dumps({"text": fits}, separators=(",", ":")).encode()]
    assert [str(problem) for problem in plan.unsendable] == [
        f"{source}, row 3, column 'comment_text': comment text's record is 102 bytes, more than the job's payload "
        "limit of 100",
        f"{source}, row 4, column 'comment_text': comment text's record is 101 bytes, more than the job's payload "
        "limit of 100",
    ]
    summary, joined = join(source, plan, container_output(staging))
    assert summary.scored == 1 and [p.row for p in summary.unscored_rows] == [3, 4]
    assert "more than the job's payload limit" in joined.decode().splitlines()[2]


def test_names_of_the_staging_output_and_scored_files():
    assert transform_data.staging_name(3, "s3://bucket/input/day/comments.csv.gz") == "00003-comments.jsonl"
    assert transform_data.payload_limit_bytes(6) == 6_000_000
    plan = SendPlan("s3://bucket/input/posts.csv.gz", "00001-posts.jsonl", "text", 10, ["text"], 0, 0, [], "", 7)
    assert (plan.output_name, plan.scored_name) == ("00001-posts.jsonl.out", "posts.scored.csv.gz")
    assert dataclasses.replace(plan, source="in/posts.csv").scored_name == "posts.scored.csv"


def test_a_header_without_the_column_names_the_file(tmp_path):
    source = write_source(tmp_path, "nocol.csv", b"id,text\n1,hi\n")
    with pytest.raises(batch.ScoreFileError, match=r"nocol\.csv: row 1 \(header\) has no column 'comment_text'"):
        convert(source)
    plan, staging = convert(source, column="text")
    assert plan.rows_sent == 1 and staging == b'{"text":"hi"}\n'


def test_the_plan_survives_json_and_refuses_what_is_not_one(tmp_path):
    source = write_source(tmp_path, "odd.csv", b"id,comment_\xfftext\n1,\n2,hello\n")
    plan, _ = convert(source, column="comment_\udcfftext")  # a header from invalid UTF-8 holds surrogates
    assert SendPlan.from_json(plan.to_json().encode()) == plan
    previous_format = {key: value for key, value in plan.to_dict().items() if key != "window_rows"}
    for broken, message in [
        ("[]", "not a send plan of format 2"),
        (json.dumps({**plan.to_dict(), "format": 3}), "not a send plan of format 2: written by another toxiguard"),
        (json.dumps({**previous_format, "format": 1}), "not a send plan of format 2"),  # sent in row order
        (json.dumps({**plan.to_dict(), "window_rows": None}), "'window_rows' is missing or not of type int"),
        (json.dumps({**plan.to_dict(), "rows_sent": "1"}), "'rows_sent' is missing or not of type int"),
        (json.dumps({key: value for key, value in plan.to_dict().items() if key != "header"}), "'header' is missing"),
        (json.dumps({**plan.to_dict(), "unsendable": [{"row": 3}]}), "'unsendable' holds a row that is not a"),
        ("{", "not valid JSON"),
    ]:
        with pytest.raises(TransformDataError, match=message):
            SendPlan.from_json(broken)


def test_importing_it_needs_no_boto3_numpy_or_tensorflow(python_without):
    result = python_without(("boto3", "botocore", "numpy", "tensorflow"), "import toxiguard.cloud.transform_data")
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------------
# Output that does not line up is an error, never a shifted file
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def sent(tmp_path):
    source = write_source(tmp_path, "comments.csv", ROWS)
    plan, staging = convert(source)
    return source, plan, container_output(staging)


def test_too_few_predictions_name_the_file_and_counts(sent):
    source, plan, output = sent
    lines = output.splitlines(keepends=True)  # the last request held 2 of the 46 rows sent
    with pytest.raises(TransformDataError) as error:
        join(source, plan, b"".join(lines[:-1]))
    assert str(error.value) == (
        f"00001-comments.jsonl.out: 44 predictions for the 46 rows sent from {source} (2 missing in rows 2 to 53); "
        "the job's output does not line up with its input, so nothing is joined"
    )


def test_too_many_predictions_name_the_file_and_counts(sent):
    source, plan, output = sent
    with pytest.raises(TransformDataError, match=r"\.jsonl\.out: 47 predictions for the 46 rows sent from .*comments"
                       r"\.csv \(1 more than rows sent\)"):  # fmt: skip
        join(source, plan, output + output.splitlines(keepends=True)[1])


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"predictions": [[0.1, 0.2, 0.3]]}', r"prediction 1: expected 6 scores between 0 and 1, got \[0\.1, 0\.2"),
        (b'{"predictions": [[0.1, 0.2, 0.3, 0.4, 0.5, 1.5]]}', r"prediction 1: expected 6 scores"),
        (b'{"predictions": [[0.1, 0.2, 0.3, 0.4, 0.5, NaN]]}', r"prediction 1: expected 6 scores"),
        (b'{"predictions": [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, "1"]]}', r"prediction 2: expected 6 scores"),
        (b'{"error": "Failed to process element: 0"}', "the container answered a request with an error: Failed"),
        (b'{"outputs": [[0.1]]}', r'not a TF Serving response \{"predictions"'),
        (b'{"predictions": [[0.1, 0.2', "not a JSON response"),
        (b"", r"empty \(the container answered a request with nothing\)"),
    ],
    ids=["three-scores", "over-one", "nan", "string", "error", "columnar", "truncated", "blank"],
)
def test_a_malformed_output_line_names_the_file_and_line(sent, line, problem):
    source, plan, output = sent
    lines = output.splitlines(keepends=True)
    lines[2] = line + b"\n"
    with pytest.raises(TransformDataError, match=r"^00001-comments\.jsonl\.out, line 3(, |: )" + problem):
        join(source, plan, b"".join(lines))


def test_container_output_is_flattened_in_request_order():
    output = (
        b'{    "predictions": [[0.1, 0, 0, 0, 0, 0], [0.2, 0, 0, 0, 0, 0]    ]}\n'  # the container's spacing
        b'{"predictions": [[1, 0, 0, 0, 0, 0]]}\n'
    )
    rows = list(transform_data.read_container_output(io.BytesIO(output), "x.out"))
    assert [row[0] for row in rows] == [0.1, 0.2, 1]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda rows: rows.replace(b"1,plain comment", b"1,plain comments"), r"its SHA-256 differs"),
        (lambda rows: rows + b"53,one more,web\r\n", r"row 54 is new: the file ended at row 53"),
        (lambda rows: rows.replace(b"1,plain comment", b"1,"), r"row 2 was sent"),
        (lambda rows: rows.replace(b"3,,web", b"3,now filled in,web"), r"row 4 was not sent"),
        (lambda rows: rows.rpartition(b"52,")[0], r"51 rows now, 52 when sent"),
        (lambda rows: rows.replace(b"id,comment_text,source", b"id,comment_text,origin"), r"row 1 \(header\) differs"),
    ],
    ids=["edited", "row-added", "row-emptied", "row-filled", "row-removed", "header"],
)
def test_a_file_changed_since_it_was_sent_is_refused(sent, edit, problem):
    source, plan, output = sent
    source.write_bytes(edit(ROWS))
    with pytest.raises(TransformDataError, match=rf"comments\.csv: changed since it was sent \({problem}\); score it"):
        join(source, plan, output)
