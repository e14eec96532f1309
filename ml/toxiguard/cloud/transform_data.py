"""`toxiguard score --cloud`'s data: CSV to the lines a Batch Transform job sends, and its output joined back.

Pure data on byte streams (the caller opens S3 objects or files); standard library and toxiguard only, so no boto3,
TensorFlow or NumPy is imported. Per input file:

1. `convert_csv` reads the CSV with local `toxiguard score`'s row reader (`toxiguard.serving.batch.read_comments`:
   BOM, quoted newlines, invalid UTF-8, field counts, empty text, NUL) and writes one JSON Lines record per sendable
   row to the staging object, each window of `window_rows` rows shortest text first (`length_order`): TF Serving
   pads a request to its longest comment, so requests of similar lengths score faster. It returns a `SendPlan`: what
   was sent and what not (by row number), JSON-serialisable because the join may run in a later process
   (`plan.json` next to the job's output).
2. SageMaker Batch Transform (SplitType Line, BatchStrategy MultiRecord, AssembleWith Line) sends the records to the
   TF Serving container in mini-batches, in order, and writes `<staging name>.out`: one line per request,
   `{"predictions": [[6 scores], ...]}`. `read_container_output` flattens and checks those.
3. `join` re-reads the original CSV with the same reader a window at a time, puts the window's predictions back in
   row order with the same `length_order` of its texts (the file is the one sent, by its SHA-256, so no order needs
   storing), and writes the same columns as local `toxiguard score` (`batch.OUTPUT_COLUMNS`), unsendable rows kept
   with their error. More or fewer predictions than rows sent is an error naming the file and both counts, never a
   shifted output.

The record is `{"text": "<comment>"}`, TF Serving's row format with the signature's named input, not a bare JSON
string: the container (tensorflowServing.js, `toxiguard.serving.local.container`) turns a jsonlines body into
`{"instances": [...]}` only when it finds `}` or `]` followed by `{` or `[`, so bare strings of a multi-record
request would be wrapped as `["a"\\n"b"]`, which is not JSON. For the same reason brackets inside the text are written
as `\\u007b`-style escapes: a comment holding `} {` must not change how the container reads the request.

Unlike `toxiguard score --api`, there is no 5,000-character limit: Batch Transform talks to the model directly, so a
6,000-character comment is sent and the model truncates it to its maximum length, as in-process scoring does. The
only size limit is the job's payload (MaxPayloadInMB): a record larger than that cannot be sent in any request.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import itertools
import json
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from toxiguard.artifact import SIGNATURE_INPUT, is_number, manifest_block_thresholds, moderation_result
from toxiguard.config import LABELS, TEXT_COLUMN
from toxiguard.errors import Problem
from toxiguard.serving import batch

PLAN_FORMAT = 2  # bumped when SendPlan's JSON changes, so a plan.json from another release is refused, not misread
_SHOWN_CHARS = 120  # of a bad prediction, in an error message
# Rows sorted together: convert and join hold one window of rows (~50,000 × 400 bytes of text on average, tens of MB
# with Python's overhead, whatever the file's size), and a window fills ~20 requests of ~2,500 records, each of
# similar lengths.
WINDOW_ROWS = 50_000
MAX_RECORD_BYTES_PER_CHAR = 6
RECORD_OVERHEAD_BYTES = len(f'{{"{SIGNATURE_INPUT}":""}}\n')


class TransformDataError(ValueError):
    """A plan, a container output or a re-read input that does not fit: the message names the file and the line, row
    or counts. When `join` raises it, what it wrote to the output stream is unusable."""


def payload_limit_bytes(max_payload_mb: int) -> int:
    """The largest record (its line with the newline) a job with MaxPayloadInMB = `max_payload_mb` can send.

    MB is read as 10**6 bytes, the smaller of its two readings, so a record this size fits either way."""
    return max_payload_mb * 1_000_000


def staging_name(index: int, source: str) -> str:
    """The staging object's name for the job's `index`-th input file (from 1), e.g. `00001-comments.jsonl` for
    `in/comments.csv.gz`: unique within the job (two inputs may share a stem) and in the inputs' order."""
    return f"{index:05d}-{batch.comments_stem(_base_name(source))}.jsonl"


def _base_name(source: str) -> str:
    return source.rpartition("/")[2]


def _record(text: str) -> bytes:
    """A text's JSON Lines record: `{"text": ...}` with brackets escaped (see the module's docstring), newline-ended."""
    # Chained replace: several times faster than str.translate on text this size, and this runs once per comment.
    encoded = json.dumps(text, ensure_ascii=False)
    encoded = encoded.replace("{", "\\u007b").replace("}", "\\u007d").replace("[", "\\u005b").replace("]", "\\u005d")
    return f'{{"{SIGNATURE_INPUT}":{encoded}}}\n'.encode()


def length_order(texts: Sequence[str]) -> list[int]:
    """The positions of `texts` as a window stages them: shortest first, equal lengths in row order (stable)."""
    return sorted(range(len(texts)), key=lambda position: len(texts[position]))


def _windows(rows: Iterator[batch.CommentRow], size: int) -> Iterator[list[batch.CommentRow]]:
    while window := list(itertools.islice(rows, size)):
        yield window


def _payload_limit(max_line_bytes: int) -> batch.TextLimit:
    def too_big(text: str) -> str | None:
        # A character takes at most 6 bytes in a record (a \uXXXX escape; UTF-8 needs at most 4): most texts fit
        # without building their record just to measure it.
        if MAX_RECORD_BYTES_PER_CHAR * len(text) + RECORD_OVERHEAD_BYTES <= max_line_bytes:
            return None
        size = len(_record(text))
        if size > max_line_bytes:
            return f"comment text's record is {size} bytes, more than the job's payload limit of {max_line_bytes}"
        return None

    return too_big


@dataclasses.dataclass(frozen=True)
class SendPlan:
    """What `convert_csv` sent of one input file: everything `join` needs, in a later process if need be.

    `source` is the input's name as the user knows it (an `s3://` URI or a key); problems name it. `unsendable` holds
    the rows not sent (empty text, invalid UTF-8, NUL, wrong field count, record over the payload limit), each with
    its row number (the header is row 1) and column. `source_sha256` is the SHA-256 of the bytes read (gzip as
    stored), so a join against a changed file is refused. `window_rows` is the rows per sorted window."""

    source: str
    staging_name: str
    column: str
    max_line_bytes: int
    header: list[str]
    rows_read: int
    rows_sent: int
    unsendable: list[Problem]
    source_sha256: str
    window_rows: int

    @property
    def output_name(self) -> str:
        """The container's output for the staging object: SageMaker appends `.out` to the input's name."""
        return f"{self.staging_name}.out"

    @property
    def scored_name(self) -> str:
        """The joined file's name: `<stem>.scored.csv`, `.gz` added when the input was gzip (`join` compresses it)."""
        return batch.scored_name(_base_name(self.source)) + (".gz" if self.source.endswith(".gz") else "")

    def to_dict(self) -> dict:
        return {"format": PLAN_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> SendPlan:
        """The plan `to_dict` wrote; TransformDataError naming the missing or mistyped field otherwise."""
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise TransformDataError(f"not a send plan of format {PLAN_FORMAT}: written by another toxiguard release?")
        types = {"header": list, "unsendable": list, "max_line_bytes": int, "rows_read": int, "rows_sent": int,
                 "window_rows": int}  # fmt: skip
        for field in dataclasses.fields(cls):
            expected = types.get(field.name, str)
            if not isinstance(data.get(field.name), expected):
                raise TransformDataError(f"send plan: {field.name!r} is missing or not of type {expected.__name__}")
        try:
            unsendable = [Problem(**problem) for problem in data["unsendable"]]
        except TypeError as exc:
            raise TransformDataError(f"send plan: 'unsendable' holds a row that is not a problem ({exc})") from None
        fields = {field.name: data[field.name] for field in dataclasses.fields(cls)}
        return cls(**{**fields, "unsendable": unsendable})

    def to_json(self) -> str:
        # ASCII: a header read from invalid UTF-8 holds surrogates, which only \u escapes carry.
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> SendPlan:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TransformDataError(f"send plan: not valid JSON ({exc})") from None
        return cls.from_dict(data)


def convert_csv(
    source: str,
    csv_stream: BinaryIO,
    jsonl_stream: BinaryIO,
    *,
    staging_name: str,
    max_line_bytes: int,
    column: str = TEXT_COLUMN,
    window_rows: int = WINDOW_ROWS,
) -> SendPlan:
    """Write `csv_stream`'s sendable rows to `jsonl_stream` as JSON Lines records (UTF-8): the rows are read
    `window_rows` at a time and each window's records written in `length_order`.

    `csv_stream` is the file's bytes as stored: gzip when `source` ends with `.gz`, plain otherwise; any object with
    `read(n)` (a file, an S3 StreamingBody). It is read once, to its end. The header must have `column` and none of
    the output columns (`batch.ScoreFileError`, naming the file, as local `score`). A row is not sent for the local
    reasons (wrong field count, empty text, invalid UTF-8, NUL) or when its record is over `max_line_bytes`
    (`payload_limit_bytes`); never for the API's 5,000-character limit. A plan with `rows_sent == 0` needs no staging
    object and no job output (`join` then takes `container_output=None`)."""
    digest = hashlib.sha256()
    comments = batch.read_comments(csv_stream, source, column, _payload_limit(max_line_bytes), observe=digest.update)
    rows_read, unsendable = 0, []
    for window in _windows(comments.rows, window_rows):
        rows_read += len(window)
        unsendable += [row.problem for row in window if row.problem is not None]
        texts = [row.text for row in window if row.problem is None]
        jsonl_stream.writelines(_record(texts[position]) for position in length_order(texts))
    return SendPlan(
        source=source, staging_name=staging_name, column=column, max_line_bytes=max_line_bytes,
        header=comments.header, rows_read=rows_read, rows_sent=rows_read - len(unsendable), unsendable=unsendable,
        source_sha256=digest.hexdigest(), window_rows=window_rows,
    )  # fmt: skip


def read_container_output(stream: BinaryIO, name: str, label_count: int = len(LABELS)) -> Iterator[list[float]]:
    """The score rows of a container output file, in order: each line is one request's TF Serving response,
    `{"predictions": [[s1, ..., s6], ...]}`, flattened. A line that is not that (not JSON, an `{"error": ...}`, a row
    without `label_count` numbers in [0, 1]) raises TransformDataError naming `name` and the line number."""
    for number, line in enumerate(batch.buffered(stream), start=1):
        yield from _predictions(line, f"{name}, line {number}", label_count)


def _predictions(line: bytes, where: str, label_count: int) -> list[list[float]]:
    if not line.strip():
        raise TransformDataError(f"{where}: empty (the container answered a request with nothing)")
    try:
        response = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TransformDataError(f"{where}: not a JSON response ({exc})") from None
    if isinstance(response, dict) and "error" in response:
        raise TransformDataError(f"{where}: the container answered a request with an error: {response['error']}")
    predictions = response.get("predictions") if isinstance(response, dict) else None
    if not isinstance(predictions, list):
        raise TransformDataError(f'{where}: not a TF Serving response {{"predictions": [...]}}')
    for index, scores in enumerate(predictions, start=1):
        if not (
            isinstance(scores, list)
            and len(scores) == label_count
            and all(is_number(score) and 0.0 <= score <= 1.0 for score in scores)
        ):
            shown = json.dumps(scores)[:_SHOWN_CHARS]
            raise TransformDataError(
                f"{where}, prediction {index}: expected {label_count} scores between 0 and 1, got {shown}"
            )
    return predictions


@dataclasses.dataclass
class JoinSummary(batch.ScoreSummary):
    """`batch.ScoreSummary`'s counts (rows, scored, flagged, blocked, flagged per label, actions, unscored rows by
    number) for one joined file, or for several (`combine`); `sources` names them."""

    sources: list[str] = dataclasses.field(default_factory=list)

    def flagged_share(self, label: str) -> float:
        """The share of scored rows flagged for `label` (0 when none was scored)."""
        return self.flagged_by_label[label] / self.scored if self.scored else 0.0

    @classmethod
    def combine(cls, summaries: Sequence[JoinSummary]) -> JoinSummary:
        """One summary for a job's files, their unscored rows in file order."""
        total = cls()
        for summary in summaries:
            total.rows += summary.rows
            total.scored += summary.scored
            total.flagged += summary.flagged
            total.flagged_by_label += summary.flagged_by_label
            total.actions += summary.actions
            total.unscored_rows += summary.unscored_rows
            total.sources += summary.sources
        return total


def join(
    plan: SendPlan,
    csv_stream: BinaryIO,
    container_output: BinaryIO | None,
    manifest: dict,
    out_stream: BinaryIO,
) -> JoinSummary:
    """Write the scored CSV for `plan`'s file to `out_stream` (gzip when the input was), as local `toxiguard score`
    writes it: every input row once, in order, with `batch.OUTPUT_COLUMNS`; labels and action from the manifest's
    thresholds and block thresholds (`toxiguard.artifact.moderation_result`); unsendable rows with their error.

    `csv_stream` is the original file again (as for `convert_csv`), `container_output` the job's `plan.output_name`
    (None when nothing was sent); one window of rows and its predictions is held at a time. TransformDataError when
    the file changed since it was sent, or the predictions run out or are left over (naming the file and both
    counts). The streams are not closed."""
    labels = manifest["labels"]
    if list(labels) != list(LABELS):
        raise TransformDataError(f"the model's labels {labels} are not the output columns' {list(LABELS)}")
    thresholds = [manifest["thresholds"][label] for label in labels]
    block_thresholds = manifest_block_thresholds(manifest)
    blocks = [block_thresholds[label] for label in labels]
    digest = hashlib.sha256()
    comments = batch.read_comments(
        csv_stream, plan.source, plan.column, _payload_limit(plan.max_line_bytes), observe=digest.update
    )
    if comments.header != plan.header:
        raise _changed(plan, "row 1 (header) differs")
    predictions: Iterator[list[float]] = iter(())  # nothing was sent, so the job wrote nothing for this file
    if container_output is not None:
        predictions = read_container_output(container_output, plan.output_name)
    not_sent = {problem.row for problem in plan.unsendable}
    summary = JoinSummary(sources=[plan.source])
    compressed = gzip.GzipFile(fileobj=out_stream, mode="wb") if plan.source.endswith(".gz") else None
    writer = batch.ScoredRowWriter(out_stream if compressed is None else compressed, comments.header, summary)
    paired = 0
    for window in _windows(comments.rows, plan.window_rows):
        for row in window:
            if row.number - 1 > plan.rows_read:
                raise _changed(plan, f"row {row.number} is new: the file ended at row {plan.rows_read + 1}")
            if (row.problem is None) == (row.number in not_sent):
                raise _changed(plan, f"row {row.number} was {'not ' * (row.problem is None)}sent")
        texts = [row.text for row in window if row.problem is None]
        staged = list(itertools.islice(predictions, len(texts)))
        paired += len(staged)
        if len(staged) < len(texts):
            where = f"{len(texts) - len(staged)} missing in rows {window[0].number} to {window[-1].number}"
            raise TransformDataError(_count_mismatch(plan, paired, where))
        # The window's k-th prediction is for its k-th text in length order: put each back at its text's position.
        in_row_order: list[list[float]] = [[] for _ in texts]
        for position, scores in zip(length_order(texts), staged, strict=True):
            in_row_order[position] = scores
        results = iter(in_row_order)
        for row in window:
            writer.write(row, row.problem or moderation_result(labels, next(results), thresholds, blocks))
    if summary.rows != plan.rows_read:
        raise _changed(plan, f"{summary.rows} rows now, {plan.rows_read} when sent")
    if digest.hexdigest() != plan.source_sha256:
        raise _changed(plan, "its SHA-256 differs")
    left_over = sum(1 for _ in predictions)
    if left_over:
        raise TransformDataError(_count_mismatch(plan, paired + left_over, f"{left_over} more than rows sent"))
    writer.finish()
    if compressed is not None:
        compressed.close()  # writes gzip's trailer; leaves out_stream open
    return summary


def _changed(plan: SendPlan, detail: str) -> TransformDataError:
    return TransformDataError(f"{plan.source}: changed since it was sent ({detail}); score it again")


def _count_mismatch(plan: SendPlan, predictions: int, detail: str) -> str:
    return (
        f"{plan.output_name}: {predictions} predictions for the {plan.rows_sent} rows sent from {plan.source} "
        f"({detail}); the job's output does not line up with its input, so nothing is joined"
    )
