"""keras-tuner search on the fixture: it must finish and leave a hyperparameters file `train` can read."""

from __future__ import annotations

import json

import pytest

from toxiguard.config import HParams
from toxiguard.training import model as tg_model
from toxiguard.training.tune import tune

pytestmark = pytest.mark.slow


def test_tune_writes_the_best_point_for_train(fixtures, tmp_path):
    out = tmp_path / "hparams.json"
    result = tune(fixtures / "train_small.csv", out, tmp_path / "work", max_trials=2, epochs=1, seed=3,
                  validation_fraction=0.3)  # fmt: skip
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert len(written["tuning"]["trials"]) == 2
    best = HParams.load(out)
    for name, values in tg_model.SEARCH_SPACE.items():
        value = getattr(best, name)
        assert value in values if isinstance(values, list) else values[0] <= value <= values[1], name
    scores = [t["score"] for t in written["tuning"]["trials"]]
    assert written["tuning"]["best_score"] == max(scores)
