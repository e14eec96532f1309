"""Review queue benchmark: what storing review items costs scoring, whether any are lost, and how fast the queue pages.

Starts `toxiguard serve` twice on free loopback ports, the shipped model with micro-batching in both: one storing
review and block results in its SQLite review store (REVIEWS_STORE_DEFAULT=true, a fresh REVIEWS_DB), one not (the
baseline). Then, all through HTTP on 127.0.0.1:

1. latency of one comment end to end at concurrency 1, in rounds that alternate the two stacks' order;
2. 10,000 scored comments (concurrency 8, each with its own `ref`) on the storing stack: every result the policy
   sends to review or block must come back with a `review_id`, and every such id must be in the queue afterwards
   (lost items), with no failed requests (errors);
3. the queue topped up to 10,000 pending items (requests of 64 comments), then listed to the end 100 items a page,
   each page timed, unfiltered and filtered by label.

Every phase is bounded in requests and seconds. Comments are real ones from the shared data (a seeded sample; their
text is never written out), or the project's fixture when the data is absent. Writes bench/results/reviews.json.

    python bench/review_bench.py [--data ../shared/data/jigsaw/train_assembled.csv.gz] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from serving_bench import Stack, load_comments, run_load, summarize

from toxiguard.artifact import latest_artifact, read_manifest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "reviews.json"
TARGETS = {"stored_single_p50_ms_max": 6.0, "unstored_single_p50_ms_max": 5.0, "lost_items": 0, "errors": 0,
           "page_ms_max": 50.0}  # fmt: skip
ROUNDS = 3
LATENCY_REQUESTS = 3000  # per stack, over all rounds
SCORED_COMMENTS = 10_000
QUEUE_ITEMS = 10_000
PAGE_SIZE = 100
BATCH_TEXTS = 64
MAX_PHASE_SECONDS = 300


class Client:
    """One keep-alive HTTP connection to a stack's gateway, JSON in and out."""

    def __init__(self, stack: Stack):
        host, port = stack.url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = stack.headers

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.connection.request(method, path, None if body is None else json.dumps(body).encode(), self.headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def close(self) -> None:
        self.connection.close()


def latency(stacks: dict[str, Stack], comments: list[str], quick: bool) -> dict:
    bodies = [json.dumps({"text": comment}).encode() for comment in comments]
    for stack in stacks.values():
        run_load(stack, bodies[:200], 1, 30)  # warm-up: connections, traced functions, the database file
    per_round = int(LATENCY_REQUESTS * (0.2 if quick else 1.0) / ROUNDS)
    raw: dict[str, list[dict]] = {name: [] for name in stacks}
    for round_index in range(ROUNDS):
        chosen = [bodies[(round_index * per_round + i) % len(bodies)] for i in range(per_round)]
        for name in list(stacks)[:: 1 if round_index % 2 == 0 else -1]:
            raw[name].append(run_load(stacks[name], chosen, 1, MAX_PHASE_SECONDS))
        print(f"  latency round {round_index + 1} of {ROUNDS} done")
    return {name: summarize(rounds, 1, 1) for name, rounds in raw.items()}


def score_and_check(stack: Stack, comments: list[str], count: int, concurrency: int = 8) -> dict:
    """Score `count` comments one per request with refs; every queued result's review_id must be listed after."""
    queued_ids: set[str] = set()
    actions = {"allow": 0, "review": 0, "block": 0}
    errors: dict[str, int] = {}
    unstored = 0
    next_index = iter(range(count))
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_PHASE_SECONDS

    def worker() -> None:
        nonlocal unstored
        client = Client(stack)
        while time.monotonic() < deadline:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            body = {"text": comments[index % len(comments)], "ref": f"bench-{index}"}
            try:
                status, answer = client.call("POST", "/v1/moderate", body)
            except (OSError, http.client.HTTPException) as error:
                status, answer = type(error).__name__, {}
                client.close()
                client = Client(stack)
            with lock:
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    continue
                (result,) = answer["results"]
                actions[result["action"]] += 1
                if result["action"] != "allow":
                    if "review_id" in result and answer.get("stored"):
                        queued_ids.add(result["review_id"])
                    else:
                        unstored += 1
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    listed = {item["id"] for page in list_pages(stack, {"status": "pending"})[0] for item in page}
    scored = sum(actions.values())
    return {
        "comments": scored,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "comments_per_second": round(scored / seconds, 1),
        "actions": actions,
        "queued_share": round((actions["review"] + actions["block"]) / max(scored, 1), 4),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "not_stored": unstored,
        "lost_items": unstored + len(queued_ids - listed),
    }


def fill_queue(stack: Stack, comments: list[str], items: int) -> dict:
    """Score requests of BATCH_TEXTS comments until the queue holds `items` pending items (or the time is up)."""
    client = Client(stack)
    started, sent, offset = time.perf_counter(), 0, 0
    deadline = time.monotonic() + MAX_PHASE_SECONDS
    pending = client.call("GET", "/v1/reviews?limit=1")[1]["counts"]["pending"]
    while pending < items and time.monotonic() < deadline:
        texts = [comments[(offset + i) % len(comments)] for i in range(BATCH_TEXTS)]
        status, answer = client.call("POST", "/v1/moderate", {"texts": texts})
        if status != 200:
            raise RuntimeError(f"filling the queue: HTTP {status} {answer}")
        offset, sent = offset + BATCH_TEXTS, sent + BATCH_TEXTS
        pending += sum("review_id" in result for result in answer["results"])
    client.close()
    return {"comments": sent, "pending_items": pending, "seconds": round(time.perf_counter() - started, 3)}


def list_pages(stack: Stack, query: dict[str, str]) -> tuple[list[list[dict]], list[float]]:
    """Every page of the queue for `query`, PAGE_SIZE items a page, and each page's round trip in ms."""
    client = Client(stack)
    pages, milliseconds, cursor = [], [], None
    deadline = time.monotonic() + MAX_PHASE_SECONDS
    while time.monotonic() < deadline:
        parameters = {**query, "limit": str(PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
        started = time.perf_counter()
        status, page = client.call("GET", f"/v1/reviews?{urlencode(parameters)}")
        milliseconds.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"listing the queue: HTTP {status} {page}")
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    client.close()
    return pages, milliseconds


def paging(stack: Stack) -> dict:
    results = {}
    for name, query in {"pending": {"status": "pending"}, "pending_threat": {"status": "pending", "label": "threat"},
                        "pending_block": {"status": "pending", "action": "block"}}.items():  # fmt: skip
        pages, milliseconds = list_pages(stack, query)
        ms = np.array(milliseconds)
        results[name] = {
            "items": sum(len(page) for page in pages),
            "pages": len(pages),
            "page_p50_ms": round(float(np.percentile(ms, 50)), 3),
            "page_p99_ms": round(float(np.percentile(ms, 99)), 3),
            "page_max_ms": round(float(ms.max()), 3),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "jigsaw" / "train_assembled.csv.gz"
    )
    parser.add_argument("--quick", action="store_true", help="a fifth of the requests (smoke run)")
    args = parser.parse_args()
    comments = load_comments(args.data, 60_000)
    shipped = latest_artifact()
    scored = SCORED_COMMENTS // 5 if args.quick else SCORED_COMMENTS
    queue_items = QUEUE_ITEMS // 5 if args.quick else QUEUE_ITEMS
    with tempfile.TemporaryDirectory(prefix="toxiguard-review-bench-") as data_dir:
        reviews_db = Path(data_dir) / "reviews.sqlite3"
        stacks: dict[str, Stack] = {}
        try:
            print(f"starting the local stack with {shipped.name}, storing review items in {reviews_db}")
            stacks["store_on"] = Stack(shipped, True, REVIEWS_STORE_DEFAULT="true", REVIEWS_DB=str(reviews_db))
            print("starting the same stack without storing (the baseline)")
            stacks["store_off"] = Stack(shipped, True, REVIEWS_STORE_DEFAULT="false", REVIEWS_DB=str(reviews_db))
            single = latency(stacks, comments, args.quick)
            print(f"scoring {scored} comments with storing on")
            volume = score_and_check(stacks["store_on"], comments, scored)
            print(f"filling the queue to {queue_items} pending items")
            filled = fill_queue(stacks["store_on"], comments, queue_items)
            print("listing the queue")
            pages = paging(stacks["store_on"])
        finally:
            for stack in stacks.values():
                stack.close()

    page_max = max(listing["page_p99_ms"] for listing in pages.values())
    results = {
        "benchmark": "reviews",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "path": "http.client -> gateway -> Lambda functions -> model server / SQLite review store, all on 127.0.0.1",
        "model_version": read_manifest(shipped)["version"],
        "rounds": ROUNDS,
        "comments": {"source": args.data.name if args.data.exists() else "train_small.csv"},
        "single_comment_concurrency_1": single,
        "ratios": {
            "store_on_vs_off_single_p50": round(single["store_on"]["p50_ms"] / single["store_off"]["p50_ms"], 3)
        },
        "scored_with_store": volume,
        "queue_fill": filled,
        "queue_paging": pages,
        "targets": TARGETS,
        "targets_met": {
            "stored_single_p50_ms_max": single["store_on"]["p50_ms"] <= TARGETS["stored_single_p50_ms_max"],
            "unstored_single_p50_ms_max": single["store_off"]["p50_ms"] <= TARGETS["unstored_single_p50_ms_max"],
            "lost_items": volume["lost_items"] == TARGETS["lost_items"],
            "errors": volume["errors"] + sum(run["errors"] for run in single.values()) == TARGETS["errors"],
            "page_ms_max": page_max <= TARGETS["page_ms_max"],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"targets_met": results["targets_met"], "ratios": results["ratios"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
