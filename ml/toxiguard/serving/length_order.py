"""Scoring in length order: texts of similar length share a batch, so little padding is computed. NumPy only, so
the in-process model, the local model server and training's scorers share it without loading each other."""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import Executor, ThreadPoolExecutor

import numpy as np

from toxiguard.config import LABELS


def score_in_length_order(
    predict, texts: list[str], batch_size: int = 256, workers: int = 2, executor: Executor | None = None
) -> np.ndarray:
    """`predict(list of texts) -> scores`, applied to batches of similar length; results in input order.

    Sorting first means each batch pads its texts to a similar length instead of the longest in the input; the
    batches are of equal size (at most `batch_size`). `workers` batches run at once, on `executor` if given (a
    server keeps one): TensorFlow releases the GIL, and one call leaves part of the second core idle while its
    LSTM steps through time (two at once measured 1.3x the throughput of one on 2 cores).
    """
    if len(texts) <= batch_size:  # one call: no sorting, no thread hand-off
        return predict(list(texts)) if texts else np.zeros((0, len(LABELS)), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = np.array_split(order, math.ceil(len(texts) / batch_size))
    out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    with contextlib.nullcontext(executor) if executor else ThreadPoolExecutor(workers) as pool:
        for index, scores in zip(batches, pool.map(lambda i: predict([texts[j] for j in i]), batches), strict=True):
            out[index] = scores
    return out
