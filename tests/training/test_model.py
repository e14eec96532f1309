"""Tokenizer, layers and network construction (untrained weights: no quality claims here)."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from toxiguard.config import LABELS, OOV_ID, POOLINGS, HParams
from toxiguard.training import model as tg_model

TEXTS = ["Hello world, hello!", "The cat sat on the mat.", "world of cats"]


@pytest.fixture(scope="module")
def vocabulary():
    return tg_model.adapt_vocabulary(TEXTS, max_tokens=50)


def test_vocabulary_is_lowercased_without_punctuation(vocabulary):
    assert vocabulary[:2] == ["", "[UNK]"]
    assert set(vocabulary[2:5]) == {"hello", "world", "the"}  # the words seen twice come first
    assert "hello" in vocabulary and "Hello" not in vocabulary and "world," not in vocabulary


@pytest.fixture(scope="module")
def featurizer(vocabulary):
    return tg_model.Featurizer(vocabulary, HParams(vocab_size=len(vocabulary), max_length=3, subword_max_ngrams=40))


def test_word_ids_are_truncated_without_padding_and_never_empty(vocabulary, featurizer):
    token_ids, _ = featurizer(tf.constant(["hello world hello world", "!!! ...", "zebra"]))
    hello, world = vocabulary.index("hello"), vocabulary.index("world")
    assert token_ids.numpy().tolist() == [
        [hello, world, hello],  # truncated to max_length
        [OOV_ID, 0, 0],  # nothing left after stripping punctuation -> one OOV word
        [OOV_ID, 0, 0],  # unknown word
    ]
    alone, _ = featurizer(tf.constant(["zebra"]))
    assert alone.shape == (1, 1)  # no padding beyond the longest text in the batch
    nothing, subwords = featurizer(tf.constant(["?!"]))
    assert nothing.numpy().tolist() == [[OOV_ID]] and subwords.shape == (1, 1, 1)


def test_subword_ids_line_up_with_word_ids(featurizer):
    texts = tf.constant(["Hello,\tworld!  It's\nfine", "ok", "a.b c-d ... e"])
    token_ids, subword_ids = featurizer(texts)
    assert subword_ids.shape[:2] == token_ids.shape
    words_with_subwords = tf.reduce_any(subword_ids > 0, axis=2)
    np.testing.assert_array_equal(words_with_subwords.numpy(), token_ids.numpy() > 0)


def test_subwords_of_a_word_are_its_hashed_char_ngrams(featurizer):
    _, subword_ids = featurizer(tf.constant(["Idiot", "idiot!", "idi0t", "idoit"]))
    first, second, third, fourth = (set(row[0][row[0] > 0].tolist()) for row in subword_ids.numpy())
    assert first == second  # same word after lower-casing and stripping punctuation
    assert len(first) == 12  # "<idiot>": five 3-grams, four 4-grams, three 5-grams
    assert first == third  # a look-alike digit is normalized to the letter it imitates
    assert 0 < len(first & fourth) < len(first)  # a misspelling shares some n-grams ("<id", "<idi", "t>")


def test_subword_embedding_averages_only_real_ngrams():
    layer = tg_model.SubwordEmbedding(buckets=10, dim=2)
    layer.build((None, None, None))
    table = np.arange(22, dtype="float32").reshape(11, 2)
    layer.embedding.embeddings.assign(table)
    out = layer(np.array([[[3, 5, 0, 0], [0, 0, 0, 0]]])).numpy()
    np.testing.assert_allclose(out[0, 0], (table[3] + table[5]) / 2)
    np.testing.assert_allclose(out[0, 1], [0, 0])


def test_masked_max_pooling_ignores_padding():
    values = tf.constant([[[-3.0, -1.0], [-2.0, -5.0], [0.0, 0.0]]])
    mask = tf.constant([[True, True, False]])
    pooled = tg_model.MaskedGlobalMaxPooling1D()(values, mask).numpy()
    assert pooled.tolist() == [[-2.0, -1.0]]  # plain max pooling would return the padded zeros


def test_build_model_with_default_hyperparameters():
    hp = kt.HyperParameters()
    model = tg_model.build_model(hp)
    assert set(hp.values) == set(tg_model.SEARCH_SPACE)
    assert model.output_shape == (None, len(LABELS))
    assert model.optimizer is not None and model.loss == "binary_crossentropy"
    scores = model([np.array([[5, 6, 7, 0]]), np.array([[[3, 4], [5, 0], [6, 0], [0, 0]]])], training=False).numpy()
    assert scores.shape == (1, 6) and np.all((scores > 0) & (scores < 1))


def small_serving_model(vocabulary, max_length=50, pooling="max_avg"):
    hp = HParams(vocab_size=len(vocabulary), max_length=max_length, embedding_dim=8, lstm_units=4, dense_units=4,
                 subword_buckets=100, pooling=pooling)  # fmt: skip
    return tg_model.serving_model(tg_model.Featurizer(vocabulary, hp), tg_model.tokens_model(hp))


@pytest.mark.parametrize("pooling", POOLINGS)
def test_scores_do_not_depend_on_batch_padding(vocabulary, pooling):
    """A comment scores the same alone and next to a much longer one (the serving contract)."""
    keras.utils.set_random_seed(1)
    model = small_serving_model(vocabulary, pooling=pooling)
    alone = model(tf.constant(["hello world"])).numpy()
    padded = model(tf.constant(["hello world", "the catastrophically long sentence " * 5])).numpy()[:1]
    np.testing.assert_allclose(alone, padded, atol=1e-6)


def test_serving_model_takes_raw_strings_and_truncates(vocabulary):
    model = small_serving_model(vocabulary, max_length=3)
    short = model(tf.constant(["hello world cat"])).numpy()
    long = model(tf.constant(["hello world cat and many more words after the limit"])).numpy()
    np.testing.assert_allclose(short, long, atol=1e-6)
    assert model(tf.constant(["", "!!!"])).numpy().shape == (2, 6)


def test_bucketed_dataset_pads_each_batch_to_its_longest(vocabulary):
    hp = HParams(vocab_size=len(vocabulary), max_length=60, batch_size=3)
    texts = [" ".join(["hello"] * n) for n in (3, 4, 40, 41, 5, 39)]
    dataset = tg_model.text_dataset(texts, np.zeros((6, 6)), tg_model.Featurizer(vocabulary, hp), hp)
    widths = sorted(int(token_ids.shape[1]) for (token_ids, _), _ in dataset)
    assert widths == [5, 41]


def test_positive_weights_favour_rare_labels_within_bounds():
    labels = np.zeros((1000, 6), dtype=np.uint8)
    labels[:500, 0] = 1  # balanced -> weight 1
    labels[:10, 3] = 1  # 1 in 100 -> sqrt(99), capped at 5
    labels[:100, 4] = 1  # 1 in 10 -> 3
    weights = tg_model.positive_weights(labels, cap=5.0)
    np.testing.assert_allclose(weights[[0, 3, 4]], [1.0, 5.0, 3.0])
    assert weights[1] == 5.0  # a label without positives gets the cap, not a division by zero


def test_weighted_loss_equals_plain_bce_with_unit_weights_and_scales_positives():
    y_true = np.array([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    y_pred = np.array([[0.7, 0.2, 0.4, 0.1, 0.3, 0.9]], dtype="float32")
    plain = float(keras.losses.BinaryCrossentropy()(y_true, y_pred))
    unit = float(tg_model.WeightedBinaryCrossentropy([1.0] * 6)(y_true, y_pred))
    assert unit == pytest.approx(plain, rel=1e-5)
    doubled = float(tg_model.WeightedBinaryCrossentropy([2.0] * 6)(y_true, y_pred))
    positive_part = -np.mean(y_true * np.log(y_pred))
    assert doubled == pytest.approx(unit + positive_part, rel=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(tg_model.WeightedBinaryCrossentropy([3.0] * 6)))
    assert restored.positive_weights == [3.0] * 6


def test_fused_bilstm_equals_keras_bidirectional_lstm_with_masking():
    """Same weights, same outputs at every real step as keras' masked Bidirectional(LSTM)."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(3, 9, 5)).astype("float32")
    lengths = np.array([9, 4, 1])
    mask = np.arange(9)[None, :] < lengths[:, None]
    fused = tg_model.FusedBidirectionalLSTM(6)
    fused_out = fused(inputs, mask=mask).numpy()
    reference = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))
    reference.build((None, None, 5))
    reference.set_weights([w.numpy() for w in fused.weights])
    reference_out = reference(inputs, mask=mask).numpy()
    np.testing.assert_allclose(fused_out[mask], reference_out[mask], atol=1e-5)


def test_serving_twin_scores_like_the_trained_network(vocabulary):
    keras.utils.set_random_seed(2)
    hp = HParams(vocab_size=len(vocabulary), embedding_dim=8, lstm_units=4, dense_units=4, subword_buckets=100)
    featurizer = tg_model.Featurizer(vocabulary, hp)
    network = tg_model.tokens_model(hp)
    texts = tf.constant(["hello world", "the cat sat on the mat today", "?", "world " * 30])
    trained = tg_model.serving_model(featurizer, network)(texts).numpy()
    serving = tg_model.serving_model(featurizer, tg_model.for_serving(network, hp))(texts).numpy()
    np.testing.assert_allclose(serving, trained, atol=1e-5)


def test_folded_serving_model_scores_exactly_like_the_trained_model(vocabulary):
    """Folding subwords into the vocabulary is an optimisation only: OOV, empty and over-long texts included."""
    keras.utils.set_random_seed(3)
    hp = HParams(vocab_size=len(vocabulary), max_length=6, embedding_dim=8, lstm_units=4, dense_units=4,
                 subword_buckets=100)  # fmt: skip
    network = tg_model.tokens_model(hp)
    for layer in network.layers:  # random non-zero weights everywhere, so every term of the sum matters
        layer.set_weights([np.random.default_rng(0).normal(size=w.shape).astype("float32") for w in layer.weights])
    model = tg_model.serving_model(tg_model.Featurizer(vocabulary, hp), tg_model.for_serving(network, hp))
    folded = tg_model.folded_serving_model(model, hp)
    texts = tf.constant(["hello world", "helo wurld zzyzx", "", "?!", "cat " * 20, "the Cat, sat; on xyzzy MAT"])
    np.testing.assert_allclose(folded(texts).numpy(), model(texts).numpy(), atol=1e-5)
