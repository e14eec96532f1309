"""Undo common obfuscation inside the graph, so serving still takes raw strings and training sees the same text.

Abusers write "1d10t", "f4ck", "$h1t", "stuuuupid" and "i d i o t" to slip past word lists. `normalize_text`
lower-cases, then, on Unicode code points (no per-rule regex passes, so it stays cheap on long comments, and
few graph ops, so it stays cheap on short ones):
- maps digits and symbols that stand next to a letter to the letter they imitate (0→o, 1→i, 3→e, 4→a, 5→s,
  7→t, @→a, $→s); "!" and "|" only between two letters, since "great!" must keep its exclamation mark;
- shortens runs of three or more equal letters to two ("stuuupid" → "stuupid", but "good" stays);
- joins letters spelt out one by one ("i d i o t", "f.u.c.k") when at least three stand in a row, so ordinary
  one-letter words ("I am a fan") are left alone.
Leftover masks ("f*ck") are not guessed at: the training data and its obfuscation augmentation teach those.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

# Characters that imitate a letter when they stand next to one.
LOOKALIKES = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
# Only between two letters: on their own they are punctuation.
INNER_LOOKALIKES = {"!": "i", "|": "i"}
SPELLING_SEPARATORS = " .-_*,"
NO_CHAR = -1
FIRST_NON_ASCII_LETTER = 0xC0  # Latin-1 letters up (é, ß, ж, ...) count as letters
PAD = 3  # the widest neighbourhood looked at: a letter three places away (spelt-out words)

# Per-character tables indexed by `_index` (code + 1, capped): slot 0 is NO_CHAR, the last slot every code
# from FIRST_NON_ASCII_LETTER up. One gather answers "is it a letter?" or "what letter does it imitate?"
# for a whole batch, where a comparison chain per rule would cost a dozen graph ops (most of a short
# comment's time is per-op overhead).
_CODES = np.arange(-1, FIRST_NON_ASCII_LETTER + 1)
_IS_LETTER = np.isin(_CODES, np.arange(ord("a"), ord("z") + 1)) | (_CODES >= FIRST_NON_ASCII_LETTER)
_IS_SEPARATOR = np.isin(_CODES, [ord(c) for c in SPELLING_SEPARATORS])


def _substitutes(mapping: dict[str, str]) -> np.ndarray:
    """The letter each character imitates, NO_CHAR for characters that imitate none."""
    table = np.full(len(_CODES), NO_CHAR, dtype=np.int32)
    for source, letter in mapping.items():
        table[ord(source) + 1] = ord(letter)
    return table


_BESIDE = _substitutes(LOOKALIKES)
_BETWEEN = _substitutes(INNER_LOOKALIKES)


def _index(codes: tf.Tensor) -> tf.Tensor:
    return tf.minimum(codes + 1, FIRST_NON_ASCII_LETTER + 1)


def _neighbours(values: tf.Tensor, fill, offsets: tuple[int, ...]) -> dict[int, tf.Tensor]:
    """values[:, i - offset] at position i for each offset in [-PAD, PAD] (`fill` beyond either end).

    One pad and constant slices: no shape arithmetic per neighbour.
    """
    padded = tf.pad(values, [[0, 0], [PAD, PAD]], constant_values=fill)
    return {offset: padded[:, PAD - offset : (-PAD - offset) or None] for offset in offsets}


def _map_lookalikes(codes: tf.Tensor) -> tf.Tensor:
    index = _index(codes)
    letter = tf.gather(_IS_LETTER, index)
    neighbour = _neighbours(letter, False, (1, -1))
    beside = tf.gather(_BESIDE, index)
    between = tf.gather(_BETWEEN, index)
    # A letter's own entries are NO_CHAR, so only non-letters are replaced.
    mapped = tf.where((beside != NO_CHAR) & (neighbour[1] | neighbour[-1]), beside, codes)
    return tf.where((between != NO_CHAR) & neighbour[1] & neighbour[-1], between, mapped)


def normalize_text(texts: tf.Tensor) -> tf.Tensor:
    """Raw strings (batch,) -> lower-cased strings with the obfuscations above undone."""
    codes = tf.strings.unicode_decode(tf.strings.lower(texts, encoding="utf-8"), "UTF-8", errors="replace")
    dense = codes.to_tensor(default_value=NO_CHAR)
    # Twice, so chains of look-alikes resolve from the letters inwards ("a$$" → "as$" → "ass").
    dense = _map_lookalikes(_map_lookalikes(dense))

    index = _index(dense)
    letter = tf.gather(_IS_LETTER, index)
    previous = _neighbours(dense, NO_CHAR, (1, 2))
    third_in_a_row = letter & tf.equal(dense, previous[1]) & tf.equal(dense, previous[2])

    near = _neighbours(letter, False, (1, -1))
    alone = letter & ~near[1] & ~near[-1]
    alone_near = _neighbours(alone, False, (1, -1, 3, -3))
    between_lone_letters = tf.gather(_IS_SEPARATOR, index) & alone_near[1] & alone_near[-1]
    spelt_out = between_lone_letters & (alone_near[3] | alone_near[-3])

    keep = (dense != NO_CHAR) & ~third_in_a_row & ~spelt_out
    kept = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(dense, keep), tf.reduce_sum(tf.cast(keep, tf.int64), axis=1), validate=False
    )
    return tf.strings.unicode_encode(kept, "UTF-8")


@keras.saving.register_keras_serializable(package="toxiguard")
class TextNormalizer(keras.layers.Layer):
    """`normalize_text` as a layer: the first step of the exported model and of the training featurizer."""

    def call(self, texts):
        return normalize_text(texts)

    def compute_output_spec(self, texts):
        return keras.KerasTensor(texts.shape, dtype="string")
