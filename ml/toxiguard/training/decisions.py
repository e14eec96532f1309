"""Moderators' decisions as training rows: `toxiguard export-decisions` writes the decided items of the review store
(`lambda/review_store.py`, loaded by file as the local gateway loads the API's functions) in the training file's
format, for `toxiguard train --extra`.

A removed comment gets 1 for the labels it was queued for and 0 for the others: the moderator confirmed the model,
but said nothing about the labels it did not raise. An approved comment gets 0 everywhere: it was a false positive.
Pending items are skipped (nobody has decided them), and so are expired ones, which the store no longer returns:
export more often than REVIEWS_TTL_DAYS. Row ids are `review-<item id>`, so a later export of the same item replaces
its row (`add_extra_rows`) and none collides with a Jigsaw id. Standard library only; the store module needs boto3
(and `cryptography` for the local SQLite store).
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toxiguard.artifact import is_flagged
from toxiguard.config import ID_COLUMN, LABELS, TEXT_COLUMN
from toxiguard.lambda_functions import REVIEW_STORE_FILE, load_handler

log = logging.getLogger(__name__)

EXPORTED_STATUSES = ("removed", "approved")
ROW_ID_PREFIX = "review-"
PAGE_SIZE = 100  # the review API's largest page


def open_review_store(db: Path | None = None, table: str | None = None):
    """(the store module, its store): the DynamoDB table `table`, else the SQLite file `db`, which must exist (opening
    creates a missing one, and an empty queue there would only hide a wrong path)."""
    try:
        module = load_handler({}, REVIEW_STORE_FILE)
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"the review store needs {exc.name}: install toxiguard's serving extra (pip install '.[serving]')"
        ) from None
    if table:
        return module, module.open_store({"REVIEWS_TABLE": table})
    if not Path(db).is_file():
        raise FileNotFoundError(f"{db}: no review store there (the local stack makes it; pass --db or --table)")
    return module, module.open_store({"REVIEWS_DB": str(db)})


def decided_items(store) -> Iterator[dict]:
    """Every unexpired removed or approved item, page by page, newest first per status."""
    for status in EXPORTED_STATUSES:
        cursor = None
        while True:
            items, cursor = store.list_items(status=status, limit=PAGE_SIZE, cursor=cursor)
            yield from items
            if cursor is None:
                break


def queued_labels(item: dict) -> set[str]:
    """The labels an item was queued for: the flagged ones, and any whose score reached its block threshold (a request
    may raise the review thresholds above the block thresholds, so a blocked item can have no flagged label)."""
    block = item["thresholds"]["block"]
    reached = {
        label for label, limit in block.items() if limit is not None and is_flagged(item["scores"][label], limit)
    }
    return set(item["labels"]) | reached


def training_row(item: dict) -> list[str]:
    """A decided item as a row of the training file: removed -> its queued labels 1, approved -> all 0."""
    positive = queued_labels(item) if item["status"] == "removed" else set()
    return [f"{ROW_ID_PREFIX}{item['id']}", item["text"], *("1" if label in positive else "0" for label in LABELS)]


def export_decisions(store_module, store, out: Path, overwrite: bool = False) -> dict:
    """Write the store's decided items to `out` (oldest first, so the file reads in the order things happened) and
    return the counts. The file appears complete or not at all; an existing one is kept unless `overwrite`."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists: pass --force to overwrite it")
    try:
        items = sorted(decided_items(store), key=lambda item: (item["created_at"], item["id"]))
        pending = store.count_items()["pending"]
    except store_module.StoreError as exc:
        raise RuntimeError(f"reading the review store failed: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    # Comment text: readable by the owner alone, like the store it comes from.
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow([ID_COLUMN, TEXT_COLUMN, *LABELS])
            writer.writerows(training_row(item) for item in items)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    counts = {status: sum(item["status"] == status for item in items) for status in EXPORTED_STATUSES}
    summary = {"out": str(out), "rows": len(items), **counts, "pending_skipped": pending}
    log.info("exported %d decisions (%d removed, %d approved) to %s; %d pending skipped", len(items),
             counts["removed"], counts["approved"], out, pending)  # fmt: skip
    return summary
