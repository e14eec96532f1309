"""The Bi-LSTM: tokenizer, network, `build_model(hp)` for keras-tuner and the bucketed input pipeline.

Training runs on token ids (`tokens_model`), tokenized once and bucketed by length; the exported model
(`serving_model`) puts the same `TextVectorization` in front so serving takes raw strings. Sequences are
never padded beyond the longest one in a batch, and padding is masked everywhere (LSTM, average and max
pooling), so a comment scores the same alone or next to a longer one.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from toxiguard.config import LABELS, OOV_ID, PAD_ID, HParams

POOLINGS = ("max", "avg", "max_avg")
SEARCH_SPACE = {
    "vocab_size": [20_000, 30_000, 50_000],
    "max_length": [150, 200, 300],
    "embedding_dim": [64, 128],
    "lstm_units": [48, 64, 96],
    "spatial_dropout": (0.0, 0.4, 0.1),
    "dropout": (0.0, 0.4, 0.1),
    "learning_rate": (5e-4, 5e-3),
    "pooling": list(POOLINGS),
}


# --------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------


def make_vectorizer(vocabulary: list[str] | None = None, max_tokens: int | None = None) -> layers.TextVectorization:
    """Lower-case, strip punctuation, split on whitespace; ids 0 (padding) and 1 (OOV) are reserved."""
    vectorizer = layers.TextVectorization(
        max_tokens=max_tokens,
        standardize="lower_and_strip_punctuation",
        split="whitespace",
        output_mode="int",
        name="vectorizer",
    )
    if vocabulary is not None:
        vectorizer.set_vocabulary(vocabulary)
    return vectorizer


def adapt_vocabulary(texts: list[str], max_tokens: int, batch_size: int = 2048) -> list[str]:
    """Vocabulary of the training texts, most frequent first (including the two reserved entries)."""
    vectorizer = make_vectorizer(max_tokens=max_tokens)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(batch_size))
    return vectorizer.get_vocabulary()


def tokenize(vocabulary: list[str], texts: list[str], max_length: int, chunk: int = 4096) -> tf.RaggedTensor:
    """Token ids per text as the serving model sees them (see `TokenWindow`), unpadded (ragged)."""
    vectorizer, window = make_vectorizer(vocabulary), TokenWindow(max_length)
    parts = []
    for start in range(0, len(texts), chunk):
        dense = window(vectorizer(tf.constant(texts[start : start + chunk])))
        parts.append(tf.RaggedTensor.from_tensor(dense, padding=PAD_ID))
    return tf.concat(parts, axis=0)


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="toxiguard")
class TokenWindow(layers.Layer):
    """The first `max_length` token ids of each text, never padded further, and never empty.

    A text with no tokens (only punctuation, say) becomes a single OOV id, so the LSTM and the masked
    pooling always see at least one real step. Training tokenizes through this same layer.
    """

    def __init__(self, max_length: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def call(self, token_ids):
        token_ids = token_ids[:, : self.max_length]
        token_ids = tf.pad(token_ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(token_ids)[1])]])
        empty = tf.reduce_all(tf.equal(token_ids, PAD_ID), axis=1, keepdims=True)
        first = tf.where(empty, tf.ones_like(token_ids[:, :1]) * OOV_ID, token_ids[:, :1])
        return tf.concat([first, token_ids[:, 1:]], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


@keras.saving.register_keras_serializable(package="toxiguard")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over time that ignores masked (padding) steps.

    Keras' GlobalMaxPooling1D ignores the mask, so padded zeros would win the max wherever every real
    step is negative and scores would depend on how much padding a batch needed.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.full_like(inputs, -1e9))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


# --------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------


def tokens_model(hp: HParams) -> keras.Model:
    """Token ids (batch, time) -> six sigmoid scores."""
    token_ids = keras.Input(shape=(None,), dtype="int64", name="token_ids")
    x = layers.Embedding(hp.vocab_size, hp.embedding_dim, mask_zero=True, name="embedding")(token_ids)
    if hp.spatial_dropout > 0:
        x = layers.SpatialDropout1D(hp.spatial_dropout, name="spatial_dropout")(x)
    x = layers.Bidirectional(layers.LSTM(hp.lstm_units, return_sequences=True), name="bilstm")(x)
    pooled = []
    if hp.pooling in ("max", "max_avg"):
        pooled.append(MaskedGlobalMaxPooling1D(name="max_pool")(x))
    if hp.pooling in ("avg", "max_avg"):
        pooled.append(layers.GlobalAveragePooling1D(name="avg_pool")(x))
    x = pooled[0] if len(pooled) == 1 else layers.Concatenate(name="pool")(pooled)
    if hp.dropout > 0:
        x = layers.Dropout(hp.dropout, name="dropout")(x)
    x = layers.Dense(hp.dense_units, activation="relu", name="dense")(x)
    scores = layers.Dense(len(LABELS), activation="sigmoid", name="scores")(x)
    return keras.Model(token_ids, scores, name="bilstm_tokens")


def compile_model(model: keras.Model, learning_rate: float) -> keras.Model:
    # XLA made the LSTM about 2x slower on CPU, hence jit_compile=False.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0),
        loss="binary_crossentropy",
        jit_compile=False,
    )
    return model


def serving_model(vocabulary: list[str], tokens: keras.Model, max_length: int) -> keras.Model:
    """Raw strings (batch,) -> six scores, with the tokenizer inside the graph."""
    text = keras.Input(shape=(), dtype="string", name="text")
    token_ids = make_vectorizer(vocabulary)(text)
    token_ids = TokenWindow(max_length, name="token_window")(token_ids)
    return keras.Model(text, tokens(token_ids), name="toxiguard")


def hparams_from_tuner(hp) -> HParams:
    """Map a keras-tuner `HyperParameters` onto `HParams` (defaults where the space does not vary)."""
    base = HParams()
    return HParams.from_dict(
        {
            **base.to_dict(),
            "vocab_size": hp.Choice("vocab_size", SEARCH_SPACE["vocab_size"], default=base.vocab_size),
            "max_length": hp.Choice("max_length", SEARCH_SPACE["max_length"], default=base.max_length),
            "embedding_dim": hp.Choice("embedding_dim", SEARCH_SPACE["embedding_dim"], default=base.embedding_dim),
            "lstm_units": hp.Choice("lstm_units", SEARCH_SPACE["lstm_units"], default=base.lstm_units),
            "spatial_dropout": hp.Float(
                "spatial_dropout", *SEARCH_SPACE["spatial_dropout"], default=base.spatial_dropout
            ),
            "dropout": hp.Float("dropout", *SEARCH_SPACE["dropout"], default=base.dropout),
            "learning_rate": hp.Float(
                "learning_rate", *SEARCH_SPACE["learning_rate"], sampling="log", default=base.learning_rate
            ),
            "pooling": hp.Choice("pooling", SEARCH_SPACE["pooling"], default=base.pooling),
        }
    )


def build_model(hp) -> keras.Model:
    """keras-tuner entry point: a compiled token-id model for one point of the search space.

    `max_length` and `vocab_size` act on the input pipeline; ids at or above `vocab_size` are folded
    into the OOV id by `clip_vocabulary` before they reach the embedding.
    """
    params = hparams_from_tuner(hp)
    return compile_model(tokens_model(params), params.learning_rate)


# --------------------------------------------------------------------------------------------------
# Input pipeline
# --------------------------------------------------------------------------------------------------


def bucket_boundaries(max_length: int) -> list[int]:
    edges = [8, 16, 24, 32, 48, 64, 96, 128, 160, 200, 256, 300]
    return [e for e in edges if e < max_length]


def clip_vocabulary(token_ids: tf.RaggedTensor, vocab_size: int) -> tf.RaggedTensor:
    """Map ids beyond a smaller vocabulary to OOV (1), so one tokenization serves every vocabulary size."""
    return tf.ragged.map_flat_values(lambda ids: tf.where(ids >= vocab_size, tf.ones_like(ids), ids), token_ids)


def token_dataset(
    token_ids: tf.RaggedTensor,
    labels: np.ndarray | None,
    batch_size: int,
    max_length: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of similar length, each padded only to its own longest sequence."""
    token_ids = token_ids[:, :max_length]
    values, splits = token_ids.flat_values, token_ids.row_splits
    ds = tf.data.Dataset.range(token_ids.nrows())
    if shuffle_seed is not None:
        ds = ds.shuffle(int(token_ids.nrows()), seed=shuffle_seed, reshuffle_each_iteration=True)
    label_table = tf.constant(labels, dtype=tf.float32) if labels is not None else None

    def row(i):
        ids = values[splits[i] : splits[i + 1]]
        return (ids,) if label_table is None else (ids, label_table[i])

    ds = ds.map(row, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    boundaries = bucket_boundaries(max_length)
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda ids, *_: tf.shape(ids)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        no_padding=False,
        drop_remainder=False,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def padded_dataset(token_ids: tf.RaggedTensor, labels: np.ndarray, batch_size: int, max_length: int, seed: int):
    """Every sequence padded to `max_length`: the naive pipeline, kept as the benchmark baseline."""
    dense = token_ids[:, :max_length].to_tensor(default_value=PAD_ID, shape=[None, max_length])
    ds = tf.data.Dataset.from_tensor_slices((dense, labels.astype("float32")))
    return ds.shuffle(len(labels), seed=seed).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def predict_tokens(model: keras.Model, token_ids: tf.RaggedTensor, batch_size: int = 256) -> np.ndarray:
    """Scores in input order, computed in length-sorted batches (little padding, no per-row calls)."""
    lengths = token_ids.row_lengths().numpy()
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(order), len(LABELS)), dtype=np.float32)
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = tf.gather(token_ids, index).to_tensor(default_value=PAD_ID)
        out[index] = predict(batch).numpy()
    return out
