"""`toxiguard score`: score a CSV file of comments, streaming, in batches, keeping every input row.

The file is read row by row and scored a chunk at a time, so memory does not grow with the file. Every input row
appears in the output, in order, with `score_<label>` for the six labels, `flagged`, `flagged_labels` and the decision
policy's `action` (allow, review, block) added; a row
that cannot be scored (empty text, invalid UTF-8, wrong number of fields, too long for the API, or its request failed
after the client's retries) keeps its fields, gets a `score_error`, and is reported by row number (the header is row
1, as in `toxiguard train`'s messages).

`toxiguard score --cloud` (cloud/transform_data.py) reads rows with the same `read_comments` and writes them with the
same `ScoredRowWriter`, so both commands send, refuse and write rows alike.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm import tqdm

from toxiguard.config import LABELS, TEXT_COLUMN
from toxiguard.errors import Problem
from toxiguard.serving.client import ApiError

log = logging.getLogger("toxiguard.serving.batch")

OUTPUT_COLUMNS = (*(f"score_{label}" for label in LABELS), "flagged", "flagged_labels", "action", "score_error")
MAX_REPORTED_ROWS = 20


class Scorer(Protocol):
    model_version: str

    def results(self, texts: list[str]) -> list[dict | ApiError]:
        """One result per text in the API's shape, or the ApiError that kept it from being scored."""
        ...


class ScoreFileError(ValueError):
    """The input cannot be scored at all (missing file or text column); names the file."""


@dataclasses.dataclass
class ScoreSummary:
    rows: int = 0
    scored: int = 0
    flagged: int = 0
    flagged_by_label: Counter[str] = dataclasses.field(default_factory=Counter)  # scored rows flagged per label
    actions: Counter[str] = dataclasses.field(default_factory=Counter)  # scored rows per action
    unscored_rows: list[Problem] = dataclasses.field(default_factory=list)  # file, row number, column, why
    api_error: ApiError | None = None  # the first request that failed for good

    @property
    def blocked(self) -> int:
        return self.actions["block"]

    def count(self, outcome: dict | Problem) -> None:
        """Count one written row: its result in the API's shape, or why it was not scored."""
        self.rows += 1
        if isinstance(outcome, Problem):
            self.unscored_rows.append(outcome)
            return
        self.scored += 1
        self.flagged += outcome["flagged"]
        self.flagged_by_label.update(outcome["labels"])
        self.actions[outcome["action"]] += 1


# Why a text that passed every other check is still too big for where it is sent, or None: the API's character
# limit for `score --api`, the job's payload for `score --cloud`.
TextLimit = Callable[[str], str | None]


def api_text_limit(max_chars: int) -> TextLimit:
    def too_long(text: str) -> str | None:
        if len(text) > max_chars:
            return f"comment text has {len(text)} characters, the API accepts at most {max_chars}"
        return None

    return too_long


@dataclasses.dataclass(frozen=True)
class CommentRow:
    number: int  # the header is row 1, as in `toxiguard train`'s messages
    fields: list[str]
    text: str | None  # the text column's value; None when the row is too short to have one
    problem: Problem | None  # why the row cannot be sent; None when it can


@dataclasses.dataclass
class CommentFile:
    """A comments CSV read as a stream: its checked header, then its rows (read as they are iterated)."""

    source: str
    header: list[str]
    column: str
    rows: Iterator[CommentRow]

    def text_problem(self, row: CommentRow, message: str) -> Problem:
        """A problem with `row`'s text found after reading it (its request failed)."""
        return Problem(self.source, row.number, self.column, message)


class _ObservedReader(io.RawIOBase):
    """Reads any object with `read(n)` (a file, an S3 body) and shows each chunk to `observe` (progress, a hash)."""

    def __init__(self, raw: BinaryIO, observe: Callable[[bytes], object] | None):
        self.raw = raw
        self.observe = observe

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.raw.read(len(buffer))
        buffer[: len(chunk)] = chunk
        if self.observe is not None:
            self.observe(chunk)
        return len(chunk)


def buffered(stream: BinaryIO, observe: Callable[[bytes], object] | None = None) -> io.BufferedReader:
    """`stream` as a buffered binary file (lines, peeking) that shows every chunk read to `observe`."""
    return io.BufferedReader(_ObservedReader(stream, observe))


def read_comments(
    stream: BinaryIO,
    source: str,
    column: str = TEXT_COLUMN,
    text_limit: TextLimit | None = None,
    observe: Callable[[bytes], object] | None = None,
) -> CommentFile:
    """The comments in `stream` (gzip when `source` ends with `.gz`), each row with why it cannot be sent.

    Raises ScoreFileError when the header is missing, lacks `column` or already has an output column. A row cannot
    be sent when its field count differs from the header's, or its text is empty, not valid UTF-8, holds a NUL, or
    fails `text_limit`. `observe` sees every chunk of bytes read, as stored."""
    binary = buffered(stream, observe)
    records = _csv_records(gzip.GzipFile(fileobj=binary) if source.endswith(".gz") else binary)
    header = next(records, None)
    if header is None:
        raise ScoreFileError(f"{source}: the file is empty (expected a header row with {column!r})")
    if column not in header:
        raise ScoreFileError(f"{source}: row 1 (header) has no column {column!r}; columns: {', '.join(header)}")
    clashing = [name for name in OUTPUT_COLUMNS if name in header]
    if clashing:
        raise ScoreFileError(f"{source}: row 1 (header) already has output column(s) {', '.join(clashing)}")
    return CommentFile(source, header, column, _comment_rows(records, source, header, column, text_limit))


def _csv_records(binary: BinaryIO) -> Iterator[list[str]]:
    # utf-8-sig drops a leading byte-order mark (Excel writes one) that would otherwise prefix the first column's name.
    # surrogateescape keeps undecodable bytes visible (as surrogates) so that one bad row is reported, not the file.
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    with text:
        yield from csv.reader(text)


def _comment_rows(
    records: Iterator[list[str]], source: str, header: list[str], column: str, text_limit: TextLimit | None
) -> Iterator[CommentRow]:
    width, text_index = len(header), header.index(column)
    for number, fields in enumerate(records, start=2):
        text = fields[text_index] if len(fields) > text_index else None
        why = _row_problem(fields, width, text, text_limit)
        # Field-count problems are the row's; every other one is about the text column's value.
        problem = None if why is None else Problem(source, number, column if len(fields) == width else None, why)
        yield CommentRow(number, fields, text, problem)


def _row_problem(fields: list[str], width: int, text: str | None, text_limit: TextLimit | None) -> str | None:
    """Why a row cannot be sent (the row's shape, or its text column's value); None when it can."""
    if len(fields) != width:
        return f"has {len(fields)} fields, the header has {width}"
    if not text or not text.strip():
        return "empty comment text"
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return "comment text is not valid UTF-8"
    # The API refuses NUL too (lambda/handler.py, check_text), with the same words: no real comment holds one.
    if "\x00" in text:
        return "comment text contains a NUL character (U+0000)"
    return text_limit(text) if text_limit is not None else None


class ScoredRowWriter:
    """Writes a scored CSV to a binary stream: the input's header and OUTPUT_COLUMNS, then each row with its result
    or why it was not scored, counted in `summary`. `finish()` flushes and leaves the stream open."""

    def __init__(self, out: BinaryIO, header: list[str], summary: ScoreSummary):
        # surrogateescape writes an undecodable input row back byte for byte.
        self.text = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", newline="")
        self.writer = csv.writer(self.text)
        self.width = len(header)
        self.summary = summary
        self.writer.writerow([*header, *OUTPUT_COLUMNS])

    def write(self, row: CommentRow, outcome: dict | Problem) -> None:
        """`outcome` is the row's result in the API's shape, or the Problem that kept it from being scored."""
        self.summary.count(outcome)
        # Short rows are padded so the added columns line up; surplus fields go last rather than being dropped.
        fields, surplus = [*row.fields[: self.width], *[""] * (self.width - len(row.fields))], row.fields[self.width :]
        if isinstance(outcome, Problem):
            self.writer.writerow([*fields, *[""] * len(LABELS), "", "", "", outcome.message, *surplus])
            return
        scores = [f"{outcome['scores'][label]:.6f}" for label in LABELS]
        flagged, labels = str(outcome["flagged"]).lower(), " ".join(outcome["labels"])
        self.writer.writerow([*fields, *scores, flagged, labels, outcome["action"], ""])

    def finish(self) -> None:
        self.text.flush()
        self.text.detach()


def score_file(
    source: Path,
    target: Path,
    scorer: Scorer,
    column: str = TEXT_COLUMN,
    chunk_rows: int = 1024,
    max_chars: int | None = None,
    show_progress: bool = True,
) -> ScoreSummary:
    """Score `source` into `target` (written to `<target>.partial`, renamed when complete)."""
    if not source.is_file():
        raise ScoreFileError(f"{source}: no such file")
    summary = ScoreSummary()
    partial = target.with_name(target.name + ".partial")
    progress = tqdm(total=source.stat().st_size, unit="B", unit_scale=True, desc=source.name,
                    disable=not show_progress, file=sys.stderr)  # fmt: skip
    with progress, partial.open("wb") as out:
        text_limit = api_text_limit(max_chars) if max_chars is not None else None
        comments = read_comments(
            source.open("rb"), str(source), column, text_limit, observe=lambda chunk: progress.update(len(chunk))
        )
        writer = ScoredRowWriter(out, comments.header, summary)
        chunk: list[CommentRow] = []
        for row in comments.rows:
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                _score_chunk(chunk, comments, scorer, writer)
                chunk = []
                progress.set_postfix(rows=summary.rows, flagged=summary.flagged, refresh=False)
        _score_chunk(chunk, comments, scorer, writer)
        writer.finish()
    partial.replace(target)
    return summary


def _score_chunk(chunk: list[CommentRow], comments: CommentFile, scorer: Scorer, writer: ScoredRowWriter) -> None:
    sendable = [row.text for row in chunk if row.problem is None]
    results = iter(scorer.results(sendable) if sendable else [])
    for row in chunk:
        outcome = row.problem if row.problem is not None else next(results)
        if isinstance(outcome, ApiError):
            writer.summary.api_error = writer.summary.api_error or outcome
            outcome = comments.text_problem(row, f"not scored: {outcome}")
        writer.write(row, outcome)


def report(source: Path, target: Path, summary: ScoreSummary, model_version: str) -> None:
    """Human summary on stderr: counts, and the first rows not scored by number."""
    print(
        f"{source} -> {target}: {summary.rows} rows, {summary.scored} scored, {summary.flagged} flagged, "
        f"{summary.blocked} blocked, "
        f"{len(summary.unscored_rows)} not scored (model {model_version or 'unknown'})",
        file=sys.stderr,
    )
    for problem in summary.unscored_rows[:MAX_REPORTED_ROWS]:
        print(f"  {problem}", file=sys.stderr)
    if len(summary.unscored_rows) > MAX_REPORTED_ROWS:
        print(f"  ... and {len(summary.unscored_rows) - MAX_REPORTED_ROWS} more rows (see the `score_error` column)",
              file=sys.stderr)  # fmt: skip
    if summary.api_error is not None:
        print(f"  the API failed: {summary.api_error}", file=sys.stderr)


def comments_stem(name: str) -> str:
    """A comments file's name without `.csv` or `.csv.gz`."""
    return name.removesuffix(".gz").removesuffix(".csv")


def scored_name(name: str) -> str:
    return f"{comments_stem(name)}.scored.csv"


def default_output(source: Path) -> Path:
    return source.with_name(scored_name(source.name))
