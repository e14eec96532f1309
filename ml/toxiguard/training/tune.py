"""Hyperparameter search with keras-tuner over `config.SEARCH_SPACE`; the best point goes to `ml/configs/hparams.json`.

The vocabulary is adapted once at the largest size in the space; each trial keeps its own top `vocab_size`
words (the vocabulary is ordered by frequency), so trials differ only in what they vary.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import keras_tuner as kt

from toxiguard.config import SEED, VALIDATION_FRACTION, HParams
from toxiguard.training import model as tg_model
from toxiguard.training.data import LabelledData, load_split
from toxiguard.training.train import training_callbacks

log = logging.getLogger(__name__)

OBJECTIVE = kt.Objective("val_mean_roc_auc", direction="max")


class BiLSTMHyperModel(kt.HyperModel):
    def __init__(self, train: LabelledData, validation: LabelledData, epochs: int, seed: int):
        super().__init__(name="toxiguard_bilstm")
        self.vocabulary = tg_model.adapt_vocabulary(train.texts, max(tg_model.SEARCH_SPACE["vocab_size"]))
        self.train, self.validation = train, validation
        self.label_weights = tg_model.positive_weights(train.labels, HParams().positive_weight_cap)
        self.epochs, self.seed = epochs, seed

    def build(self, hp):
        return tg_model.build_model(hp, self.label_weights)

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        params = tg_model.hparams_from_tuner(hp)
        featurizer = tg_model.Featurizer(self.vocabulary, params)
        dataset = tg_model.text_dataset(self.train.texts, self.train.labels, featurizer, params, self.seed)
        scoring_model = tg_model.serving_model(featurizer, model)
        # Ours come first: the tuner's own callbacks read the objective from the epoch logs.
        ours = training_callbacks(scoring_model, self.validation, params)
        return model.fit(dataset, epochs=self.epochs, callbacks=ours + list(callbacks or []), verbose=2)


def tune(
    data_path: Path,
    out_path: Path,
    work_dir: Path,
    max_trials: int,
    epochs: int,
    seed: int = SEED,
    validation_fraction: float = VALIDATION_FRACTION,
) -> dict:
    data, train, validation = load_split(data_path, validation_fraction, seed)
    tuner = kt.RandomSearch(
        BiLSTMHyperModel(train, validation, epochs, seed),
        objective=OBJECTIVE,
        max_trials=max_trials,
        seed=seed,
        directory=str(work_dir),
        project_name="bilstm",
        overwrite=True,
    )
    tuner.search()
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.score if t.score is not None else -1, reverse=True)
    best = tg_model.hparams_from_tuner(trials[0].hyperparameters)
    result = {
        "hyperparameters": {**best.to_dict(), "epochs": HParams().epochs},
        "tuning": {
            "objective": OBJECTIVE.name,
            "best_score": trials[0].score,
            "max_trials": max_trials,
            "epochs_per_trial": epochs,
            "data_sha256": data.sha256,
            "tuned_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "trials": [{"score": t.score, "values": t.hyperparameters.values} for t in trials],
        },
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    log.info("best of %d trials: val mean ROC-AUC %.4f; written to %s", len(trials), trials[0].score or 0, out_path)
    return result
