"""End-to-end serving benchmark: HTTP client -> local gateway -> Lambda handler -> boto3 -> local model server.

Starts `toxiguard serve` once per configuration on free loopback ports: the shipped model with micro-batching (the
default), the same without it (the baseline), the same with every request's token checked (AUTH=jwt and the local
development issuer, as the HTTP API's JWT authorizer would), and the previous shipped model with micro-batching (the
model the serving targets were first measured with), all at once. It then measures latency of one comment at
concurrency 1, 8 and 32, and comments/s with requests of 64 comments, in rounds: each round runs a share of every
phase against each configuration in turn (the order rotating), so the machine's drift over minutes falls on all of
them alike.
Every phase is bounded in requests and in seconds. Comments are real ones from the shared data (a seeded sample;
their text is never written out), or the project's fixture when the data is absent. Writes
bench/results/serving.json: per phase and configuration the pooled p50/p99 and throughput, and each round's.

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
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from toxiguard.artifact import latest_artifact, read_manifest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serving.json"
FIXTURE = ROOT / "tests" / "fixtures" / "train_small.csv"
# The model shipped before the quality work of the model issue: a Bi-LSTM alone, without normalization or n-grams.
PREVIOUS_MODEL = ROOT / "artifacts" / "20261124T103915Z-2b97625"
READY = re.compile(r"web page\s+(http://\S+?)/?\s*$")
TARGETS = {"single_p50_ms_max": 5.0, "single_p99_ms_max": 20.0, "batch_comments_per_second_min": 3000, "errors": 0}
ROUNDS = 3
BATCH_TEXTS = 64
# (phase, kind, concurrency, requests over all rounds): 10,000 single-comment requests per configuration.
PHASES = [("single_comment", "single", 1, 2000), ("single_comment", "single", 8, 4000),
          ("single_comment", "single", 32, 4000), ("batch_64", "batch", 1, 160), ("batch_64", "batch", 2, 160),
          ("batch_64", "batch", 4, 160)]  # fmt: skip


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

    def __init__(self, artifact: Path, batching: bool, data_dir: Path | None = None, **settings: str):
        """With `data_dir`, AUTH=jwt with the local development issuer keeping its keys there; requests carry one of
        its tokens (`self.headers`). `settings` are more of `.env.example`'s variables for the stack."""
        self.headers = {"Content-Type": "application/json"}
        # Storing review items is measured by review_bench.py; here scoring alone, as the targets were set.
        environment = {**os.environ, "AUTH": "none", "REVIEWS_STORE_DEFAULT": "false", **settings}
        if data_dir is not None:
            from toxiguard.serving.local.auth import MODERATE_SCOPE
            from toxiguard.serving.local.issuer import LocalIssuer

            environment.update(AUTH="jwt", TOXIGUARD_DATA_DIR=str(data_dir))
            token = LocalIssuer(data_dir).mint_token([MODERATE_SCOPE], ttl_seconds=4 * 3600)
            self.headers["Authorization"] = f"Bearer {token}"
        command = [sys.executable, "-m", "toxiguard.cli", "serve", "--port", str(free_port()),
                   "--model-port", str(free_port()), "--artifact", str(artifact)]  # fmt: skip
        if not batching:
            command.append("--no-batching")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=environment)
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


def run_load(stack: Stack, bodies: list[bytes], concurrency: int, max_seconds: float) -> dict:
    """Send `bodies` from `concurrency` keep-alive connections: latencies of answered requests, errors, elapsed time."""
    host, port = stack.url.removeprefix("http://").split(":")
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
                connection.request("POST", "/v1/moderate", bodies[index], stack.headers)
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
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - started}


def summarize(rounds: list[dict], concurrency: int, texts_per_request: int) -> dict:
    """One phase on one configuration: pooled over rounds, and each round's p50 and throughput."""
    ms = np.array([latency for r in rounds for latency in r["latencies"]]) * 1000
    errors: dict[str, int] = {}
    for r in rounds:
        for kind, count in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    answered, seconds = len(ms), sum(r["seconds"] for r in rounds)
    summary = {
        "concurrency": concurrency,
        "requests": answered + sum(errors.values()),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(seconds, 3),
        "requests_per_second": round(answered / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3) if answered else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 3) if answered else None,
        "rounds_p50_ms": [round(float(np.percentile(np.array(r["latencies"]) * 1000, 50)), 3) for r in rounds],
    }
    if texts_per_request > 1:
        summary["comments_per_second"] = round(summary["requests_per_second"] * texts_per_request, 1)
        summary["rounds_comments_per_second"] = [
            round(len(r["latencies"]) * texts_per_request / r["seconds"], 1) for r in rounds
        ]
    return summary


def measure(stacks: dict[str, Stack], comments: list[str], quick: bool) -> dict:
    bodies = {
        "single": [json.dumps({"text": c}).encode() for c in comments],
        "batch": [
            json.dumps({"texts": comments[i : i + BATCH_TEXTS]}).encode()
            for i in range(0, len(comments) - BATCH_TEXTS + 1, BATCH_TEXTS)
        ],
    }
    for stack in stacks.values():
        run_load(stack, bodies["single"][:200], 1, 30)  # warm-up: connections, traced functions
    scale = 0.2 if quick else 1.0
    raw = {name: {} for name in stacks}
    for round_index in range(ROUNDS):
        for phase, kind, concurrency, total in PHASES:
            count = max(1, int(total * scale / ROUNDS))
            offset = round_index * count  # each round sends different comments
            chosen = [bodies[kind][(offset + i) % len(bodies[kind])] for i in range(count)]
            names = list(stacks)
            names = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in names:
                result = run_load(stacks[name], chosen, concurrency, 120)
                raw[name].setdefault((phase, kind, concurrency), []).append(result)
        print(f"  round {round_index + 1} of {ROUNDS} done")
    return {
        name: {
            phase: {
                f"concurrency_{concurrency}": summarize(rounds, concurrency, BATCH_TEXTS if kind == "batch" else 1)
                for (p, kind, concurrency), rounds in phases.items()
                if p == phase
            }
            for phase in dict.fromkeys(p for p, _, _ in phases)
        }
        for name, phases in raw.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "jigsaw" / "train_assembled.csv.gz"
    )
    parser.add_argument("--quick", action="store_true", help="a fifth of the requests (smoke run)")
    args = parser.parse_args()
    comments = load_comments(args.data, BATCH_TEXTS * 40)
    shipped = latest_artifact()
    # name: (artifact, micro-batching, tokens checked)
    configurations = {
        "micro_batching": (shipped, True, False),
        "no_batching_baseline": (shipped, False, False),
        "jwt_auth": (shipped, True, True),
    }
    if PREVIOUS_MODEL.exists() and shipped != PREVIOUS_MODEL:
        configurations["previous_model_micro_batching"] = (PREVIOUS_MODEL, True, False)
    stacks: dict[str, Stack] = {}
    with tempfile.TemporaryDirectory(prefix="toxiguard-bench-") as data_dir:
        try:
            for name, (artifact, batching, auth) in configurations.items():
                print(f"{name}: starting the local stack with {artifact.name}")
                stacks[name] = Stack(artifact, batching, Path(data_dir) if auth else None)
            runs = measure(stacks, comments, args.quick)
        finally:
            for stack in stacks.values():
                stack.close()

    main_run, baseline = runs["micro_batching"], runs["no_batching_baseline"]
    single_c1 = main_run["single_comment"]["concurrency_1"]
    with_tokens = runs["jwt_auth"]["single_comment"]["concurrency_1"]

    def best_batch(run: dict) -> float:
        return max(phase["comments_per_second"] for phase in run["batch_64"].values())

    errors = sum(phase["errors"] for run in runs.values() for kind in run.values() for phase in kind.values())
    ratios = {
        "batching_single_comment_concurrency_32_throughput": round(
            main_run["single_comment"]["concurrency_32"]["requests_per_second"]
            / baseline["single_comment"]["concurrency_32"]["requests_per_second"],
            3,
        ),
        "batching_batch_64_best_throughput": round(best_batch(main_run) / best_batch(baseline), 3),
    }
    if "previous_model_micro_batching" in runs:
        previous = runs["previous_model_micro_batching"]
        ratios["shipped_vs_previous_model_batch_64_best_throughput"] = round(
            best_batch(main_run) / best_batch(previous), 3
        )
    results = {
        "benchmark": "serving",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "path": "http.client -> gateway -> Lambda handler -> boto3 (SigV4) -> model server, all on 127.0.0.1",
        "model_version": read_manifest(shipped)["version"],
        "configurations": {
            name: {"model_version": read_manifest(artifact)["version"], "micro_batching": batching, "jwt_auth": auth}
            for name, (artifact, batching, auth) in configurations.items()
        },
        "rounds": ROUNDS,
        "comments": {"count": len(comments), "source": args.data.name if args.data.exists() else FIXTURE.name},
        "runs": runs,
        "ratios": ratios,
        "targets": TARGETS,
        "targets_met": {
            "single_p50_ms_max": single_c1["p50_ms"] <= TARGETS["single_p50_ms_max"],
            "single_p99_ms_max": single_c1["p99_ms"] <= TARGETS["single_p99_ms_max"],
            "batch_comments_per_second_min": best_batch(main_run) >= TARGETS["batch_comments_per_second_min"],
            "errors": errors == TARGETS["errors"],
            "jwt_auth_single_p50_ms_max": with_tokens["p50_ms"] <= TARGETS["single_p50_ms_max"],
            "jwt_auth_single_p99_ms_max": with_tokens["p99_ms"] <= TARGETS["single_p99_ms_max"],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"targets_met": results["targets_met"], "ratios": results["ratios"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
