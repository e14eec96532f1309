"""The review store's contract (lambda/review_store.py), run against both implementations: SQLite on a temporary file
and DynamoDB in moto, its table created from the module's TABLE_DEFINITION (what Terraform declares).

The tests marked for one store check what only it has: SQLite's encryption at rest, file modes, WAL and threads;
DynamoDB's stored shape (the TTL attribute) and its fallback when a failed condition returns no item.
"""

import base64
import json
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

import review_store
from review_store import DecisionConflict, DynamoReviewStore, ReviewNotFound, SqliteReviewStore, StoreError

REGION = "us-east-1"
TABLE_NAME = "toxiguard-test-reviews"
LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
# Floats that must come back exactly (DynamoDB stores them as decimal numbers).
SCORES = {"toxic": 0.91, "severe_toxic": 0.000123, "obscene": 0.5, "threat": 1e-07, "insult": 1 / 3, "identity_hate": 0}
# What the scoring applied: nulls (labels that never block) and floats must both round-trip.
THRESHOLDS = {
    "review": dict.fromkeys(SCORES, 0.4) | {"threat": 1 / 3},
    "block": dict.fromkeys(SCORES) | {"toxic": 0.95},
}
START = time.time() - 86_400  # the tests' items were created from a day ago on, so a 30-day TTL keeps them
DAY = 86_400
DECIDED_AT = "2026-12-07T21:00:00.000+00:00"
MODERATOR = {"decided_by": "mod-1", "note": "reads as a joke between friends", "decided_at": DECIDED_AT}


def make_item(text="you are wrong", *, seconds=0.0, labels=("toxic",), action="review", ref=None, ttl_days=30):
    """A review item created `seconds` after START."""
    return review_store.new_item(
        text, ref=ref, scores=SCORES, thresholds=THRESHOLDS, labels=list(labels), action=action,
        model_version="test-model", now=START + seconds, ttl_days=ttl_days,
    )  # fmt: skip


def expired_item(text="old news"):
    """An item whose one-day TTL ran out a day ago."""
    return review_store.new_item(
        text, ref=None, scores=SCORES, thresholds=THRESHOLDS, labels=["insult"], action="review",
        model_version="test-model", now=time.time() - 2 * DAY, ttl_days=1,
    )  # fmt: skip


def ids(items):
    return [item["id"] for item in items]


def newest_first(items):
    return sorted(items, key=lambda item: (item["created_at"], item["id"]), reverse=True)


def all_pages(store, limit, **filters):
    """Every page of a list, checking that only the last has no cursor."""
    pages, cursor = [], None
    while True:
        page, cursor = store.list_items(limit=limit, cursor=cursor, **filters)
        pages.append(page)
        if cursor is None:
            return pages
        assert len(page) == limit


# --- Stores -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_store(tmp_path):
    return SqliteReviewStore(tmp_path / "reviews.sqlite3")


@pytest.fixture
def dynamodb(monkeypatch):
    """moto's DynamoDB with the review table; nothing can reach AWS."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(TableName=TABLE_NAME, BillingMode="PAY_PER_REQUEST", **review_store.TABLE_DEFINITION)
        client.update_time_to_live(
            TableName=TABLE_NAME,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": review_store.TTL_ATTRIBUTE},
        )
        yield client


@pytest.fixture
def dynamo_store(dynamodb):
    return DynamoReviewStore(TABLE_NAME, dynamodb)


@pytest.fixture(params=["sqlite_store", "dynamo_store"])
def store(request):
    return request.getfixturevalue(request.param)


# --- Items in, items out ----------------------------------------------------------------------------------------------
def test_items_come_back_as_they_went_in(store):
    items = [
        make_item("Ünïcödé 🚫 مرحبا 日本語 e\u0301 \u200d👩\u200d💻\nzweite Zeile", ref="post-1"),
        make_item("x" * 4999 + "é", seconds=1),
        make_item("no reference", seconds=2, labels=("toxic", "insult"), action="block"),
    ]
    store.put_items(items)
    for item in items:
        assert store.get_item(item["id"]) == item
    assert store.list_items()[0] == newest_first(items)


def test_new_items_have_the_documented_shape():
    item = make_item(ref="r-1")
    assert tuple(item) == review_store.ITEM_FIELDS
    assert len(item["id"]) == 32 and int(item["id"], 16) >= 0
    assert item["status"] == "pending" and item["decided_by"] is item["decided_at"] is item["note"] is None
    created = review_store._ms_from_iso(item["created_at"])
    assert review_store._ms_from_iso(item["expires_at"]) == (created // 1000 + 30 * DAY) * 1000
    with pytest.raises(ValueError, match="actions"):
        make_item(action="allow")
    with pytest.raises(ValueError, match="ttl_days"):
        make_item(ttl_days=366)


def test_list_is_newest_first_and_ties_go_by_id(store):
    items = [make_item(seconds=seconds) for seconds in (5, 1, 3, 3, 3, 0)]
    store.put_items(items)
    page, cursor = store.list_items()
    assert ids(page) == ids(newest_first(items)) and cursor is None
    same_time = [item for item in page if item["created_at"] == items[2]["created_at"]]
    assert ids(same_time) == sorted(ids(same_time), reverse=True)


def test_pages_cover_every_item_once(store):
    items = [make_item(seconds=index // 3) for index in range(250)]  # some share a timestamp
    store.put_items(items)
    pages = all_pages(store, limit=100)
    assert [len(page) for page in pages] == [100, 100, 50]
    assert [item["id"] for page in pages for item in page] == ids(newest_first(items))


@pytest.mark.parametrize("count", [3, 4])
def test_a_full_last_page_has_no_cursor(store, count):
    store.put_items([make_item(seconds=index) for index in range(count)])
    assert [len(page) for page in all_pages(store, limit=2)] == [2] * (count // 2) + [1] * (count % 2)


def test_items_added_while_paging_do_not_shift_pages(store):
    old = [make_item(seconds=index) for index in range(5)]
    store.put_items(old)
    first, cursor = store.list_items(limit=2)
    store.put_items([make_item(seconds=100)])
    rest = store.list_items(limit=10, cursor=cursor)[0]
    assert ids(first + rest) == ids(newest_first(old))


def test_label_and_action_filters_page(store):
    label_sets = [("toxic",), ("severe_toxic",), ("toxic", "threat"), ("insult", "threat"), ("obscene",)]
    items = [
        make_item(seconds=index, labels=label_sets[index % 5], action=("block" if index % 3 == 0 else "review"))
        for index in range(40)
    ]
    store.put_items(items)
    cases = [{"label": "threat"}, {"label": "toxic"}, {"action": "block"}, {"label": "threat", "action": "block"}]
    for filters in cases:
        label, action = filters.get("label"), filters.get("action")
        expected = [
            item for item in newest_first(items)
            if label in (None, *item["labels"]) and action in (None, item["action"])
        ]  # fmt: skip
        found = [item for page in all_pages(store, limit=3, **filters) for item in page]
        assert ids(found) == ids(expected), filters
    # A label matches whole: "toxic" is not part of "severe_toxic", and an unknown label matches nothing.
    assert not any("severe_toxic" in item["labels"] and "toxic" not in item["labels"] for item in found)
    assert store.list_items(label="tox") == ([], None)


def test_status_filter_and_counts(store):
    items = [make_item(seconds=index) for index in range(6)]
    store.put_items([*items, expired_item()])
    for item, decision in zip(items[:3], ("approve", "remove", "remove"), strict=True):
        store.decide(item["id"], decision, **MODERATOR)
    assert store.count_items() == {"pending": 3, "approved": 1, "removed": 2}
    assert ids(store.list_items(status="removed")[0]) == ids(newest_first(items[1:3]))
    assert ids(store.list_items(status="approved")[0]) == [items[0]["id"]]
    assert ids(store.list_items()[0]) == ids(newest_first(items[3:]))


def test_an_empty_store_counts_zero(store):
    assert store.count_items() == {"pending": 0, "approved": 0, "removed": 0}
    assert store.list_items() == ([], None)


# --- Decisions --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("decision", "status"), [("approve", "approved"), ("remove", "removed")])
def test_a_decision_records_who_when_and_why(store, decision, status):
    item = make_item()
    store.put_items([item])
    decided = store.decide(item["id"], decision, **MODERATOR)
    assert decided == {**item, "status": status, **MODERATOR}
    assert store.get_item(item["id"]) == decided


def test_a_decision_without_a_note(store):
    item = make_item()
    store.put_items([item])
    decided = store.decide(item["id"], "approve", decided_by="mod-2", note=None, decided_at=DECIDED_AT)
    assert decided["note"] is None and decided["decided_by"] == "mod-2"


def test_a_second_decision_conflicts_and_shows_the_first(store):
    item = make_item()
    store.put_items([item])
    first = store.decide(item["id"], "remove", **MODERATOR)
    with pytest.raises(DecisionConflict) as conflict:
        store.decide(item["id"], "approve", decided_by="mod-2", note=None, decided_at="2026-12-07T22:00:00.000+00:00")
    assert conflict.value.code == "decision_conflict"
    assert conflict.value.item == first == store.get_item(item["id"])


@pytest.mark.parametrize("item_id", ["0" * 32, "not-an-id", "", "A" * 32])
def test_unknown_ids_are_not_found(store, item_id):
    store.put_items([make_item()])
    with pytest.raises(ReviewNotFound) as missing:
        store.get_item(item_id)
    assert missing.value.code == "review_not_found"
    with pytest.raises(ReviewNotFound):
        store.decide(item_id, "approve", **MODERATOR)


def test_expired_items_are_invisible(store):
    old, current = expired_item(), make_item()
    store.put_items([old, current])
    with pytest.raises(ReviewNotFound):
        store.get_item(old["id"])
    with pytest.raises(ReviewNotFound):
        store.decide(old["id"], "remove", **MODERATOR)
    assert ids(store.list_items(label="insult")[0]) == [] and ids(store.list_items()[0]) == [current["id"]]
    assert store.count_items()["pending"] == 1


# --- Arguments the store refuses --------------------------------------------------------------------------------------
def cursor_of(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_CURSORS = {
    "empty": "",
    "not base64url": "not base64!",
    "truncated": "a",
    "a JSON string": cursor_of("just a string"),
    "a JSON array": cursor_of([DECIDED_AT, "0" * 32]),
    "no id": cursor_of({"created_at": DECIDED_AT}),
    "another time format": cursor_of({"created_at": "2026-12-07 20:44:47", "id": "0" * 32}),
    "an id that is no id": cursor_of({"created_at": DECIDED_AT, "id": "' OR 1=1 --"}),
    "an extra key": cursor_of({"created_at": DECIDED_AT, "id": "0" * 32, "status": "approved"}),
    "not UTF-8": base64.urlsafe_b64encode(b"\xff\xfe{").decode().rstrip("="),
    "too long": "A" * 600,
}


@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS)
def test_a_cursor_it_did_not_write_is_a_value_error(store, cursor):
    with pytest.raises(ValueError, match="cursor"):
        store.list_items(cursor=cursor)


@pytest.mark.parametrize(
    "arguments", [{"status": "deleted"}, {"action": "allow"}, {"limit": 0}, {"limit": True}, {"limit": "10"}]
)
def test_list_arguments_are_checked(store, arguments):
    with pytest.raises(ValueError):
        store.list_items(**arguments)


def test_decisions_and_timestamps_are_checked(store):
    item = make_item()
    store.put_items([item])
    with pytest.raises(ValueError, match="decision"):
        store.decide(item["id"], "approved", **MODERATOR)
    with pytest.raises(ValueError, match="ISO 8601"):
        store.decide(item["id"], "approve", **{**MODERATOR, "decided_at": "2026-12-07T21:00:00Z"})
    assert store.get_item(item["id"])["status"] == "pending"


@pytest.mark.parametrize(
    "change",
    [
        {"status": "approved"},
        {"action": "allow"},
        {"id": "not-hex"},
        {"created_at": "2026-12-07T20:44:47+02:00"},
        {"surprise": True},
    ],
)
def test_a_malformed_item_stores_nothing(store, change):
    good = make_item()
    with pytest.raises(ValueError):
        store.put_items([good, {**make_item(), **change}])
    assert store.count_items()["pending"] == 0


def test_a_failed_put_says_which_items_were_stored(store):
    """DynamoDB writes item by item, SQLite all or nothing; either way `stored_ids` tells which ones are there."""
    existing = make_item()
    store.put_items([existing])
    batch = [make_item(seconds=1), {**make_item(seconds=2), "id": existing["id"]}, make_item(seconds=3)]
    with pytest.raises(StoreError) as failure:
        store.put_items(batch)
    assert type(failure.value) is StoreError and failure.value.code == "review_store_unavailable"
    for item in (batch[0], batch[2]):
        if item["id"] in failure.value.stored_ids:
            assert store.get_item(item["id"]) == item
        else:
            with pytest.raises(ReviewNotFound):
                store.get_item(item["id"])
    assert store.get_item(existing["id"]) == existing


# --- Store failures ---------------------------------------------------------------------------------------------------
STORE_CALLS = {
    "put_items": lambda store: store.put_items([make_item("a secret comment")]),
    "get_item": lambda store: store.get_item("0" * 32),
    "list_items": lambda store: store.list_items(label="toxic"),
    "count_items": lambda store: store.count_items(),
    "decide": lambda store: store.decide("0" * 32, "approve", **MODERATOR),
}


@pytest.mark.parametrize("call", STORE_CALLS.values(), ids=STORE_CALLS)
def test_a_missing_table_is_a_store_error(dynamodb, call):
    with pytest.raises(StoreError) as failure:
        call(DynamoReviewStore("no-such-table", dynamodb))
    assert type(failure.value) is StoreError
    assert str(failure.value) == "the review table no-such-table does not exist"


def test_an_unreachable_table_is_a_store_error():
    client = boto3.client(
        "dynamodb", region_name=REGION, endpoint_url="http://127.0.0.1:9", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(connect_timeout=1, retries={"total_max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(StoreError, match="cannot be reached: EndpointConnectionError") as failure:
        DynamoReviewStore(TABLE_NAME, client).put_items([make_item("a secret comment")])
    assert "secret" not in str(failure.value)


def test_an_unusable_sqlite_path_is_a_store_error(tmp_path):
    (tmp_path / "a-file").write_text("not a database, " * 10)
    with pytest.raises(StoreError, match=r"the review database .*/a-file/reviews\.sqlite3 failed"):
        SqliteReviewStore(tmp_path / "a-file" / "reviews.sqlite3")
    with pytest.raises(StoreError, match="failed: file is not a database"):
        SqliteReviewStore(tmp_path / "a-file")


def test_a_key_file_without_a_key_is_a_store_error(tmp_path):
    (tmp_path / "reviews.sqlite3.key").write_text("not a key")
    with pytest.raises(StoreError, match=r"reviews\.sqlite3\.key does not hold a Fernet key"):
        SqliteReviewStore(tmp_path / "reviews.sqlite3")


def test_a_replaced_key_is_a_store_error_without_the_text(sqlite_store):
    item = make_item("a secret comment")
    sqlite_store.put_items([item])
    sqlite_store.key_path.unlink()
    reopened = SqliteReviewStore(sqlite_store.path)  # makes a new key: the old texts cannot be read with it
    with pytest.raises(StoreError, match="cannot be decrypted") as failure:
        reopened.get_item(item["id"])
    assert "secret" not in str(failure.value)


# --- SQLite only ------------------------------------------------------------------------------------------------------
def test_sqlite_encrypts_the_text_at_rest(sqlite_store):
    text = "a very distinctive comment 🚫 ünïcödé"
    sqlite_store.put_items([make_item(text)])
    files = [sqlite_store.path, sqlite_store.path.with_name(sqlite_store.path.name + "-wal")]
    raw = b"".join(path.read_bytes() for path in files if path.exists())
    assert b"distinctive" not in raw and text.encode() not in raw
    assert SqliteReviewStore(sqlite_store.path).list_items()[0][0]["text"] == text  # the key file is reused


def test_sqlite_files_are_private(tmp_path):
    store = SqliteReviewStore(tmp_path / "new" / "reviews.sqlite3")
    store.put_items([make_item()])
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    files = [store.path, store.key_path, *(store.path.with_name(store.path.name + end) for end in ("-wal", "-shm"))]
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}
    assert [path.name for path in store.path.parent.iterdir() if path not in files] == []  # no key drafts left


def test_sqlite_uses_write_ahead_logging(sqlite_store):
    with sqlite3.connect(sqlite_store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_one_of_many_simultaneous_decisions_wins(sqlite_store):
    item = make_item()
    sqlite_store.put_items([item])
    moderators = 8
    start = threading.Barrier(moderators)

    def decide(index):
        start.wait()
        decision = ("approve", "remove")[index % 2]
        try:
            return sqlite_store.decide(item["id"], decision, **{**MODERATOR, "decided_by": f"mod-{index}"})
        except DecisionConflict as conflict:
            return conflict

    with ThreadPoolExecutor(moderators) as pool:
        outcomes = list(pool.map(decide, range(moderators)))
    winners = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    assert len(winners) == 1
    assert all(outcome.item == winners[0] for outcome in outcomes if outcome is not winners[0])


def test_sqlite_threads_write_at_once(sqlite_store):
    """The local gateway's ten threads each store their request's items through their own connection."""
    batches = [[make_item(seconds=thread * 10 + index) for index in range(10)] for thread in range(10)]
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(sqlite_store.put_items, batches))
    assert sqlite_store.count_items()["pending"] == 100


def test_sqlite_purges_expired_rows_when_adding(sqlite_store):
    sqlite_store.put_items([expired_item()])
    sqlite_store.put_items([make_item()])
    with sqlite3.connect(sqlite_store.path) as connection:
        assert connection.execute("SELECT count(*) FROM review_items").fetchone() == (1,)


def test_sqlite_pages_a_long_queue_and_finds_a_rare_label(sqlite_store):
    """Keyset pages from the queue index, to the last; their speed is measured by `make bench`, not here."""
    items = [make_item(f"comment {index}", seconds=index, labels=("toxic",)) for index in range(2_000)]
    items[17] = make_item("rare", seconds=17, labels=("threat",))
    sqlite_store.put_items(items)
    pages = all_pages(sqlite_store, limit=100)
    assert len(pages) == 20 and [item["id"] for page in pages for item in page] == ids(newest_first(items))
    assert ids(sqlite_store.list_items(label="threat")[0]) == [items[17]["id"]]


# --- DynamoDB only ----------------------------------------------------------------------------------------------------
def test_dynamodb_stores_the_ttl_attribute_as_epoch_seconds(dynamo_store, dynamodb):
    item = make_item()
    dynamo_store.put_items([item])
    record = dynamodb.get_item(TableName=TABLE_NAME, Key={"id": {"S": item["id"]}})["Item"]
    expires = review_store._ms_from_iso(item["expires_at"]) // 1000
    assert record["expires_at"] == {"N": str(expires)}
    assert record["created_key"] == {"S": f"{item['created_at']}#{item['id']}"}
    assert "ref" not in record and "note" not in record  # no attribute for a None


def test_dynamodb_reads_the_item_when_a_failed_condition_returns_none(dynamo_store, monkeypatch):
    """ReturnValuesOnConditionCheckFailure is recent; without it the store reads the item itself."""
    item = make_item()
    dynamo_store.put_items([item])
    first = dynamo_store.decide(item["id"], "approve", **MODERATOR)
    update_item = dynamo_store.client.update_item

    def without_item(**request):
        try:
            return update_item(**request)
        except ClientError as error:
            error.response.pop("Item", None)
            raise

    monkeypatch.setattr(dynamo_store.client, "update_item", without_item)
    with pytest.raises(DecisionConflict) as conflict:
        dynamo_store.decide(item["id"], "remove", **MODERATOR)
    assert conflict.value.item == first
    with pytest.raises(ReviewNotFound):
        dynamo_store.decide("0" * 32, "remove", **MODERATOR)


# --- Configuration ----------------------------------------------------------------------------------------------------
def test_open_store_picks_the_store_from_the_environment(tmp_path, dynamodb):
    path = tmp_path / "reviews.sqlite3"
    assert review_store.open_store({}) is None
    assert review_store.open_store({"REVIEWS_TABLE": " ", "REVIEWS_DB": ""}) is None
    assert isinstance(review_store.open_store({"REVIEWS_DB": str(path)}), SqliteReviewStore)
    table_store = review_store.open_store({"REVIEWS_TABLE": TABLE_NAME, "REVIEWS_DB": str(path)})
    assert isinstance(table_store, DynamoReviewStore)
    assert table_store.count_items()["pending"] == 0  # its own client, made on first use, finds the table


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"REVIEWS_TABLE": "no spaces allowed"}, "REVIEWS_TABLE='no spaces allowed' is not a DynamoDB table name"),
        ({"REVIEWS_TABLE": "ab"}, "REVIEWS_TABLE="),
        ({"REVIEWS_DB": "{tmp}"}, "REVIEWS_DB=.* is a directory"),
    ],
)
def test_open_store_names_an_invalid_variable(tmp_path, environ, message):
    environ = {name: value.format(tmp=tmp_path) for name, value in environ.items()}
    with pytest.raises(ValueError, match=message):
        review_store.open_store(environ)


@pytest.mark.parametrize(("raw", "days"), [("", 30), (" 7 ", 7), ("1", 1), ("365", 365)])
def test_ttl_days_from_the_environment(raw, days):
    assert review_store.ttl_days_from({"REVIEWS_TTL_DAYS": raw}) == days


@pytest.mark.parametrize("raw", ["0", "366", "1.5", "-3", "seven", "١٢"])
def test_an_invalid_ttl_names_the_variable(raw):
    with pytest.raises(ValueError, match="REVIEWS_TTL_DAYS"):
        review_store.ttl_days_from({"REVIEWS_TTL_DAYS": raw})


def test_the_table_definition_matches_the_index_the_store_queries():
    index = review_store.TABLE_DEFINITION["GlobalSecondaryIndexes"][0]
    assert index["IndexName"] == review_store.INDEX_NAME == "status-created"
    assert [key["AttributeName"] for key in index["KeySchema"]] == ["status", "created_key"]
    assert review_store.TABLE_DEFINITION["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
