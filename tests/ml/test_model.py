"""Tokenizer, layers and network construction (untrained weights: no quality claims here)."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from toxiguard import model as tg_model
from toxiguard.config import LABELS, OOV_ID, HParams

TEXTS = ["Hello world, hello!", "The cat sat on the mat.", "world of cats"]


@pytest.fixture(scope="module")
def vocabulary():
    return tg_model.adapt_vocabulary(TEXTS, max_tokens=50)


def test_vocabulary_is_lowercased_without_punctuation(vocabulary):
    assert vocabulary[:2] == ["", "[UNK]"]
    assert vocabulary[2] == "hello" or vocabulary[2] in {"world", "the"}  # most frequent first
    assert "hello" in vocabulary and "Hello" not in vocabulary and "world," not in vocabulary


def test_tokenize_truncates_without_padding_and_never_returns_an_empty_row(vocabulary):
    ids = tg_model.tokenize(vocabulary, ["hello world hello world", "!!! ...", "zebra"], max_length=3)
    rows = ids.to_list()
    hello, world = vocabulary.index("hello"), vocabulary.index("world")
    assert rows[0] == [hello, world, hello]  # truncated to max_length
    assert rows[1] == [OOV_ID]  # nothing left after stripping punctuation -> one OOV token
    assert rows[2] == [OOV_ID]  # unknown word


def test_token_window_matches_tokenize(vocabulary):
    vectorizer = tg_model.make_vectorizer(vocabulary)
    window = tg_model.TokenWindow(4)
    dense = window(vectorizer(tf.constant(["the cat sat on the mat", "?"]))).numpy()
    assert dense.shape == (2, 4)
    assert dense[1].tolist() == [OOV_ID, 0, 0, 0]


def test_masked_max_pooling_ignores_padding():
    values = tf.constant([[[-3.0, -1.0], [-2.0, -5.0], [0.0, 0.0]]])
    mask = tf.constant([[True, True, False]])
    pooled = tg_model.MaskedGlobalMaxPooling1D()(values, mask=mask).numpy()
    assert pooled.tolist() == [[-2.0, -1.0]]  # plain max pooling would return the padded zeros


def test_build_model_with_default_hyperparameters():
    hp = kt.HyperParameters()
    model = tg_model.build_model(hp)
    assert set(hp.values) == set(tg_model.SEARCH_SPACE)
    assert model.output_shape == (None, len(LABELS))
    assert model.optimizer is not None and model.loss == "binary_crossentropy"
    scores = model(np.array([[5, 6, 7, 0]]), training=False).numpy()
    assert scores.shape == (1, 6) and np.all((scores > 0) & (scores < 1))


@pytest.mark.parametrize("pooling", tg_model.POOLINGS)
def test_scores_do_not_depend_on_batch_padding(vocabulary, pooling):
    """A comment scores the same alone and next to a much longer one (the serving contract)."""
    keras.utils.set_random_seed(1)
    hp = HParams(vocab_size=len(vocabulary), embedding_dim=8, lstm_units=4, dense_units=4, pooling=pooling)
    model = tg_model.serving_model(vocabulary, tg_model.tokens_model(hp), max_length=50)
    alone = model(tf.constant(["hello world"])).numpy()
    padded = model(tf.constant(["hello world", "the cat sat on the mat " * 5])).numpy()[:1]
    np.testing.assert_allclose(alone, padded, atol=1e-6)


def test_serving_model_takes_raw_strings_and_truncates(vocabulary):
    hp = HParams(vocab_size=len(vocabulary), embedding_dim=8, lstm_units=4, dense_units=4)
    model = tg_model.serving_model(vocabulary, tg_model.tokens_model(hp), max_length=3)
    short = model(tf.constant(["hello world cat"])).numpy()
    long = model(tf.constant(["hello world cat and many more words after the limit"])).numpy()
    np.testing.assert_allclose(short, long, atol=1e-6)
    assert model(tf.constant(["", "!!!"])).numpy().shape == (2, 6)


def test_bucketed_dataset_pads_each_batch_to_its_longest(vocabulary):
    ids = tf.ragged.constant([[2] * n for n in (3, 4, 40, 41, 5, 39)], dtype=tf.int64)
    labels = np.zeros((6, 6), dtype=np.uint8)
    widths = sorted(int(x.shape[1]) for x, _ in tg_model.token_dataset(ids, labels, batch_size=3, max_length=60))
    assert widths == [5, 41]


def test_clip_vocabulary_folds_rare_ids_into_oov():
    ids = tf.ragged.constant([[2, 10, 99], [150]], dtype=tf.int64)
    assert tg_model.clip_vocabulary(ids, 100).to_list() == [[2, 10, 99], [OOV_ID]]
