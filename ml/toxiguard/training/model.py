"""The Bi-LSTM: featurizer layers, network, `build_model(hp)` for keras-tuner and the bucketed input pipeline.

Each word is represented by its own embedding plus the mean embedding of its hashed character n-grams
(fastText-style subwords), so misspelt and obfuscated words ("stuupid", "idi0t") still land near the words
they imitate. Both features come from raw strings through `TextVectorization` and `SubwordHasher`, inside
the exported model (serving takes raw strings) and inside the `tf.data` pipeline at training time: the same
layers, so the same features. Sequences are padded only to the longest one in a batch and padding is
masked everywhere (LSTM, average and max pooling), so a comment scores the same alone or next to a longer one.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from toxiguard.config import LABELS, OOV_ID, PAD_ID, SEARCH_SCALES, SEARCH_SPACE, HParams
from toxiguard.serving.length_order import score_in_length_order
from toxiguard.training.normalize import TextNormalizer

# TextVectorization's own "lower_and_strip_punctuation" pattern, so subwords split text exactly as it does.
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
SUBWORD_NGRAM_WIDTHS = (3, 4, 5)
VECTORIZER = "vectorizer"
NORMALIZER = "normalizer"


# --------------------------------------------------------------------------------------------------
# Featurizer layers (raw strings -> word ids and subword ids)
# --------------------------------------------------------------------------------------------------


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Lower-case, strip punctuation, split on whitespace: the words TextVectorization looks up."""
    return tf.strings.split(tf.strings.regex_replace(tf.strings.lower(texts), STRIP_PUNCTUATION, ""))


def word_counts(texts: list[str], chunk: int = 8192) -> np.ndarray:
    """Words per text (before truncation), used to bucket texts of similar length."""
    counts = [split_words(tf.constant(texts[i : i + chunk])).row_lengths().numpy() for i in range(0, len(texts), chunk)]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def make_vectorizer(vocabulary: list[str] | None = None, max_tokens: int | None = None) -> layers.TextVectorization:
    """Word ids; 0 is padding and 1 out-of-vocabulary."""
    vectorizer = layers.TextVectorization(
        max_tokens=max_tokens,
        standardize="lower_and_strip_punctuation",
        split="whitespace",
        output_mode="int",
        name=VECTORIZER,
    )
    if vocabulary is not None:
        vectorizer.set_vocabulary(vocabulary)
    return vectorizer


def adapt_vocabulary(texts: list[str], max_tokens: int, batch_size: int = 2048) -> list[str]:
    """Vocabulary of the normalized training texts, most frequent first (including the two reserved entries)."""
    vectorizer = make_vectorizer(max_tokens=max_tokens)
    normalizer = TextNormalizer()
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(batch_size).map(normalizer))
    return vectorizer.get_vocabulary()


def _at_least_one(tensor: tf.Tensor, axis: int) -> tf.Tensor:
    """Pad `axis` to length 1 when it is empty (a batch of texts without any word)."""
    paddings = [[0, 0]] * len(tensor.shape)
    paddings[axis] = [0, tf.maximum(0, 1 - tf.shape(tensor)[axis])]
    return tf.pad(tensor, paddings)


@keras.saving.register_keras_serializable(package="toxiguard")
class TokenWindow(layers.Layer):
    """The first `max_length` word ids of each text, never padded further, and never empty.

    A text with no words (only punctuation, say) becomes a single OOV id, so the LSTM and the masked
    pooling always see at least one real step.
    """

    def __init__(self, max_length: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def call(self, token_ids):
        token_ids = _at_least_one(token_ids[:, : self.max_length], axis=1)
        empty = tf.reduce_all(tf.equal(token_ids, PAD_ID), axis=1, keepdims=True)
        first = tf.where(empty, tf.ones_like(token_ids[:, :1]) * OOV_ID, token_ids[:, :1])
        return tf.concat([first, token_ids[:, 1:]], axis=1)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


def subword_ids(words, buckets: int, max_ngrams: int):
    """Hash buckets (1..`buckets`) of the first `max_ngrams` char 3-5-grams of each word in `<word>`.

    `words` is a string tensor or ragged tensor; the result has one more (ragged) axis, the n-grams.
    """
    marked = (
        tf.strings.join(["<", words, ">"])
        if isinstance(words, tf.Tensor)
        else (tf.ragged.map_flat_values(lambda w: tf.strings.join(["<", w, ">"]), words))
    )
    ngrams = tf.strings.ngrams(tf.strings.unicode_split(marked, "UTF-8"), list(SUBWORD_NGRAM_WIDTHS), separator="")
    ids = tf.ragged.map_flat_values(lambda g: tf.strings.to_hash_bucket_fast(g, buckets) + 1, ngrams)
    return ids[..., :max_ngrams]


@keras.saving.register_keras_serializable(package="toxiguard")
class SubwordHasher(layers.Layer):
    """Hashed character n-grams of each of the first `max_length` words: (batch, words, n-grams) ids.

    Words are wrapped in "<" and ">" so prefixes and suffixes get n-grams of their own; ids are hash
    buckets 1..`buckets`, 0 is padding. The word axis lines up with `TokenWindow`'s output.
    """

    def __init__(self, max_length: int, buckets: int, max_ngrams: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.buckets, self.max_ngrams = max_length, buckets, max_ngrams

    def call(self, texts):
        words = split_words(texts)[:, : self.max_length]
        dense = subword_ids(words, self.buckets, self.max_ngrams).to_tensor(default_value=PAD_ID)
        return _at_least_one(_at_least_one(dense, axis=1), axis=2)

    def get_config(self):
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "buckets": self.buckets,
            "max_ngrams": self.max_ngrams,
        }


# --------------------------------------------------------------------------------------------------
# Network layers
# --------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="toxiguard")
class PaddingMask(layers.Layer):
    """True where a word id is real, False on padding."""

    def call(self, token_ids):
        return ops.not_equal(token_ids, PAD_ID)


@keras.saving.register_keras_serializable(package="toxiguard")
class SubwordEmbedding(layers.Layer):
    """Mean embedding of each word's subword ids (padding ids excluded)."""

    def __init__(self, buckets: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.buckets, self.dim = buckets, dim
        self.embedding = layers.Embedding(buckets + 1, dim, name="table")

    def build(self, input_shape):
        self.embedding.build(input_shape)

    def call(self, subword_ids):
        present = ops.expand_dims(ops.cast(ops.not_equal(subword_ids, PAD_ID), self.compute_dtype), -1)
        summed = ops.sum(self.embedding(subword_ids) * present, axis=2)
        return summed / ops.maximum(ops.sum(present, axis=2), 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.dim)

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim}


@keras.saving.register_keras_serializable(package="toxiguard")
class FoldedWordVectors(layers.Layer):
    """Serving-time word vectors, identical to training's word embedding + mean subword embedding, but cheaper.

    A vocabulary word's subword n-grams never change, so export adds their mean embedding into the word's row
    once (`folded` table) and only out-of-vocabulary words are hashed and embedded per request. Hashing every
    word cost about a third of the model's time per batch; OOV words are a few percent of all words.
    """

    def __init__(self, vocab_size: int, dim: int, max_length: int, buckets: int, max_ngrams: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.max_length = vocab_size, dim, max_length
        self.buckets, self.max_ngrams = buckets, max_ngrams

    def build(self, input_shape=None):
        self.folded = self.add_weight(name="folded", shape=(self.vocab_size, self.dim), trainable=False)
        self.subwords = self.add_weight(name="subwords", shape=(self.buckets + 1, self.dim), trainable=False)

    def call(self, texts, token_ids):
        words = split_words(texts)[:, : self.max_length]  # the words behind `token_ids`, same split and window
        width = tf.shape(token_ids)[1]
        real = tf.sequence_mask(words.row_lengths(), width)  # excludes the OOV id TokenWindow gives empty texts
        positions = tf.where(tf.logical_and(tf.equal(token_ids, OOV_ID), real))
        flat_index = tf.gather(words.row_starts(), positions[:, 0]) + positions[:, 1]
        ngram_ids = subword_ids(tf.gather(words.flat_values, flat_index), self.buckets, self.max_ngrams)
        present = tf.cast(tf.not_equal(ngram_ids, PAD_ID), self.compute_dtype)
        summed = tf.reduce_sum(tf.gather(self.subwords, ngram_ids) * tf.expand_dims(present, -1), axis=1)
        oov_vectors = summed / tf.maximum(tf.expand_dims(tf.reduce_sum(present, axis=1), -1), 1.0)
        shape = tf.concat([tf.shape(token_ids, out_type=tf.int64), [self.dim]], axis=0)
        return tf.gather(self.folded, token_ids) + tf.scatter_nd(positions, oov_vectors, shape)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "dim": self.dim,
            "max_length": self.max_length,
            "buckets": self.buckets,
            "max_ngrams": self.max_ngrams,
        }


@keras.saving.register_keras_serializable(package="toxiguard")
class FusedBidirectionalLSTM(layers.Layer):
    """Inference-only Bidirectional LSTM over right-padded sequences on TensorFlow's fused `BlockLSTMV2` kernel.

    Same maths, gate order (i, f, c, o) and weight layout as keras' Bidirectional(LSTM), so trained
    weights copy over unchanged (`for_serving`), but each direction is one kernel call instead of a
    while-loop of ~15 small ops per token: one comment drops from 2.0 to about 0.5 ms of network time on
    CPU. Masking is exact without per-step masks: the backward direction reverses every sequence within
    its own length (`tf.reverse_sequence`), so padding only ever follows a sequence's real steps, and
    outputs at padded steps are excluded by the masked pooling after it.

    Not for training: TensorFlow's registered gradient for BlockLSTMV2 disagrees with keras' LSTM
    gradient (measured), so the layer is frozen.
    """

    def __init__(self, units: int, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        self.cells = {}
        for direction in ("forward", "backward"):
            kernel = self.add_weight(
                name=f"{direction}_kernel", shape=(dim, 4 * self.units), initializer="glorot_uniform"
            )
            recurrent = self.add_weight(
                name=f"{direction}_recurrent_kernel", shape=(self.units, 4 * self.units), initializer="orthogonal"
            )
            # Forget-gate bias starts at 1, as with keras.layers.LSTM(unit_forget_bias=True).
            bias_init = np.concatenate([np.zeros(self.units), np.ones(self.units), np.zeros(2 * self.units)])
            bias = self.add_weight(
                name=f"{direction}_bias",
                shape=(4 * self.units,),
                initializer=keras.initializers.Constant(bias_init.astype("float32")),
            )
            self.cells[direction] = (kernel, recurrent, bias)

    def _run(self, time_major, direction: str):
        kernel, recurrent, bias = self.cells[direction]
        batch = tf.shape(time_major)[1]
        state = tf.zeros(tf.stack([batch, self.units]), dtype=time_major.dtype)
        no_peephole = tf.zeros([self.units], dtype=time_major.dtype)
        outputs = tf.raw_ops.BlockLSTMV2(
            seq_len_max=tf.cast(tf.shape(time_major)[0], tf.int64),
            x=time_major,
            cs_prev=state,
            h_prev=state,
            w=tf.concat([kernel, recurrent], axis=0),
            wci=no_peephole,
            wcf=no_peephole,
            wco=no_peephole,
            b=bias,
            cell_clip=0.0,  # no clipping, as in Keras
            use_peephole=False,
        )
        return outputs[-1]  # h for every step

    def call(self, inputs, mask):
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        time_major = tf.transpose(inputs, [1, 0, 2])
        forward = self._run(time_major, "forward")
        reversed_inputs = tf.reverse_sequence(time_major, lengths, seq_axis=0, batch_axis=1)
        backward = tf.reverse_sequence(self._run(reversed_inputs, "backward"), lengths, seq_axis=0, batch_axis=1)
        return tf.transpose(tf.concat([forward, backward], axis=-1), [1, 0, 2])

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="toxiguard")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over time that ignores masked (padding) steps.

    Keras' GlobalMaxPooling1D ignores the mask, so padded zeros would win the max wherever every real
    step is negative and scores would depend on how much padding a batch needed.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None  # pooled over time: nothing left to mask

    def call(self, inputs, mask):
        return ops.max(ops.where(ops.expand_dims(mask, -1), inputs, ops.full_like(inputs, -1e9)), axis=1)


# --------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------


def tokens_model(hp: HParams, fused: bool = False) -> keras.Model:
    """(word ids (batch, words), subword ids (batch, words, n-grams)) -> six sigmoid scores.

    `fused=True` builds the inference twin on `FusedBidirectionalLSTM`; weights are interchangeable.
    """
    token_ids = keras.Input(shape=(None,), dtype="int64", name="token_ids")
    subword_input = keras.Input(shape=(None, None), dtype="int64", name="subword_ids")
    mask = PaddingMask(name="padding_mask")(token_ids)
    words = layers.Embedding(hp.vocab_size, hp.embedding_dim, name="word_embedding")(token_ids)
    subwords = SubwordEmbedding(hp.subword_buckets, hp.embedding_dim, name="subword_embedding")(subword_input)
    word_vectors = layers.Add(name="word_vectors")([words, subwords])
    return keras.Model([token_ids, subword_input], _classifier(word_vectors, mask, hp, fused), name="bilstm_tokens")


def _classifier(word_vectors, mask, hp: HParams, fused: bool):
    """Word vectors (batch, words, dim) -> six sigmoid scores: the layers after the embeddings."""
    x = word_vectors
    if hp.spatial_dropout > 0:
        x = layers.SpatialDropout1D(hp.spatial_dropout, name="spatial_dropout")(x)
    if fused:
        x = FusedBidirectionalLSTM(hp.lstm_units, name="bilstm")(x, mask=mask)
    else:
        x = layers.Bidirectional(layers.LSTM(hp.lstm_units, return_sequences=True), name="bilstm")(x, mask=mask)
    pooled = []
    if hp.pooling in ("max", "max_avg"):
        pooled.append(MaskedGlobalMaxPooling1D(name="max_pool")(x, mask=mask))
    if hp.pooling in ("avg", "max_avg"):
        pooled.append(layers.GlobalAveragePooling1D(name="avg_pool")(x, mask=mask))
    x = pooled[0] if len(pooled) == 1 else layers.Concatenate(name="pool")(pooled)
    if hp.dropout > 0:
        x = layers.Dropout(hp.dropout, name="dropout")(x)
    x = layers.Dense(hp.dense_units, activation="relu", name="dense")(x)
    return layers.Dense(len(LABELS), activation="sigmoid", name="scores")(x)


@keras.saving.register_keras_serializable(package="toxiguard")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy with a weight per label on the positive term.

    `threat` has about one positive in 150 rows; without extra weight its few positives barely move the
    shared layers and its ranking quality (PR-AUC) lags far behind the other labels.
    """

    def __init__(self, positive_weights, name="weighted_binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = [float(w) for w in positive_weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        y_pred = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        weights = ops.convert_to_tensor(self.positive_weights, dtype=y_pred.dtype)
        loss = -(weights * y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred))
        return ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "positive_weights": self.positive_weights}


def positive_weights(labels: np.ndarray, cap: float) -> np.ndarray:
    """sqrt(negatives / positives) per label, between 1 and `cap`."""
    positives = np.maximum(labels.sum(axis=0), 1)
    return np.clip(np.sqrt((len(labels) - positives) / positives), 1.0, max(cap, 1.0))


def for_serving(network: keras.Model, hp: HParams) -> keras.Model:
    """The trained network's weights in its fused-LSTM twin (same outputs, several times faster on CPU)."""
    fused = tokens_model(hp, fused=True)
    fused.set_weights(network.get_weights())
    return fused


def compile_model(model: keras.Model, learning_rate: float, label_weights: np.ndarray | None = None) -> keras.Model:
    # XLA made the LSTM about 2x slower on CPU, hence jit_compile=False. No gradient clipping: it cost 16%
    # of step time (it densifies the embedding gradients) and training is stable without it.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy" if label_weights is None else WeightedBinaryCrossentropy(label_weights),
        jit_compile=False,
    )
    return model


class Featurizer:
    """The layers that turn raw strings into the network's inputs, shared by training and serving.

    Texts are normalized first (`toxiguard.training.normalize`), so "1d10t" and "idiot" are the same word.
    """

    def __init__(self, vocabulary: list[str], hp: HParams):
        self.normalizer = TextNormalizer(name=NORMALIZER)
        self.vectorizer = make_vectorizer(vocabulary[: hp.vocab_size])
        self.window = TokenWindow(hp.max_length, name="token_window")
        self.hasher = SubwordHasher(hp.max_length, hp.subword_buckets, hp.subword_max_ngrams, name="subword_hasher")

    def __call__(self, texts):
        normalized = self.normalizer(texts)
        return self.window(self.vectorizer(normalized)), self.hasher(normalized)


def serving_model(featurizer: Featurizer, network: keras.Model) -> keras.Model:
    """Raw strings (batch,) -> six scores, with the featurizer inside the graph."""
    text = keras.Input(shape=(), dtype="string", name="text")
    return keras.Model(text, network(list(featurizer(text))), name="toxiguard")


def folded_serving_model(model: keras.Model, hp: HParams, ngram: keras.layers.Layer | None = None) -> keras.Model:
    """`model`'s exact function with subword embeddings folded into the vocabulary (`FoldedWordVectors`).

    `model` is a string-input model from `serving_model` (as `toxiguard train` saves it). With `ngram` (an
    `NgramLinear` layer), the result serves the plain average of both models' scores from one graph, which
    normalizes each text once for both.
    """
    vectorizer = model.get_layer(VECTORIZER)
    network = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    word_table = network.get_layer("word_embedding").embeddings.numpy()
    subword_table = network.get_layer("subword_embedding").embedding.embeddings.numpy()
    vocabulary = vectorizer.get_vocabulary()[2:]  # padding and OOV have no subwords of their own
    ngram_ids = subword_ids(tf.constant(vocabulary), hp.subword_buckets, hp.subword_max_ngrams).to_tensor()
    present = (ngram_ids.numpy() != PAD_ID)[..., None]
    means = (subword_table[ngram_ids.numpy()] * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    folded = word_table.copy()
    folded[2 : 2 + len(vocabulary)] += means

    text = keras.Input(shape=(), dtype="string", name="text")
    normalized = TextNormalizer(name=NORMALIZER)(text)
    token_ids = model.get_layer("token_window")(vectorizer(normalized))
    vectors_layer = FoldedWordVectors(hp.vocab_size, hp.embedding_dim, hp.max_length, hp.subword_buckets,
                                      hp.subword_max_ngrams, name="folded_word_vectors")  # fmt: skip
    vectors = vectors_layer(normalized, token_ids)
    vectors_layer.set_weights([folded, subword_table])
    scores = _classifier(vectors, PaddingMask(name="padding_mask")(token_ids), hp, fused=True)
    if ngram is not None:
        scores = layers.Average(name="ensemble")([scores, ngram(normalized)])
    folded_model = keras.Model(text, scores, name="toxiguard_folded")
    for name in ("bilstm", "dense", "scores"):
        folded_model.get_layer(name).set_weights(network.get_layer(name).get_weights())
    return folded_model


def hparams_from_tuner(hp) -> HParams:
    """Map a keras-tuner `HyperParameters` onto `HParams` (defaults where the space does not vary)."""
    base = HParams()

    def choice(name):
        return hp.Choice(name, SEARCH_SPACE[name], default=getattr(base, name))

    def number(name):
        sampling = SEARCH_SCALES.get(name, "linear")
        return hp.Float(name, *SEARCH_SPACE[name], default=getattr(base, name), sampling=sampling)

    return HParams.from_dict(
        {
            **base.to_dict(),
            **{name: choice(name) for name in ("vocab_size", "max_length", "embedding_dim", "lstm_units")},
            "subword_buckets": choice("subword_buckets"),
            "spatial_dropout": number("spatial_dropout"),
            "dropout": number("dropout"),
            "learning_rate": number("learning_rate"),
            "pooling": choice("pooling"),
        }
    )


def build_model(hp, label_weights: np.ndarray | None = None) -> keras.Model:
    """keras-tuner entry point: a compiled network for one point of the search space.

    `vocab_size` and `max_length` also shape the input pipeline (see `tune.BiLSTMHyperModel.fit`);
    `label_weights` are the positive-class loss weights of the training labels (plain BCE without).
    """
    params = hparams_from_tuner(hp)
    return compile_model(tokens_model(params), params.learning_rate, label_weights)


# --------------------------------------------------------------------------------------------------
# Input pipeline
# --------------------------------------------------------------------------------------------------


def bucket_boundaries(max_length: int) -> list[int]:
    edges = [8, 16, 24, 32, 48, 64, 96, 128, 160, 200, 256, 300]
    return [e for e in edges if e < max_length]


def text_dataset(
    texts: list[str],
    labels: np.ndarray,
    featurizer: Featurizer,
    hp: HParams,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of texts of similar length, featurized per batch (so padded only to the batch's longest)."""
    lengths = np.minimum(word_counts(texts), hp.max_length)
    ds = tf.data.Dataset.from_tensor_slices((texts, lengths, labels.astype("float32")))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    boundaries = bucket_boundaries(hp.max_length)
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda text, length, label: tf.cast(length, tf.int32),
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[hp.batch_size] * (len(boundaries) + 1),
    )
    ds = ds.map(lambda text, length, label: (featurizer(text), label), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def padded_dataset(texts: list[str], labels: np.ndarray, featurizer: Featurizer, hp: HParams, seed: int):
    """Every batch padded to `max_length` words: the naive pipeline, kept as the benchmark baseline."""

    def pad(text, label):
        token_ids, subword_ids = featurizer(text)
        extra = hp.max_length - tf.shape(token_ids)[1]
        return (tf.pad(token_ids, [[0, 0], [0, extra]]), tf.pad(subword_ids, [[0, 0], [0, extra], [0, 0]])), label

    ds = tf.data.Dataset.from_tensor_slices((texts, labels.astype("float32"))).shuffle(len(texts), seed=seed)
    return ds.batch(hp.batch_size).map(pad, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def text_scorer(model: keras.Model, batch_size: int = 256):
    """`texts -> scores` for a string-input Keras model, through one traced function reused on every call."""
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda texts: score_in_length_order(lambda batch: call(tf.constant(batch)).numpy(), texts, batch_size)


def score_texts(model: keras.Model, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Scores of a string-input Keras model (no per-batch `predict`)."""
    return text_scorer(model, batch_size)(texts)
