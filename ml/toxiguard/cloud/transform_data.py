"""`toxiguard score --cloud`'s data: CSV to the lines a Batch Transform job sends, and its output joined back.

Pure data on byte streams (the caller opens S3 objects or files); standard library and toxiguard only, so no boto3,
TensorFlow or NumPy is imported. Per input file:

1. `convert_csv` reads the CSV with local `toxiguard score`'s row reader (`toxiguard.serving.batch.read_comments`:
   BOM, quoted newlines, invalid UTF-8, field counts, empty text, NUL) and writes one JSON Lines record per sendable
   row to the staging object. It returns a `SendPlan`: what was sent and what not (by row number), JSON-serialisable
   because the join may run in a later process (`plan.json` next to the job's output).
2. SageMaker Batch Transform (SplitType Line, BatchStrategy MultiRecord, AssembleWith Line) sends the records to the
   TF Serving container in mini-batches, in order, and writes `<staging name>.out`: one line per request,
   `{"predictions": [[6 scores], ...]}`. `read_container_output` flattens and checks those.
3. `join` re-reads the original CSV with the same reader, pairs each sent row with the next prediction, and writes
   the same columns as local `toxiguard score` (`batch.OUTPUT_COLUMNS`), unsendable rows kept with their error.
   More or fewer predictions than rows sent is an error naming the file and both counts, never a shifted output.

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
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from toxiguard.config import LABELS, TEXT_COLUMN
from toxiguard.errors import Problem
from toxiguard.serving import batch

PLAN_FORMAT = 1  # bumped when SendPlan's JSON changes, so a plan.json from another release is refused, not misread


class TransformDataError(ValueError):
    """The container's output cannot be read or does not fit the plan; the message names the file and the counts
    (or line). The output stream written so far is then unusable."""


def payload_limit_bytes(max_payload_mb: int) -> int:
    """The largest record (its line with the newline) a job with MaxPayloadInMB = `max_payload_mb` can send.

    MB is read as 10**6 bytes, the smaller of its two readings, so a record this size fits either way."""
    raise NotImplementedError


def staging_name(index: int, source: str) -> str:
    """The staging object's name for the job's `index`-th input file (from 1), e.g. `00001-comments.jsonl` for
    `in/comments.csv.gz`: unique within the job (two inputs may share a stem) and in the inputs' order."""
    raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class SendPlan:
    """What `convert_csv` sent of one input file: everything `join` needs, in a later process if need be.

    `source` is the input's name as the user knows it (an `s3://` URI or a key); problems name it. `unsendable` holds
    the rows not sent (empty text, invalid UTF-8, NUL, wrong field count, record over the payload limit), each with
    its row number (the header is row 1) and column. `source_sha256` is the SHA-256 of the bytes read (gzip as
    stored), so a join against a changed file is refused."""

    source: str
    staging_name: str
    column: str
    max_line_bytes: int
    header: list[str]
    rows_read: int
    rows_sent: int
    unsendable: list[Problem]
    source_sha256: str

    @property
    def output_name(self) -> str:
        """The container's output for the staging object: SageMaker appends `.out` to the input's name."""
        raise NotImplementedError

    @property
    def scored_name(self) -> str:
        """The joined file's name: `<stem>.scored.csv`, `.gz` added when the input was gzip (`join` compresses it)."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict) -> SendPlan:
        """The plan `to_dict` wrote; TransformDataError naming the missing or mistyped field otherwise."""
        raise NotImplementedError

    def to_json(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_json(cls, text: str | bytes) -> SendPlan:
        raise NotImplementedError


def convert_csv(
    source: str,
    csv_stream: BinaryIO,
    jsonl_stream: BinaryIO,
    *,
    staging_name: str,
    max_line_bytes: int,
    column: str = TEXT_COLUMN,
) -> SendPlan:
    """Write `csv_stream`'s sendable rows to `jsonl_stream` as JSON Lines records (UTF-8), in row order.

    `csv_stream` is the file's bytes as stored: gzip when `source` ends with `.gz`, plain otherwise; any object with
    `read(n)` (a file, an S3 StreamingBody). It is read once, to its end. The header must have `column` and none of
    the output columns (`batch.ScoreFileError`, naming the file, as local `score`). A row is not sent for the local
    reasons (wrong field count, empty text, invalid UTF-8, NUL) or when its record is over `max_line_bytes`
    (`payload_limit_bytes`); never for the API's 5,000-character limit. A plan with `rows_sent == 0` needs no staging
    object and no job output (`join` then takes `container_output=None`)."""
    raise NotImplementedError


def read_container_output(stream: BinaryIO, name: str, label_count: int = len(LABELS)) -> Iterator[list[float]]:
    """The score rows of a container output file, in order: each line is one request's TF Serving response,
    `{"predictions": [[s1, ..., s6], ...]}`, flattened. A line that is not that (not JSON, an `{"error": ...}`, a row
    without `label_count` numbers in [0, 1]) raises TransformDataError naming `name` and the line number."""
    raise NotImplementedError


@dataclasses.dataclass
class JoinSummary(batch.ScoreSummary):
    """`batch.ScoreSummary`'s counts (rows, scored, flagged, blocked, flagged per label, actions, unscored rows by
    number) for one joined file, or for several (`combine`); `sources` names them."""

    sources: list[str] = dataclasses.field(default_factory=list)

    def flagged_share(self, label: str) -> float:
        """The share of scored rows flagged for `label` (0 when none was scored)."""
        raise NotImplementedError

    @classmethod
    def combine(cls, summaries: Sequence[JoinSummary]) -> JoinSummary:
        """One summary for a job's files, their unscored rows in file order."""
        raise NotImplementedError


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
    (None when nothing was sent). TransformDataError when the file changed since it was sent, or the predictions run
    out or are left over (naming the file and both counts). The streams are not closed."""
    raise NotImplementedError
