"""Scoring: the exported signature compiled once, and micro-batching of concurrent requests."""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from toxiguard.serving.length_order import score_in_length_order
from toxiguard.serving.local.tf_serving import INPUT, Scores, Text

MAX_TEXTS_PER_CALL = 256  # a micro-batch takes queued requests up to this many texts
CHUNK_TEXTS = 12  # at most this many texts per signature call, in length order
PARALLEL_CHUNKS = 2  # signature calls at once within a batch
BATCH_WORKERS = 2  # micro-batches scored at once: one per core of the 2-core target machine
WARM_UP_TEXTS = ["warm-up", "an unseen word: qzxvwy", "word " * 300]


class SignatureScorer:
    """The exported `serving_default` signature inside one tf.function, traced and run once at construction.

    `score` sorts texts by length and splits them into equal chunks of at most `chunk_texts`, so short texts are not
    padded to the longest, and runs up to `parallel_chunks` chunks at once (TensorFlow releases the GIL; one call
    leaves part of a core idle while its LSTM steps run).
    """

    def __init__(self, serving_fn, chunk_texts: int = CHUNK_TEXTS, parallel_chunks: int = PARALLEL_CHUNKS):
        import tensorflow as tf

        ((output, _),) = serving_fn.structured_outputs.items()
        compiled = tf.function(
            lambda text: serving_fn(**{INPUT: text})[output],
            input_signature=[tf.TensorSpec([None], tf.string, name=INPUT)],
        )
        self._call = compiled.get_concrete_function()  # the one trace, for shape [None]
        self._constant = tf.constant
        self._chunk_texts = chunk_texts
        self._pool = ThreadPoolExecutor(parallel_chunks, thread_name_prefix="score")
        # The first runs build kernels; texts with an out-of-vocabulary word and one past the model's maximum length
        # take the code paths real comments take (without them the first real request took ~50 ms longer).
        self._call(tf.constant(WARM_UP_TEXTS))

    def _score_chunk(self, texts: list[Text]) -> Scores:
        return self._call(self._constant(texts)).numpy()

    def score(self, texts: list[Text]) -> Scores:
        """Scores in input order."""
        return score_in_length_order(self._score_chunk, texts, self._chunk_texts, executor=self._pool)

    def close(self) -> None:
        self._pool.shutdown()


@dataclasses.dataclass(eq=False)
class _Job:
    texts: list[Text]
    scores: Scores | None = None
    error: Exception | None = None
    done: bool = False
    wake: threading.Event = dataclasses.field(default_factory=threading.Event)


class MicroBatcher:
    """Scores concurrent requests together, without a timer.

    A request thread that finds fewer than `workers` batches running leads: it scores every request queued at that
    moment (up to `max_texts` texts, its own first) in one call, hands each request its rows, then passes the lead to
    the oldest waiting request, whose thread scores the next batch. A lone request scores itself at once; requests
    that arrive while the workers are busy form the next batch.
    """

    def __init__(
        self, score: Callable[[list[Text]], Scores], max_texts: int = MAX_TEXTS_PER_CALL, workers: int = BATCH_WORKERS
    ):
        self._score = score
        self._max_texts = max_texts
        self._workers = workers
        self._lock = threading.Lock()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running = 0  # batches being scored

    def score(self, texts: list[Text]) -> Scores:
        job = _Job(texts)
        with self._lock:
            leading = self._running < self._workers
            if leading:
                self._running += 1
            else:
                self._queue.append(job)
        if not leading:
            job.wake.wait()  # either our rows are ready or we were handed the lead
        if not job.done:
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.scores

    def _lead(self, own: _Job) -> None:
        with self._lock:
            batch, count = [own], len(own.texts)  # its own job first, even if it alone exceeds the cap
            while self._queue and count + len(self._queue[0].texts) <= self._max_texts:
                batch.append(self._queue.popleft())
                count += len(batch[-1].texts)
        try:
            scores = self._score([text for job in batch for text in job.texts])
            start = 0
            for job in batch:
                job.scores = scores[start : start + len(job.texts)]
                start += len(job.texts)
        except Exception as exc:  # every request in the batch gets the error; the server answers 500
            for job in batch:
                job.error = exc
        finally:
            with self._lock:  # the oldest waiting request takes over the lead; out of the queue, no batch takes it
                successor = self._queue.popleft() if self._queue else None
                self._running -= successor is None
            for job in batch:
                job.done = True
                job.wake.set()
            if successor is not None:
                successor.wake.set()
