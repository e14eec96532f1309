"""`toxiguard export-decisions`: decided review items -> training rows that `toxiguard train --extra` reads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from toxiguard.cli import main
from toxiguard.config import LABELS
from toxiguard.lambda_functions import REVIEW_STORE_FILE, load_handler
from toxiguard.training.data import LabelledData, add_extra_rows, load_labelled

review_store = load_handler({}, REVIEW_STORE_FILE)
REVIEW = dict.fromkeys(LABELS, 0.5)
BLOCK = {**dict.fromkeys(LABELS), "toxic": 0.95, "identity_hate": 0.9}
DECIDED_AT = "2026-12-08T10:00:00.000+00:00"


def item(text: str, action: str, labels: list[str], review=REVIEW, **scores: float) -> dict:
    return review_store.new_item(
        text, ref=None, scores={**dict.fromkeys(LABELS, 0.01), **scores}, labels=labels, action=action,
        thresholds={"review": review, "block": BLOCK}, model_version="20261207T153321Z-cf30c1c", now=time.time(),
    )  # fmt: skip


@pytest.fixture
def sqlite_queue(tmp_path):
    db = tmp_path / "data" / "reviews.sqlite3"
    return ["--db", str(db)], review_store.open_store({"REVIEWS_DB": str(db)})


@pytest.fixture
def dynamodb_queue(monkeypatch):
    """moto's DynamoDB with the review table, created from the store module's definition; nothing reaches AWS."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="toxiguard-reviews", BillingMode="PAY_PER_REQUEST", **review_store.TABLE_DEFINITION
        )
        yield ["--table", "toxiguard-reviews"], review_store.open_store({"REVIEWS_TABLE": "toxiguard-reviews"})


@pytest.fixture(params=["sqlite_queue", "dynamodb_queue"])
def queue(request):
    """A review queue (SQLite, as the local stack keeps it, or DynamoDB, as on AWS) with one item of each kind; returns
    the options that name it and the items by name."""
    store_options, store = request.getfixturevalue(request.param)
    items = {
        "removed": item("you are an idiot", "review", ["toxic", "insult"], toxic=0.8, insult=0.7),
        "approved": item("I had pineapple for lunch", "review", ["toxic"], toxic=0.6),
        "pending": item("still waiting", "review", ["toxic"], toxic=0.55),
        # Blocked with no flagged label: its request raised the review thresholds above the block threshold.
        "blocked": item("those people are vermin", "block", [], review=dict.fromkeys(LABELS, 0.99), identity_hate=0.97),
    }
    store.put_items(list(items.values()))
    for name, decision in (("removed", "remove"), ("approved", "approve"), ("blocked", "remove")):
        store.decide(items[name]["id"], decision, decided_by="moderator", note=None, decided_at=DECIDED_AT)
    return store_options, items


def test_decisions_round_trip_from_the_store_to_the_training_rows(queue, tmp_path, capsys):
    store_options, items = queue
    out = tmp_path / "decisions.csv"
    assert main(["export-decisions", *store_options, "--out", str(out)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {"out": str(out), "rows": 3, "removed": 2, "approved": 1, "pending_skipped": 1}

    rows = load_labelled(out)  # what `train --extra` reads, with its checks
    by_id = {
        row_id: dict(zip(LABELS, row.tolist(), strict=True)) for row_id, row in zip(rows.ids, rows.labels, strict=True)
    }
    assert set(by_id) == {f"review-{items[name]['id']}" for name in ("removed", "approved", "blocked")}
    assert by_id[f"review-{items['removed']['id']}"] == {**dict.fromkeys(LABELS, 0), "toxic": 1, "insult": 1}
    assert by_id[f"review-{items['approved']['id']}"] == dict.fromkeys(LABELS, 0)
    assert by_id[f"review-{items['blocked']['id']}"] == {**dict.fromkeys(LABELS, 0), "identity_hate": 1}
    assert "I had pineapple for lunch" in rows.texts and "still waiting" not in rows.texts

    base = LabelledData("train.csv", "0" * 64, ["a1"], ["a comment"], np.zeros((1, len(LABELS)), np.uint8))
    merged, (extra,) = add_extra_rows(base, base.subset(np.array([], dtype=int)), [out])
    assert len(merged) == 4 and (extra["rows"], extra["added"]) == (3, 3)


def test_the_default_store_is_the_local_stacks_and_an_existing_file_is_kept_unless_forced(
    sqlite_queue, tmp_path, capsys, monkeypatch
):
    (_, db), store = sqlite_queue
    store.put_items([item("you are an idiot", "review", ["toxic"], toxic=0.8)])
    monkeypatch.setenv("TOXIGUARD_DATA_DIR", str(Path(db).parent))
    monkeypatch.delenv("REVIEWS_DB", raising=False)
    out = tmp_path / "decisions.csv"
    out.write_text("keep me")
    assert main(["export-decisions", "--out", str(out)]) == 1
    assert "decisions.csv exists: pass --force" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["export-decisions", "--out", str(out), "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["pending_skipped"] == 1
    assert out.read_text() == "id,comment_text," + ",".join(LABELS) + "\n"  # nothing decided yet: the header alone


def test_a_missing_store_is_named_and_not_created(tmp_path, capsys):
    db = tmp_path / "nowhere" / "reviews.sqlite3"
    assert main(["export-decisions", "--db", str(db), "--out", str(tmp_path / "decisions.csv")]) == 1
    assert f"{db}: no review store there" in capsys.readouterr().err
    assert not db.parent.exists() and not (tmp_path / "decisions.csv").exists()
