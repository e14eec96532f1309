"""toxiguard review queue: where comments the model sent to review (or blocked) wait for a moderator's decision.

A review item is one scored comment with its scores, labels and action, its text, and its decision (`new_item` builds
one; `ITEM_FIELDS` lists its fields, the same in the store and in the API). The store keeps items for a limited time
(`expires_at`, REVIEWS_TTL_DAYS) and never returns an expired one.

`ReviewStore` is the contract the API codes against; two implementations keep it, and one test suite
(tests/lambda/test_review_store.py) runs against both:
  DynamoReviewStore  on AWS: one DynamoDB table, queried newest first through its `status-created` index; TTL
                     deletes expired items. The scoring function's role may only PutItem, the review function's only
                     Query, GetItem and UpdateItem, so every operation here is one of those.
  SqliteReviewStore  the local stack: one SQLite file, so `toxiguard serve` needs no AWS and no server. The text is
                     encrypted at rest (Fernet, a key file next to the database), since the file sits in a data
                     directory that backups and copies see; DynamoDB encrypts with the table's KMS key instead.
`open_store` picks one from the environment (REVIEWS_TABLE, else REVIEWS_DB), as `ttl_days_from` reads the TTL.
Lists page with an opaque cursor holding the last item's position (created_at, id): a keyset, so a page costs the
same at item 10,000 as at item 1, and items arriving meanwhile neither repeat nor shift a page.

Failures raise `StoreError` (code review_store_unavailable) or its subclasses `ReviewNotFound` and `DecisionConflict`;
messages name the store and the failure, never a comment's text. Standard library + boto3 at import; the SQLite store
imports `cryptography` when it is created (Lambda never runs it, and its runtime has no `cryptography`).
"""

import base64
import contextlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DECISIONS = {"approve": "approved", "remove": "removed"}  # decision -> the status it sets
STATUSES = ("pending", "approved", "removed")
ACTIONS = ("review", "block")  # the policy's actions that put a comment in the queue (`allow` does not)
# A review item, in the order the API shows its fields.
ITEM_FIELDS = ("id", "ref", "created_at", "model_version", "scores", "thresholds", "labels", "action", "text", "status",
               "decided_by", "decided_at", "note", "expires_at")  # fmt: skip
DEFAULT_TTL_DAYS = 30
MAX_TTL_DAYS = 365
# The DynamoDB table; terraform/modules/reviews_table declares the same keys, index and TTL attribute (a structure
# test compares them), and the tests create their table from TABLE_DEFINITION.
TABLE_KEY = "id"
INDEX_NAME = "status-created"
INDEX_HASH_KEY = "status"
INDEX_RANGE_KEY = "created_key"  # "<created_at>#<id>": newest first is the index order, reversed
TTL_ATTRIBUTE = "expires_at"  # epoch seconds, as DynamoDB's TTL wants them; items carry ISO 8601
TABLE_DEFINITION = {  # create_table's key arguments
    "KeySchema": [{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"} for name in (TABLE_KEY, INDEX_HASH_KEY, INDEX_RANGE_KEY)
    ],
    "GlobalSecondaryIndexes": [{
        "IndexName": INDEX_NAME,
        "KeySchema": [{"AttributeName": INDEX_HASH_KEY, "KeyType": "HASH"},
                      {"AttributeName": INDEX_RANGE_KEY, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
}  # fmt: skip
ITEM_ID = re.compile(r"[0-9a-f]{32}")
# `utc_timestamp`'s format, the only one stored: sorting these strings sorts by time, which both stores' orders use.
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\+00:00")
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,512}")  # unpadded base64url
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


# --- Errors -----------------------------------------------------------------------------------------------------------
class StoreError(Exception):
    """The store failed (I/O, an AWS error): the API answers 503 review_store_unavailable.

    From `put_items`, `stored_ids` names the items written before the failure (DynamoDB writes one at a time)."""

    code = "review_store_unavailable"

    def __init__(self, message: str, *, stored_ids: tuple[str, ...] = ()):
        super().__init__(message)
        self.stored_ids = stored_ids


class ReviewNotFound(StoreError):
    """No unexpired item has this id."""

    code = "review_not_found"


class DecisionConflict(StoreError):
    """The item was decided already; `item` is it as it is now, so the moderator sees who decided what."""

    code = "decision_conflict"

    def __init__(self, item: dict):
        super().__init__(f"the review item was already {item['status']}")
        self.item = item


# --- The contract -----------------------------------------------------------------------------------------------------
class ReviewStore(Protocol):
    """What the API needs from a store of review items (see ITEM_FIELDS)."""

    def put_items(self, items: list[dict]) -> None:
        """Store new, pending items (from `new_item`): one call per request. ValueError for a malformed item."""

    def get_item(self, item_id: str) -> dict:
        """The item; ReviewNotFound if there is none (or it expired)."""

    def list_items(
        self,
        *,
        status: str = "pending",
        label: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict], str | None]:
        """Up to `limit` items with this status (and label and action, if given), newest first (created_at, then id,
        descending), and the cursor of the next page (None on the last). ValueError for a cursor this store did not
        return, or an unknown status or action."""

    def count_items(self) -> dict[str, int]:
        """Unexpired items per status, every status present."""

    def decide(self, item_id: str, decision: str, *, decided_by: str, note: str | None, decided_at: str) -> dict:
        """Approve or remove a pending item (DECISIONS) and return it updated. Only a pending item can be decided, so
        of two moderators deciding at once exactly one wins: the other gets DecisionConflict with the item as the
        winner left it. ReviewNotFound if there is no such item."""


def new_item(
    text: str,
    *,
    ref: str | None,
    scores: Mapping[str, float],
    thresholds: Mapping[str, Mapping[str, float | None]],
    labels: list[str],
    action: str,
    model_version: str,
    now: float,
    ttl_days: int = DEFAULT_TTL_DAYS,
) -> dict:
    """A new pending review item for one scored text; `now` is time.time(). `thresholds` are the ones the scoring
    applied, `{"review": {label: t}, "block": {label: t or None}}`, so a moderator sees why the text was queued even
    after the deployment's thresholds change. It expires `ttl_days` after it was created, rounded down to the second
    (DynamoDB's TTL counts whole seconds)."""
    if action not in ACTIONS:
        raise ValueError(f"only the actions {', '.join(ACTIONS)} are reviewed, not {action!r}")
    if not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise ValueError(f"ttl_days must be from 1 to {MAX_TTL_DAYS}")
    created_ms = int(now * 1000)
    expires_ms = (created_ms // 1000 + ttl_days * 86_400) * 1000
    return {
        "id": uuid.uuid4().hex, "ref": ref, "created_at": _iso_from_ms(created_ms), "model_version": model_version,
        "scores": dict(scores), "thresholds": {kind: dict(values) for kind, values in thresholds.items()},
        "labels": list(labels), "action": action, "text": text, "status": "pending",
        "decided_by": None, "decided_at": None, "note": None, "expires_at": _iso_from_ms(expires_ms),
    }  # fmt: skip


def open_store(environ: Mapping[str, str] = os.environ) -> ReviewStore | None:
    """REVIEWS_TABLE (a DynamoDB table) on AWS, else REVIEWS_DB (an SQLite file) locally, else None: no store.

    An invalid value raises ValueError naming the variable. Opening a DynamoDB store makes no call; an SQLite store
    creates its file, key and schema now, so a path it cannot use is a StoreError at once."""
    table_name = environ.get("REVIEWS_TABLE", "").strip()
    if table_name:
        if not TABLE_NAME.fullmatch(table_name):
            raise ValueError(f"REVIEWS_TABLE={table_name!r} is not a DynamoDB table name")
        return DynamoReviewStore(table_name)
    path = environ.get("REVIEWS_DB", "").strip()
    if path:
        if os.path.isdir(path):
            raise ValueError(f"REVIEWS_DB={path!r} is a directory; it names the SQLite file to use")
        return SqliteReviewStore(path)
    return None


def ttl_days_from(environ: Mapping[str, str] = os.environ) -> int:
    """REVIEWS_TTL_DAYS: whole days from 1 to 365 that a review item is kept, 30 if unset."""
    raw = environ.get("REVIEWS_TTL_DAYS", "").strip()
    if not raw:
        return DEFAULT_TTL_DAYS
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_TTL_DAYS:
        raise ValueError(f"REVIEWS_TTL_DAYS={raw!r} must be a whole number of days from 1 to {MAX_TTL_DAYS}")
    return int(raw)


# --- Shared by both stores --------------------------------------------------------------------------------------------
def _ms_from_iso(timestamp: str) -> int:
    if not isinstance(timestamp, str) or not TIMESTAMP.fullmatch(timestamp):
        raise ValueError("review timestamps are ISO 8601 in UTC with milliseconds: 2026-12-07T20:44:47.123+00:00")
    return (datetime.fromisoformat(timestamp) - EPOCH) // MILLISECOND


def _iso_from_ms(milliseconds: int) -> str:
    # Integer arithmetic: a float of epoch seconds would turn .123 into .122 now and then.
    return (EPOCH + milliseconds * MILLISECOND).isoformat(timespec="milliseconds")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_new_items(items: list[dict]) -> None:
    """Every item as `new_item` makes them; checked before anything is written, so a bad one stores none."""
    for item in items:
        if set(item) != set(ITEM_FIELDS):
            raise ValueError(f"a review item has exactly the fields {', '.join(ITEM_FIELDS)}")
        if not isinstance(item["id"], str) or not ITEM_ID.fullmatch(item["id"]):
            raise ValueError("a review item's id is 32 lower-case hex digits")
        if item["status"] != "pending" or item["action"] not in ACTIONS:
            raise ValueError(f"a new review item is pending, with the action {' or '.join(ACTIONS)}")
        for timestamp in ("created_at", "expires_at"):
            _ms_from_iso(item[timestamp])


def _check_list_arguments(status: str, action: str | None, limit: int) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if action is not None and action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be a positive whole number")


def _check_decision(item_id: str, decision: str, decided_at: str) -> None:
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    _ms_from_iso(decided_at)
    _check_item_id(item_id)


def _check_item_id(item_id: str) -> None:
    """An id no item can have (the route passes any path segment) is simply not found; no store call needed."""
    if not isinstance(item_id, str) or not ITEM_ID.fullmatch(item_id):
        raise ReviewNotFound("no such review item")


def _encode_cursor(item: dict) -> str:
    position = json.dumps({"created_at": item["created_at"], "id": item["id"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(position.encode("ascii")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """The (created_at, id) a cursor continues after; ValueError for anything `_encode_cursor` did not write."""
    if cursor is None:
        return None
    position = None
    if isinstance(cursor, str) and CURSOR.fullmatch(cursor):
        with contextlib.suppress(ValueError):  # bad base64, bytes that are not UTF-8, not JSON
            position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not (
        isinstance(position, dict)
        and set(position) == {"created_at", "id"}
        and isinstance(position["created_at"], str)
        and TIMESTAMP.fullmatch(position["created_at"])
        and isinstance(position["id"], str)
        and ITEM_ID.fullmatch(position["id"])
    ):
        raise ValueError("the cursor is not one this API returned; start again without it")
    return position["created_at"], position["id"]


def _page(items: list[dict], limit: int) -> tuple[list[dict], str | None]:
    """`items` holds up to limit + 1 items: one more than the page means there is a next page."""
    if len(items) <= limit:
        return items, None
    return items[:limit], _encode_cursor(items[limit - 1])


# --- SQLite (the local stack) -----------------------------------------------------------------------------------------
# The queue index holds every column the list filters use, so SQLite walks it newest first (from the cursor on) and
# tests status, expiry, action and label on index entries: only the rows of the page are read and decrypted. A label
# is matched as its JSON string inside the labels' JSON array (`"toxic"` is not inside `"severe_toxic"`). A rare label
# among 10,000 items scans the whole index in a few milliseconds; a label table would be no faster at this size, and
# it would need its own copy of status, kept in step on every decision.
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at INTEGER NOT NULL,  -- epoch milliseconds
    action TEXT NOT NULL,
    labels TEXT NOT NULL,  -- JSON array
    ref TEXT,
    model_version TEXT NOT NULL,
    scores TEXT NOT NULL,  -- JSON object
    thresholds TEXT NOT NULL,  -- JSON object
    decided_by TEXT,
    decided_at TEXT,
    note TEXT,
    text BLOB NOT NULL  -- a Fernet token; last, so reading the other columns skips its overflow pages
);
CREATE INDEX IF NOT EXISTS review_items_queue
    ON review_items (status, created_at DESC, id DESC, expires_at, action, labels);
CREATE INDEX IF NOT EXISTS review_items_expiry ON review_items (expires_at);
"""
SQLITE_COLUMNS = ("id", "status", "created_at", "expires_at", "action", "labels", "ref", "model_version", "scores",
                  "thresholds", "decided_by", "decided_at", "note", "text")  # fmt: skip
SQLITE_PLACEHOLDERS = ", ".join("?" * len(SQLITE_COLUMNS))
SQLITE_INSERT = f"INSERT INTO review_items ({', '.join(SQLITE_COLUMNS)}) VALUES ({SQLITE_PLACEHOLDERS})"
# The local gateway's threads write at once; WAL lets readers go on while one writes, and a writer waits this long.
BUSY_TIMEOUT_SECONDS = 5.0


class SqliteReviewStore:
    """The review queue in one SQLite file, for the local stack (see the module's notes).

    Each thread gets its own connection (sqlite3 connections are not shared between threads); all of them use WAL.
    The database (with its WAL files) and the key file `<path>.key` are created 0600, a missing directory 0700.
    Expired rows are deleted whenever items are added, and never read.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.key_path = self.path.with_name(self.path.name + ".key")
        self._local = threading.local()
        with self._errors():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # SQLite gives its -wal and -shm files the database's mode, so this covers them too.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._fernet = _cipher(self.key_path)
            connection = self._connection()
            if connection.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
                raise StoreError(f"the review database {self.path} cannot use write-ahead logging")
            connection.executescript(SQLITE_SCHEMA)

    def put_items(self, items: list[dict]) -> None:
        _check_new_items(items)
        rows = [self._row(item) for item in items]
        with self._errors(), self._transaction() as connection:
            connection.execute("DELETE FROM review_items WHERE expires_at <= ?", (_now_ms(),))
            connection.executemany(SQLITE_INSERT, rows)

    def get_item(self, item_id: str) -> dict:
        _check_item_id(item_id)
        rows = self._fetch("SELECT * FROM review_items WHERE id = ? AND expires_at > ?", (item_id, _now_ms()))
        if not rows:
            raise ReviewNotFound("no such review item")
        return self._item(rows[0])

    def list_items(self, *, status="pending", label=None, action=None, limit=50, cursor=None):
        _check_list_arguments(status, action, limit)
        after = _decode_cursor(cursor)
        conditions, parameters = ["status = ?", "expires_at > ?"], [status, _now_ms()]
        if after is not None:
            conditions.append("(created_at, id) < (?, ?)")
            parameters.extend(after)
        if action is not None:
            conditions.append("action = ?")
            parameters.append(action)
        if label is not None:
            conditions.append("instr(labels, ?) > 0")
            parameters.append(json.dumps(label))
        query = f"SELECT * FROM review_items WHERE {' AND '.join(conditions)} ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = self._fetch(query, (*parameters, limit + 1))
        return _page([self._item(row) for row in rows], limit)

    def count_items(self) -> dict[str, int]:
        query = "SELECT status, count(*) FROM review_items WHERE expires_at > ? GROUP BY status"
        return {status: 0 for status in STATUSES} | dict(self._fetch(query, (_now_ms(),)))

    def decide(self, item_id, decision, *, decided_by, note, decided_at):
        _check_decision(item_id, decision, decided_at)
        # One statement: the status check and the update cannot be split by another thread's decision.
        rows = self._fetch(
            "UPDATE review_items SET status = ?, decided_by = ?, decided_at = ?, note = ?"
            " WHERE id = ? AND status = 'pending' AND expires_at > ? RETURNING *",
            (DECISIONS[decision], decided_by, decided_at, note, item_id, _now_ms()),
        )
        if not rows:
            raise DecisionConflict(self.get_item(item_id))  # get_item raises ReviewNotFound for a missing item
        return self._item(rows[0])

    def _fetch(self, query: str, parameters: tuple) -> list[sqlite3.Row]:
        """Run one statement (in its own transaction) to the end and return its rows."""
        with self._errors():
            return self._connection().execute(query, parameters).fetchall()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: no implicit transactions; writes that belong together use `_transaction`.
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            connection.row_factory = sqlite3.Row
            # In WAL mode NORMAL still never corrupts the file; a power cut may lose the last commits, not more.
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
        return connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so a transaction that
        reads before it writes never meets another writer halfway and fails."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.commit()
        except BaseException:
            connection.rollback()  # also after a failed COMMIT: the thread's connection must not stay in a transaction
            raise

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:  # SQLite's messages never quote values
            raise StoreError(f"the review database {self.path} failed: {error}") from error

    def _row(self, item: dict) -> tuple:
        record = {
            **item, "expires_at": _ms_from_iso(item["expires_at"]), "labels": json.dumps(item["labels"]),
            "scores": json.dumps(item["scores"]), "thresholds": json.dumps(item["thresholds"]),
            "text": self._fernet.encrypt(item["text"].encode("utf-8")),
        }  # fmt: skip
        return tuple(record[column] for column in SQLITE_COLUMNS)

    def _item(self, row: sqlite3.Row) -> dict:
        record = {
            **dict(row), "expires_at": _iso_from_ms(row["expires_at"]), "labels": json.loads(row["labels"]),
            "scores": json.loads(row["scores"]), "thresholds": json.loads(row["thresholds"]),
            "text": self._decrypt(row["text"]),
        }  # fmt: skip
        return {field: record[field] for field in ITEM_FIELDS}

    def _decrypt(self, token: bytes) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise StoreError(f"a review item cannot be decrypted with {self.key_path} (was it replaced?)") from None


def _cipher(key_path: Path):
    """A Fernet cipher with the key in `key_path`, made on first use. The key file appears complete or not at all
    (written aside, then linked into place), so a second process opening the store at that moment reads the same key.
    """
    from cryptography.fernet import Fernet  # lazily: only the local stack needs it (see the module's notes)

    if not key_path.exists():
        draft = key_path.with_name(f"{key_path.name}.{uuid.uuid4().hex}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key())
        try:
            os.link(draft, key_path)
        except FileExistsError:  # another process made the key first: use theirs
            pass
        finally:
            draft.unlink()
    try:
        return Fernet(key_path.read_bytes())
    except ValueError:
        raise StoreError(f"{key_path} does not hold a Fernet key") from None


# --- DynamoDB (AWS) ---------------------------------------------------------------------------------------------------
# The scoring request waits for its items to be stored: a slow table must not hold its answer for botocore's 60 s.
DYNAMODB_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 3})
SERIALIZER, DESERIALIZER = TypeSerializer(), TypeDeserializer()


class DynamoReviewStore:
    """The review queue in a DynamoDB table (TABLE_DEFINITION): items by id, and the `status-created` index, keyed by
    status and `<created_at>#<id>`, for the newest-first lists. DynamoDB's TTL deletes expired items within days, so
    reads skip the ones it has not reached yet.

    The client is made on first use (boto3 honours AWS_ENDPOINT_URL_DYNAMODB), or passed in."""

    def __init__(self, table_name: str, client=None):
        self.table_name = table_name
        self._client = client
        self._client_lock = threading.Lock()

    def put_items(self, items: list[dict]) -> None:
        """One conditional PutItem per item (the scoring role may not BatchWriteItem), never overwriting an item."""
        _check_new_items(items)
        stored: list[str] = []
        for item in items:
            try:
                self._call("put_item", Item=_dynamo_record(item), ConditionExpression="attribute_not_exists(#id)",
                           ExpressionAttributeNames={"#id": TABLE_KEY})  # fmt: skip
            except ClientError as error:  # `_call` lets only the condition's failure through
                raise StoreError("a review item with this id exists already", stored_ids=tuple(stored)) from error
            except StoreError as error:
                raise StoreError(str(error), stored_ids=tuple(stored)) from error
            stored.append(item["id"])

    def get_item(self, item_id: str) -> dict:
        _check_item_id(item_id)
        item = self._current(item_id)
        if item is None:
            raise ReviewNotFound("no such review item")
        return item

    def list_items(self, *, status="pending", label=None, action=None, limit=50, cursor=None):
        _check_list_arguments(status, action, limit)
        after = _decode_cursor(cursor)
        conditions, values = ["#expires_at > :now"], {":status": status, ":now": _epoch_seconds(_now_ms())}
        if label is not None:
            conditions.append("contains(#labels, :label)")
            values[":label"] = label
        if action is not None:
            conditions.append("#action = :action")
            values[":action"] = action
        request = self._query(status, " AND ".join(conditions), values)
        if after is not None:
            created_at, item_id = after
            request["ExclusiveStartKey"] = _serialize(
                {TABLE_KEY: item_id, INDEX_HASH_KEY: status, INDEX_RANGE_KEY: f"{created_at}#{item_id}"}
            )
        items: list[dict] = []
        while len(items) <= limit:
            if label is None and action is None:
                # Nearly every item passes the expiry filter: read only what the page needs. With a label or action
                # filter, DynamoDB's own 1 MB pages take the fewest round trips.
                request["Limit"] = limit + 1 - len(items)
            answer = self._call("query", **request)
            items.extend(_item_from_dynamo(record) for record in answer["Items"])
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return _page(items, limit)

    def count_items(self) -> dict[str, int]:
        """One COUNT query per status, paged (each page reads up to 1 MB)."""
        counts = {}
        for status in STATUSES:
            request = self._query(status, "#expires_at > :now", {":status": status, ":now": _epoch_seconds(_now_ms())})
            counts[status] = 0
            while True:
                answer = self._call("query", Select="COUNT", **request)
                counts[status] += answer["Count"]
                if "LastEvaluatedKey" not in answer:
                    break
                request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return counts

    def decide(self, item_id, decision, *, decided_by, note, decided_at):
        """One conditional UpdateItem: only a pending, unexpired item changes."""
        _check_decision(item_id, decision, decided_at)
        changes = {"status": DECISIONS[decision], "decided_by": decided_by, "decided_at": decided_at, "note": note}
        changes = {name: value for name, value in changes.items() if value is not None}
        values = {f":{name}": value for name, value in changes.items()}
        values.update({":pending": "pending", ":now": _epoch_seconds(_now_ms())})
        try:
            answer = self._call(
                "update_item",
                Key=_serialize({TABLE_KEY: item_id}),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in changes),
                ConditionExpression="#status = :pending AND #expires_at > :now",
                ExpressionAttributeNames={f"#{name}": name for name in (*changes, TTL_ATTRIBUTE)},
                ExpressionAttributeValues=_serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:  # the condition failed: decided, expired or absent
            old = error.response.get("Item")
            current = _unexpired(_item_from_dynamo(old)) if old else self._current(item_id)
            if current is None:
                raise ReviewNotFound("no such review item") from None
            raise DecisionConflict(current) from None
        return _item_from_dynamo(answer["Attributes"])

    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                # A session of its own: region, credentials and endpoint from the environment, no shared cache.
                self._client = boto3.session.Session().client("dynamodb", config=DYNAMODB_CONFIG)
            return self._client

    def _current(self, item_id: str) -> dict | None:
        record = self._call("get_item", Key=_serialize({TABLE_KEY: item_id}), ConsistentRead=True).get("Item")
        return _unexpired(_item_from_dynamo(record)) if record else None

    def _query(self, status: str, filter_expression: str, values: dict) -> dict:
        """A newest-first Query of the index for one status, with a filter; ExpressionAttributeNames holds exactly
        the names the expressions use (DynamoDB refuses unused ones)."""
        names = {INDEX_HASH_KEY, *re.findall(r"#(\w+)", filter_expression)}
        return {
            "IndexName": INDEX_NAME,
            "KeyConditionExpression": f"#{INDEX_HASH_KEY} = :status",
            "FilterExpression": filter_expression,
            "ExpressionAttributeNames": {f"#{name}": name for name in names},
            "ExpressionAttributeValues": _serialize(values),
            "ScanIndexForward": False,
        }

    def _call(self, operation: str, **request) -> dict:
        """One DynamoDB call on the table. Its failures become StoreError, except a ConditionalCheckFailed, which the
        conditional writes interpret themselves."""
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            if code == "ResourceNotFoundException":
                raise StoreError(f"the review table {self.table_name} does not exist") from error
            # The code only: a message can quote the request's values.
            raise StoreError(f"the review table {self.table_name} failed: {code or 'unknown error'}") from error
        except BotoCoreError as error:  # connection, timeout, credentials
            raise StoreError(f"the review table {self.table_name} cannot be reached: {type(error).__name__}") from error


def _epoch_seconds(milliseconds: int) -> Decimal:
    return Decimal(milliseconds) / 1000  # exact: Decimal division keeps every digit


def _serialize(values: Mapping[str, Any]) -> dict:
    return {name: SERIALIZER.serialize(value) for name, value in values.items()}


def _dynamo_record(item: dict) -> dict:
    """An item as stored: numbers as Decimal (DynamoDB has no floats), expires_at in epoch seconds (the TTL
    attribute), the index key `created_key`, and no attribute for a None."""
    record = {name: value for name, value in item.items() if value is not None}
    record["scores"] = _decimals(item["scores"])
    record["thresholds"] = {kind: _decimals(values) for kind, values in item["thresholds"].items()}
    record[TTL_ATTRIBUTE] = _epoch_seconds(_ms_from_iso(item["expires_at"]))
    record[INDEX_RANGE_KEY] = f"{item['created_at']}#{item['id']}"
    return _serialize(record)


def _decimals(numbers: Mapping[str, float | None]) -> dict[str, Decimal | None]:
    return {name: None if value is None else Decimal(repr(float(value))) for name, value in numbers.items()}


def _floats(numbers: Mapping[str, Decimal | None]) -> dict[str, float | None]:
    return {name: None if value is None else float(value) for name, value in numbers.items()}


def _item_from_dynamo(raw: dict) -> dict:
    record = {name: DESERIALIZER.deserialize(value) for name, value in raw.items()}
    record["scores"] = _floats(record["scores"])
    record["thresholds"] = {kind: _floats(values) for kind, values in record["thresholds"].items()}
    record[TTL_ATTRIBUTE] = _iso_from_ms(int(record[TTL_ATTRIBUTE] * 1000))
    return {field: record.get(field) for field in ITEM_FIELDS}


def _unexpired(item: dict) -> dict | None:
    return item if _ms_from_iso(item["expires_at"]) > _now_ms() else None
