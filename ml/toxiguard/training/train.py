"""Train the Bi-LSTM: bucket texts by length, featurize per batch, early-stop on validation mean ROC-AUC.

Writes into the run directory: `model.keras` (raw strings in, six scores out) and `train.json`
(data hash and counts, split, extra training files, hyperparameters, per-epoch history and timings) that later
stages read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from toxiguard.config import LABELS, SEED, VALIDATION_FRACTION, HParams
from toxiguard.training import augment as tg_augment
from toxiguard.training import embeddings as tg_embeddings
from toxiguard.training import model as tg_model
from toxiguard.training import ngram as tg_ngram
from toxiguard.training.data import LabelledData, add_extra_rows, load_split

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
TRAIN_FILE = "train.json"


def mean_roc_auc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, dict[str, float]]:
    """Mean over labels of ROC-AUC; a label with one class only in `labels` is left out of the mean."""
    per_label = {}
    for i, name in enumerate(LABELS):
        if 0 < labels[:, i].sum() < len(labels):
            per_label[name] = float(roc_auc_score(labels[:, i], scores[:, i]))
    return float(np.mean(list(per_label.values()))), per_label


class ValidationAUC(keras.callbacks.Callback):
    """Adds `val_mean_roc_auc`, per-label AUCs, `val_loss` and epoch seconds to the epoch logs.

    Scores go through the string-input model that shares the trained network's weights, i.e. exactly
    what will be exported.
    """

    def __init__(self, scoring_model: keras.Model, texts: list[str], labels: np.ndarray):
        super().__init__()
        # One traced scorer for the whole run: a new tf.function per epoch would re-trace every time.
        self.score, self.texts, self.labels = tg_model.text_scorer(scoring_model), texts, labels
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["epoch_seconds"] = time.perf_counter() - self._started
        scores = self.score(self.texts)
        clipped = np.clip(scores, 1e-7, 1 - 1e-7)
        logs["val_loss"] = float(-np.mean(self.labels * np.log(clipped) + (1 - self.labels) * np.log(1 - clipped)))
        logs["val_mean_roc_auc"], per_label = mean_roc_auc(self.labels, scores)
        for name, value in per_label.items():
            logs[f"val_roc_auc_{name}"] = value


def training_callbacks(scoring_model: keras.Model, validation: LabelledData, hp: HParams) -> list:
    """Validation AUC (first: the others read it from the logs), early stopping and the learning-rate decay."""
    return [
        ValidationAUC(scoring_model, validation.texts, validation.labels),
        keras.callbacks.EarlyStopping(
            monitor="val_mean_roc_auc", mode="max", patience=hp.patience, restore_best_weights=True, verbose=1
        ),
        keras.callbacks.LearningRateScheduler(lambda epoch: hp.learning_rate * hp.lr_decay**epoch),
    ]


def fit(
    train: LabelledData,
    validation: LabelledData,
    hp: HParams,
    seed: int = SEED,
    verbose: int = 2,
    embeddings: Path | None = None,
) -> tuple[keras.Model, dict]:
    """Train on `train`, early-stopping on `validation`; returns the string-input model and its history.

    `embeddings` is a pretrained word vectors file the word embedding starts from (see `toxiguard.training.embeddings`).
    """
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    vocabulary = tg_model.adapt_vocabulary(train.texts, hp.vocab_size)
    featurizer = tg_model.Featurizer(vocabulary, hp)
    weights = tg_model.positive_weights(train.labels, hp.positive_weight_cap)
    log.info("positive-class loss weights: %s", dict(zip(LABELS, np.round(weights, 2).tolist(), strict=True)))
    network = tg_model.compile_model(tg_model.tokens_model(hp), hp.learning_rate, weights)
    vectors_summary = None
    if embeddings is not None:
        vectors = tg_embeddings.read_vectors(embeddings, vocabulary[2 : hp.vocab_size])  # padding, OOV: no vectors
        table = tg_embeddings.initial_word_table(vectors, hp.vocab_size, hp.embedding_dim, first_row=2, seed=seed)
        network.get_layer("word_embedding").embeddings.assign(table)
        vectors_summary = vectors.summary()
    model = tg_model.serving_model(featurizer, network)
    dataset = tg_model.text_dataset(train.texts, train.labels, featurizer, hp, shuffle_seed=seed)
    log.info(
        "vocabulary %d words; training on %d texts, validating on %d", len(vocabulary), len(train), len(validation)
    )
    callbacks = training_callbacks(model, validation, hp)
    history = network.fit(dataset, epochs=hp.epochs, callbacks=callbacks, verbose=verbose).history
    aucs = history["val_mean_roc_auc"]
    best_epoch = int(np.argmax(aucs))
    epoch_seconds = history["epoch_seconds"]
    summary = {
        "history": {k: [float(v) for v in values] for k, values in history.items()},
        "best_epoch": best_epoch + 1,
        "epochs_run": len(aucs),
        "best_val_mean_roc_auc": float(aucs[best_epoch]),
        "vocabulary_size": len(vocabulary),
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
        "samples_per_second": float(len(train) / np.mean(epoch_seconds)),
        "wall_seconds": time.perf_counter() - started,
        "embeddings": vectors_summary,
    }
    return tg_model.serving_model(featurizer, tg_model.for_serving(network, hp)), summary


def train(
    data_path: Path,
    run_dir: Path,
    hp: HParams,
    seed: int = SEED,
    validation_fraction: float = VALIDATION_FRACTION,
    embeddings: Path | None = None,
    augment: bool = True,
    suite_templates: bool = False,
    extra: Sequence[Path] = (),
) -> dict:
    """Train the Bi-LSTM and the n-gram model on the training split, with the `extra` files' rows merged in
    (`add_extra_rows`) and augmented, into `run_dir`."""
    started = time.perf_counter()
    data, train_data, validation = load_split(data_path, validation_fraction, seed)
    split_rows = len(train_data)
    train_data, extra_files = add_extra_rows(train_data, validation, extra)
    augmentation = None
    if augment:
        train_data, augmentation = tg_augment.augment(train_data, seed, suite_templates)
    model, summary = fit(train_data, validation, hp, seed, embeddings=embeddings)
    ngram_started = time.perf_counter()
    ngram_model = tg_ngram.fit_ngram_model(train_data.texts, train_data.labels)
    summary["ngram_seconds"] = time.perf_counter() - ngram_started
    summary["ngram_features"] = len(ngram_model.features)

    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / MODEL_FILE)
    ngram_model.save(run_dir / tg_ngram.NGRAM_FILE)
    record = {
        "data": {**data.summary(), "path": str(Path(data_path).resolve())},
        "split": {
            "seed": seed,
            "validation_fraction": validation_fraction,
            "train_rows": split_rows,
            "validation_rows": len(validation),
        },
        "extra": [{**file, "path": str(Path(path).resolve())} for file, path in zip(extra_files, extra, strict=True)],
        "augmentation": augmentation,
        "hyperparameters": hp.to_dict(),
        "training": {**summary, "total_seconds": time.perf_counter() - started},
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    (run_dir / TRAIN_FILE).write_text(json.dumps(record, indent=2) + "\n")
    log.info(
        "best epoch %d of %d: validation mean ROC-AUC %.4f; %.1f s/epoch; run saved to %s",
        summary["best_epoch"], summary["epochs_run"], summary["best_val_mean_roc_auc"],
        summary["seconds_per_epoch"], run_dir,
    )  # fmt: skip
    return record


def load_run(run_dir: Path) -> tuple[keras.Model, tg_ngram.NgramModel, dict]:
    """The trained string-input Bi-LSTM, the n-gram model and the run's `train.json` record."""
    record_path = run_dir / TRAIN_FILE
    if not record_path.exists():
        raise FileNotFoundError(f"{record_path} not found: run `toxiguard train` first")
    model = keras.models.load_model(run_dir / MODEL_FILE, compile=False)  # no optimizer state in exports
    return model, tg_ngram.NgramModel.load(run_dir / tg_ngram.NGRAM_FILE), json.loads(record_path.read_text())
