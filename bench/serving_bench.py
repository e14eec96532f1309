"""End-to-end serving benchmark: HTTP client -> local gateway -> Lambda handler -> boto3 -> local model server.

Starts `toxiguard serve` twice on free loopback ports, with micro-batching (the default) and without it (the
baseline), and measures in each: latency of one comment at concurrency 1, 8 and 32, and comments/s with requests
of 64 comments. Every phase is bounded in requests and in seconds. Comments are real ones from the shared data
(a seeded sample; their text is never written out), or the project's fixture when the data is absent.
Writes bench/results/serving.json.

    python bench/serving_bench.py [--data ../shared/data/jigsaw/train_assembled.csv.gz] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from toxiguard.artifact import latest_artifact, read_manifest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serving.json"
FIXTURE = ROOT / "tests" / "fixtures" / "train_small.csv"
READY = re.compile(r"web page\s+(http://\S+?)/?\s*$")
TARGETS = {"single_p50_ms_max": 5.0, "single_p99_ms_max": 20.0, "batch_comments_per_second_min": 3000, "errors": 0}


def load_comments(data: Path, count: int, seed: int = 7) -> list[str]:
    from toxiguard.training.data import load_labelled

    texts = list(load_labelled(data if data.exists() else FIXTURE).texts)
    random.Random(seed).shuffle(texts)
    # The API accepts at most 5,000 characters per comment; longer real comments are cut like a client would.
    return [t[:5000] for t in texts[:count]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """`toxiguard serve` in a child process (its own model server child included)."""

    def __init__(self, batching: bool):
        command = [sys.executable, "-m", "toxiguard.cli", "serve", "--port", str(free_port()),
                   "--model-port", str(free_port())]  # fmt: skip
        if not batching:
            command.append("--no-batching")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for line in self.process.stdout:
            match = READY.search(line)
            if match:
                self.url = match.group(1)
                threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
                return
        raise RuntimeError(f"toxiguard serve exited with {self.process.wait()}")

    def close(self) -> None:
        self.process.send_signal(2)  # SIGINT, as Ctrl-C: stops gateway and model server
        self.process.wait(timeout=30)


def run_load(url: str, bodies: list[bytes], concurrency: int, max_seconds: float) -> dict:
    """Send `bodies` from `concurrency` keep-alive connections; latency per request, errors, elapsed time."""
    host, port = url.removeprefix("http://").split(":")
    next_index = iter(range(len(bodies)))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < deadline:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/moderate", bodies[index], {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                if status == "200":
                    latencies.append(elapsed)
                else:
                    errors[status] = errors.get(status, 0) + 1
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": len(latencies) + sum(errors.values()),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 3) if len(ms) else None,
    }


def measure(stack: Stack, comments: list[str], quick: bool) -> dict:
    single = [json.dumps({"text": c}).encode() for c in comments]
    batches = [json.dumps({"texts": comments[i : i + 64]}).encode() for i in range(0, len(comments) - 63, 64)]
    run_load(stack.url, single[:200], 1, 30)  # warm-up: connections, traced functions
    scale = 0.2 if quick else 1.0
    result = {"single_comment": {}, "batch_64": {}}
    # 2,000 + 4,000 + 4,000 single-comment requests: the 10,000 the error target counts.
    for concurrency, count in ((1, 2000), (8, 4000), (32, 4000)):
        bodies = [single[i % len(single)] for i in range(int(count * scale))]
        result["single_comment"][f"concurrency_{concurrency}"] = run_load(stack.url, bodies, concurrency, 120)
        print(f"  one comment, concurrency {concurrency}: {result['single_comment'][f'concurrency_{concurrency}']}")
    for concurrency in (1, 2, 4):
        bodies = [batches[i % len(batches)] for i in range(int(160 * scale))]
        phase = run_load(stack.url, bodies, concurrency, 120)
        phase["comments_per_second"] = round(phase["requests_per_second"] * 64, 1)
        result["batch_64"][f"concurrency_{concurrency}"] = phase
        print(f"  64 comments per request, concurrency {concurrency}: {phase}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "jigsaw" / "train_assembled.csv.gz"
    )
    parser.add_argument("--quick", action="store_true", help="a fifth of the requests (smoke run)")
    args = parser.parse_args()
    comments = load_comments(args.data, 64 * 40)
    runs = {}
    for name, batching in (("micro_batching", True), ("no_batching_baseline", False)):
        print(f"{name}: starting the local stack")
        stack = Stack(batching)
        try:
            runs[name] = measure(stack, comments, args.quick)
        finally:
            stack.close()

    main_run = runs["micro_batching"]
    single_c1 = main_run["single_comment"]["concurrency_1"]
    best_batch = max(phase["comments_per_second"] for phase in main_run["batch_64"].values())
    errors = sum(phase["errors"] for run in runs.values() for kind in run.values() for phase in kind.values())
    baseline = runs["no_batching_baseline"]
    speedups = {
        "single_comment_concurrency_32_throughput": round(
            main_run["single_comment"]["concurrency_32"]["requests_per_second"]
            / baseline["single_comment"]["concurrency_32"]["requests_per_second"],
            3,
        ),
        "batch_64_best_throughput": round(
            best_batch / max(p["comments_per_second"] for p in baseline["batch_64"].values()), 3
        ),
    }
    manifest = read_manifest(latest_artifact())
    results = {
        "benchmark": "serving",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "path": "http.client -> gateway -> Lambda handler -> boto3 (SigV4) -> model server, all on 127.0.0.1",
        "model_version": manifest["version"],
        "comments": {"count": len(comments), "source": args.data.name if args.data.exists() else FIXTURE.name},
        "runs": runs,
        "batching_speedup": speedups,
        "targets": TARGETS,
        "targets_met": {
            "single_p50_ms_max": single_c1["p50_ms"] <= TARGETS["single_p50_ms_max"],
            "single_p99_ms_max": single_c1["p99_ms"] <= TARGETS["single_p99_ms_max"],
            "batch_comments_per_second_min": best_batch >= TARGETS["batch_comments_per_second_min"],
            "errors": errors == TARGETS["errors"],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"targets_met": results["targets_met"], "batching_speedup": results["batching_speedup"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
