"""The NB-SVM baseline: TF-IDF word 1-2 grams + char 2-5 grams, NB log-count ratios, one logistic regression per label.

Trained and scored on the same split as the Bi-LSTM in every evaluation, so the comparison is like for like.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from toxiguard.config import LABELS

log = logging.getLogger(__name__)


def log_count_ratio(x: sparse.csr_matrix, y: np.ndarray) -> np.ndarray:
    """NB log-count ratio per feature: how much more often it occurs in positive rows than in negative ones."""
    positive = np.asarray(x[y == 1].sum(axis=0)).ravel() + 1.0
    negative = np.asarray(x[y == 0].sum(axis=0)).ravel() + 1.0
    return np.log((positive / positive.sum()) / (negative / negative.sum()))


class NBSVM:
    def __init__(self, c: float = 4.0, max_word_features: int = 200_000, max_char_features: int = 200_000):
        self.c = c
        self.word = TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), min_df=2, max_features=max_word_features,
            sublinear_tf=True, strip_accents="unicode", token_pattern=r"(?u)\b\w+\b",
        )  # fmt: skip
        self.char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=max_char_features,
            sublinear_tf=True, strip_accents="unicode",
        )  # fmt: skip
        self.ratios: list[np.ndarray] = []
        self.models: list[LogisticRegression] = []

    def _features(self, texts: list[str], fit: bool) -> sparse.csr_matrix:
        if fit:
            return sparse.hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        return sparse.hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def fit(self, texts: list[str], labels: np.ndarray) -> NBSVM:
        start = time.perf_counter()
        x = self._features(texts, fit=True)
        self.ratios, self.models = [], []
        for i, name in enumerate(LABELS):
            y = labels[:, i]
            ratio = log_count_ratio(x, y)
            model = LogisticRegression(C=self.c, solver="liblinear", max_iter=1000)
            model.fit(x.multiply(ratio).tocsr(), y)
            self.ratios.append(ratio)
            self.models.append(model)
            log.info("baseline: fitted %s", name)
        log.info(
            "baseline: trained on %d rows, %d features in %.1fs", len(texts), x.shape[1], time.perf_counter() - start
        )
        return self

    def predict(self, texts: list[str]) -> np.ndarray:
        x = self._features(texts, fit=False)
        columns = [
            model.predict_proba(x.multiply(ratio).tocsr())[:, 1]
            for ratio, model in zip(self.ratios, self.models, strict=True)
        ]
        return np.column_stack(columns).astype(np.float32)
