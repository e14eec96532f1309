"""ML benchmarks: training throughput (bucketed vs padded) and in-process serving through the exported signature.

Writes `bench/results/ml.json`. Targets (2 cores): full training run on the 52k rows within 10 minutes;
one comment p50 <= 1.5 ms; >= 8,000 comments/s in batches. The previous packaged model (the second newest under
artifacts/, or `--previous`) is measured in the same run, so its ratios hold on this machine. Every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from toxiguard.config import DEFAULT_ARTIFACTS, DEFAULT_DATA, SEED, VALIDATION_FRACTION, HParams, configure_threads

configure_threads()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from toxiguard.artifact import SIGNATURE, latest_artifact  # noqa: E402
from toxiguard.serving.model import ServingModel, call_signature  # noqa: E402
from toxiguard.training import model as tg_model  # noqa: E402
from toxiguard.training.data import LabelledData, load_split  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TARGETS = {
    "full_training_seconds_max": 600,
    "single_comment_p50_ms_max": 1.5,
    "batch_comments_per_second_min": 8000,
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_epoch(dataset: tf.data.Dataset, hp: HParams, label_weights: np.ndarray, steps: int) -> float:
    """Seconds per training sample over `steps` batches, after one warm-up batch (tracing)."""
    keras.utils.set_random_seed(SEED)
    network = tg_model.compile_model(tg_model.tokens_model(hp), hp.learning_rate, label_weights)
    batches = iter(dataset.repeat())
    x, y = next(batches)
    network.train_on_batch(x, y)
    samples, started = 0, time.perf_counter()
    for _ in range(steps):
        x, y = next(batches)
        network.train_on_batch(x, y)
        samples += int(y.shape[0])
    return (time.perf_counter() - started) / samples


def bench_training(train: LabelledData, hp: HParams, steps: int) -> dict:
    vocabulary = tg_model.adapt_vocabulary(train.texts, hp.vocab_size)
    featurizer = tg_model.Featurizer(vocabulary, hp)
    bucketed_ds = tg_model.text_dataset(train.texts, train.labels, featurizer, hp, shuffle_seed=SEED)
    padded_ds = tg_model.padded_dataset(train.texts, train.labels, featurizer, hp, SEED)
    weights = tg_model.positive_weights(train.labels, hp.positive_weight_cap)
    bucketed, padded = time_epoch(bucketed_ds, hp, weights, steps), time_epoch(padded_ds, hp, weights, steps)
    return {
        "train_rows": len(train),
        "steps_measured": steps,
        "bucketed": {"samples_per_second": 1 / bucketed, "seconds_per_epoch": bucketed * len(train)},
        "padded_to_max_length": {"samples_per_second": 1 / padded, "seconds_per_epoch": padded * len(train)},
        "bucketing_speedup": padded / bucketed,
    }


def bench_serving(
    artifact: ServingModel, texts: list[str], single_requests: int, time_budget: float, predict_requests: int = 200
) -> dict:
    serving_fn = artifact.serving_fn
    call_signature(serving_fn, texts[:1])  # warm-up
    latencies, deadline = [], time.perf_counter() + time_budget
    for text in texts[:single_requests]:
        started = time.perf_counter()
        call_signature(serving_fn, [text])
        latencies.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > deadline:
            break
    result = {
        "single_comment": {
            "requests": len(latencies),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
        }
    }
    # Batches in arrival order pad every comment to the batch's longest; the batch scorer
    # (`ServingModel.score`) sorts a chunk by length first, so each batch holds comments of similar length.
    by_length = sorted(texts, key=len)
    for batch_size in (64, 256):
        for order, pool in (("arrival_order", texts), ("length_sorted", by_length)):
            batches = [pool[i : i + batch_size] for i in range(0, len(pool) - batch_size + 1, batch_size)]
            call_signature(serving_fn, batches[0])
            started, done = time.perf_counter(), 0
            for batch in batches:
                call_signature(serving_fn, batch)
                done += len(batch)
                if time.perf_counter() - started > time_budget:
                    break
            elapsed = time.perf_counter() - started
            result[f"batch_{batch_size}_{order}"] = {"comments": done, "comments_per_second": done / elapsed}

    # The batch scorer itself (`ServingModel.score`, as `toxiguard score` uses it): length-sorted batches, two at once.
    for batch_size in (64, 256):
        artifact.score(texts[: batch_size * 2], batch_size=batch_size)
        started = time.perf_counter()
        artifact.score(texts, batch_size=batch_size)
        result[f"batch_{batch_size}_scorer"] = {
            "comments": len(texts),
            "comments_per_second": len(texts) / (time.perf_counter() - started),
        }

    # Baseline in the same run: Keras `predict` per request on the same SavedModel (what the signature call replaces).
    text_input = keras.Input(shape=(), dtype="string")
    (scores,) = keras.layers.TFSMLayer(str(artifact.saved_model_dir), call_endpoint=SIGNATURE)(text_input).values()
    keras_model = keras.Model(text_input, scores)
    keras_model.predict(np.array(texts[:1], dtype=object), verbose=0)
    predict_latencies = []
    for text in texts[:predict_requests]:
        started = time.perf_counter()
        keras_model.predict(np.array([text], dtype=object), verbose=0)
        predict_latencies.append((time.perf_counter() - started) * 1000)
    result["single_comment_keras_predict_baseline"] = {
        "requests": len(predict_latencies),
        "p50_ms": percentile(predict_latencies, 50),
    }
    result["single_comment_speedup_vs_predict"] = (
        result["single_comment_keras_predict_baseline"]["p50_ms"] / result["single_comment"]["p50_ms"]
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--artifact", type=Path, help="packaged model (default: newest under artifacts/)")
    parser.add_argument("--previous", type=Path,
                        help="packaged model to compare with in the same run (default: second newest)")  # fmt: skip
    parser.add_argument("--train-steps", type=int, default=60, help="batches timed per pipeline")
    parser.add_argument("--single-requests", type=int, default=2000)
    parser.add_argument("--time-budget", type=float, default=30.0, help="seconds per serving measurement")
    parser.add_argument("--out", type=Path, default=RESULTS / "ml.json")
    args = parser.parse_args(argv)

    artifact = ServingModel(args.artifact or latest_artifact(DEFAULT_ARTIFACTS))
    previous_dir = args.previous or next(
        (p.parent for p in sorted(DEFAULT_ARTIFACTS.glob("*/manifest.json"), reverse=True)[1:]), None
    )
    hp = HParams.from_dict(artifact.manifest["hyperparameters"])
    if not args.data.exists():
        print(f"bench: {args.data} not found (the shared data must sit beside the checkout)", file=sys.stderr)
        return 1
    _, train, validation = load_split(args.data, VALIDATION_FRACTION, SEED)

    print("timing training pipelines ...", file=sys.stderr)
    training = bench_training(train, hp, args.train_steps)
    print("timing serving ...", file=sys.stderr)
    serving = bench_serving(artifact, validation.texts, args.single_requests, args.time_budget)
    previous = None
    if previous_dir is not None:
        print(f"timing the previous model {previous_dir.name} ...", file=sys.stderr)
        previous_artifact = ServingModel(previous_dir)
        previous_serving = bench_serving(previous_artifact, validation.texts, args.single_requests, args.time_budget)
        previous = {
            "model_version": previous_artifact.version,
            "single_comment": previous_serving["single_comment"],
            "batch_64_scorer": previous_serving["batch_64_scorer"],
            "batch_256_scorer": previous_serving["batch_256_scorer"],
            "model_tar_gz_bytes": previous_artifact.manifest["artifact"]["bytes"],
            "single_comment_p50_ratio": serving["single_comment"]["p50_ms"]
            / previous_serving["single_comment"]["p50_ms"],
            "batch_64_scorer_throughput_ratio": serving["batch_64_scorer"]["comments_per_second"]
            / previous_serving["batch_64_scorer"]["comments_per_second"],
        }
    manifest = artifact.manifest
    metrics = manifest["metrics"]
    results = {
        "benchmark": "ml",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "tensorflow": tf.__version__},
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "model_version": manifest["version"],
        "training": {**training, "full_run_seconds": manifest["training"]["total_seconds"]},
        "serving_in_process": serving,
        "model_size": {"model_tar_gz_bytes": manifest["artifact"]["bytes"], "parameters": artifact.parameter_count},
        "previous_model_same_run": previous,
        "quality": {
            "validation_mean_roc_auc": metrics["mean_roc_auc"],
            "baseline_validation_mean_roc_auc": metrics["baseline_mean_roc_auc"],
            "delta": metrics["comparison"]["mean_roc_auc_delta"] if metrics.get("comparison") else None,
            "test_mean_roc_auc": (metrics.get("test") or {}).get("mean_roc_auc"),
        },
        "targets": TARGETS,
    }
    best_batch = max(
        serving[f"batch_{n}_{way}"]["comments_per_second"] for n in (64, 256) for way in ("length_sorted", "scorer")
    )
    results["targets_met"] = {
        "full_training_seconds_max": results["training"]["full_run_seconds"] <= TARGETS["full_training_seconds_max"],
        "single_comment_p50_ms_max": serving["single_comment"]["p50_ms"] <= TARGETS["single_comment_p50_ms_max"],
        "batch_comments_per_second_min": best_batch >= TARGETS["batch_comments_per_second_min"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
