"""NB-SVM inside the graph: word and character n-gram TF-IDF features, NB log-count ratios, a linear model per label.

The Bi-LSTM and a linear n-gram model make different mistakes: on real test comments a plain average of their
scores beats either alone. To serve that average from one SavedModel (so SageMaker's TF Serving container and the
local model server need nothing new), the n-gram model's features are computed by TensorFlow ops, both when it
is fitted and when it serves:

- features (`ngram_features`) of the normalized text: word 1-2-grams, and character 2-5-grams of each word in
  `<word>` (so prefixes and suffixes count, as scikit-learn's `char_wb` does);
- fitting (`fit_ngram_model`): scikit-learn's TF-IDF (sublinear tf, smooth idf, l2 norm) over those exact
  features, the NB log-count ratio r per label, and a logistic regression on x ⊙ r. Its weights w and r fold
  into one table W = r ⊙ w, since the logit is linear in x;
- serving (`NgramLinear`): a hash table from feature to row, (1 + log count) × idf, the l2 norm, x · W + b.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from toxiguard.config import LABELS
from toxiguard.training.baseline import log_count_ratio
from toxiguard.training.model import split_words
from toxiguard.training.normalize import normalize_text

log = logging.getLogger(__name__)

CHAR_NGRAM_WIDTHS = (2, 3, 4, 5)
WORD_MARK = "#"  # word features start with it; words never do (punctuation is stripped), so none equals a char n-gram
NGRAM_FILE = "ngram.npz"


def ngram_features(normalized: tf.Tensor, lookup=tf.identity) -> tf.RaggedTensor:
    """Normalized strings (batch,) -> the features of each, (batch, features): strings, or `lookup` of them.

    Serving passes the feature table's lookup, so character n-grams are built and looked up once per distinct
    word in the batch and only their ids are copied to every occurrence (string work was most of the cost).
    """
    words = split_words(normalized)
    word_grams = tf.concat([words, tf.strings.ngrams(words, 2, separator=" ")], axis=1)
    word_grams = tf.ragged.map_flat_values(lambda g: lookup(tf.strings.join([WORD_MARK, g])), word_grams)
    unique_words, word_index = tf.unique(words.flat_values)
    char_grams = tf.gather(tf.ragged.map_flat_values(lookup, char_ngrams(unique_words)), word_index)
    per_text = tf.RaggedTensor.from_row_splits(char_grams, words.row_splits).merge_dims(1, 2)
    return tf.concat([word_grams, per_text], axis=1)


def char_ngrams(words: tf.Tensor) -> tf.RaggedTensor:
    """Character n-grams of each word in `<word>`: (words,) -> (words, n-grams)."""
    marked = tf.strings.join(["<", words, ">"])
    return tf.strings.ngrams(tf.strings.unicode_split(marked, "UTF-8"), list(CHAR_NGRAM_WIDTHS), separator="")


@tf.function(reduce_retracing=True)
def _features_of_raw(texts):
    return ngram_features(normalize_text(texts))


def extract_features(texts: list[str], batch_size: int = 1024) -> list[list[str]]:
    """The features of raw texts, as Python strings, through the same ops as serving."""
    features: list[list[str]] = []
    for start in range(0, len(texts), batch_size):
        batch = _features_of_raw(tf.constant(texts[start : start + batch_size]))
        features.extend([[g.decode("utf-8", "replace") for g in row] for row in batch.to_list()])
    return features


@dataclasses.dataclass
class NgramModel:
    """A fitted n-gram model: feature strings, their idf, W = r ⊙ w per label, and the intercepts."""

    features: np.ndarray  # (F,) str objects
    idf: np.ndarray  # (F,) float32
    weights: np.ndarray  # (F, labels) float32
    bias: np.ndarray  # (labels,) float32

    def save(self, path: Path) -> None:
        # One newline-joined UTF-8 buffer: a fixed-width unicode array would pad every feature to the longest.
        # Features never contain a newline (words are split on whitespace).
        features = np.frombuffer("\n".join(self.features).encode("utf-8"), dtype=np.uint8)
        np.savez_compressed(path, features=features, idf=self.idf, weights=self.weights, bias=self.bias)

    @classmethod
    def load(cls, path: Path) -> NgramModel:
        with np.load(path) as stored:
            features = np.array(stored["features"].tobytes().decode("utf-8").split("\n"), dtype=object)
            return cls(features, stored["idf"], stored["weights"], stored["bias"])


def fit_ngram_model(texts: list[str], labels: np.ndarray, max_features: int = 200_000, c: float = 4.0) -> NgramModel:
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(
        analyzer=lambda features: features, min_df=2, max_features=max_features, sublinear_tf=True, dtype=np.float32
    )
    x = vectorizer.fit_transform(extract_features(texts))
    weights = np.zeros((x.shape[1], labels.shape[1]), dtype=np.float32)
    bias = np.zeros(labels.shape[1], dtype=np.float32)
    for i, name in enumerate(LABELS):
        y = labels[:, i]
        if y.min() == y.max():  # one class only (a tiny file): a constant, the smoothed rate's log-odds
            rate = (y.sum() + 0.5) / (len(y) + 1.0)
            bias[i] = np.log(rate / (1 - rate))
            log.warning("n-gram model: %s has one class in the training rows; it scores a constant", name)
            continue
        ratio = log_count_ratio(x, y)
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(x.multiply(ratio).tocsr(), y)
        weights[:, i] = ratio * model.coef_[0]
        bias[i] = model.intercept_[0]
        log.info("n-gram model: fitted %s", name)
    log.info("n-gram model: %d rows, %d features in %.1fs", len(texts), x.shape[1], time.perf_counter() - started)
    return NgramModel(
        features=np.asarray(vectorizer.get_feature_names_out(), dtype=object),
        idf=vectorizer.idf_.astype(np.float32),
        weights=weights,
        bias=bias,
    )


@keras.saving.register_keras_serializable(package="toxiguard")
class NgramLinear(keras.layers.Layer):
    """Normalized strings (batch,) -> the n-gram model's six probabilities, computed as scikit-learn would."""

    def __init__(self, model: NgramModel, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.feature_count, self.label_count = model.weights.shape
        self._model = model
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(model.features), tf.range(self.feature_count, dtype=tf.int64)
            ),
            default_value=-1,
        )
        self.build()  # now, eagerly: weights first created inside a traced function would keep their initial values

    def build(self, input_shape=None):
        self.idf = self.add_weight(name="idf", shape=(self.feature_count,), trainable=False)
        self.weights_table = self.add_weight(
            name="weights", shape=(self.feature_count, self.label_count), trainable=False
        )
        self.bias = self.add_weight(name="bias", shape=(self.label_count,), trainable=False)
        self.idf.assign(self._model.idf)
        self.weights_table.assign(self._model.weights)
        self.bias.assign(self._model.bias)

    def call(self, normalized):
        features = ngram_features(normalized, self.table.lookup)
        ids, rows = features.flat_values, features.value_rowids()
        known = ids >= 0
        keys = tf.boolean_mask(rows, known) * self.feature_count + tf.boolean_mask(ids, known)
        unique_keys, _, counts = tf.unique_with_counts(keys)
        row, feature = unique_keys // self.feature_count, unique_keys % self.feature_count
        values = (1.0 + tf.math.log(tf.cast(counts, tf.float32))) * tf.gather(self.idf, feature)
        batch = tf.cast(tf.shape(normalized)[0], tf.int64)
        dot = tf.math.unsorted_segment_sum(values[:, None] * tf.gather(self.weights_table, feature), row, batch)
        norm = tf.sqrt(tf.math.unsorted_segment_sum(tf.square(values), row, batch))
        return tf.sigmoid(tf.math.divide_no_nan(dot, norm[:, None]) + self.bias)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.label_count)
