"""Batch Transform's requests scored in file order vs each window shortest text first (`toxiguard score --cloud`).

Writes `bench/results/transform.json`. Emulates the TF Serving container in process with the shipped model: a
shuffled sample of the training comments is staged by `transform_data.convert_csv` (in memory; no text is written
anywhere) with windows of one row (file order, as before sorting) and with the default windows, cut into requests as
MultiRecord fills them (records up to MaxPayloadInMB 1), and each request is scored with one call of the exported
signature, as TF Serving does. The two orders alternate over the rounds, so a background load slows both alike.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from toxiguard.config import DEFAULT_ARTIFACTS, DEFAULT_DATA, SEED, TEXT_COLUMN, configure_threads

configure_threads()

from toxiguard.artifact import latest_artifact  # noqa: E402
from toxiguard.cloud import transform_data  # noqa: E402
from toxiguard.serving.model import ServingModel, call_signature  # noqa: E402
from toxiguard.training.data import load_labelled  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MAX_PAYLOAD_MB = 1  # the job's MaxPayloadInMB
PAYLOAD_BYTES = transform_data.payload_limit_bytes(MAX_PAYLOAD_MB)


def requests(texts: list[str], window_rows: int) -> list[list[str]]:
    """The texts as the job's requests: staged by `convert_csv`, then as many whole records as fit the payload."""
    table = io.StringIO()
    csv.writer(table).writerows([[TEXT_COLUMN], *([text] for text in texts)])
    staging = io.BytesIO()
    transform_data.convert_csv(
        "sample.csv", io.BytesIO(table.getvalue().encode()), staging, staging_name="sample.jsonl",
        max_line_bytes=PAYLOAD_BYTES, window_rows=window_rows,
    )  # fmt: skip
    batches, batch, size = [], [], 0
    for record in staging.getvalue().splitlines(keepends=True):
        if size + len(record) > PAYLOAD_BYTES:
            batches.append(batch)
            batch, size = [], 0
        batch.append(json.loads(record)["text"])
        size += len(record)
    return [*batches, batch]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--artifact", type=Path, help="packaged model (default: newest under artifacts/)")
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the sample per order")
    parser.add_argument("--out", type=Path, default=RESULTS / "transform.json")
    args = parser.parse_args(argv)

    artifact = ServingModel(args.artifact or latest_artifact(DEFAULT_ARTIFACTS))
    texts = random.Random(SEED).sample(load_labelled(args.data).texts, args.comments)
    orders = {"arrival_order": 1, "window_sorted": transform_data.WINDOW_ROWS}
    staged = {order: requests(texts, window_rows) for order, window_rows in orders.items()}
    call_signature(artifact.serving_fn, staged["arrival_order"][0][:256])  # first-call costs, outside the timings
    seconds: dict[str, list[float]] = {order: [] for order in orders}
    for _ in range(args.rounds):
        for order, batches in staged.items():
            started = time.perf_counter()
            for batch in batches:
                call_signature(artifact.serving_fn, batch)
            seconds[order].append(time.perf_counter() - started)

    results = {
        "model_version": artifact.version,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "comments": len(texts),
        "sample": f"training comments shuffled with seed {SEED}",
        "window_rows": transform_data.WINDOW_ROWS,
        "max_payload_mb": MAX_PAYLOAD_MB,
        "rounds": args.rounds,
    }
    for order, batches in staged.items():
        sizes = [len(batch) for batch in batches]
        results[order] = {
            "requests": len(batches),
            "records_per_request": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)},
            "seconds": seconds[order],
            "comments_per_second": len(texts) / statistics.median(seconds[order]),
        }
    results["speedup"] = (
        results["window_sorted"]["comments_per_second"] / results["arrival_order"]["comments_per_second"]
    )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
