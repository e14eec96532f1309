"""Undo common obfuscation inside the graph, so serving still takes raw strings and training sees the same text.

Abusers write "1d10t", "f4ck", "$h1t", "stuuuupid" and "i d i o t" to slip past word lists. `normalize_text`
lower-cases, then, on Unicode code points (no per-rule regex passes, so it stays cheap on long comments):
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


def _table(mapping: dict[str, str]) -> np.ndarray:
    table = np.arange(128, dtype=np.int32)
    for source, letter in mapping.items():
        table[ord(source)] = ord(letter)
    return table


_LOOKALIKE_TABLE = _table(LOOKALIKES)
_INNER_TABLE = _table(INNER_LOOKALIKES)
_SEPARATOR_CODES = [ord(c) for c in SPELLING_SEPARATORS]


def _shift(values: tf.Tensor, offset: int, fill=NO_CHAR) -> tf.Tensor:
    """values[:, i - offset] at position i (`fill` beyond either end)."""
    width = tf.shape(values)[1]
    padded = tf.pad(values, [[0, 0], [abs(offset), abs(offset)]], constant_values=fill)
    return padded[:, abs(offset) - offset : abs(offset) - offset + width]


def _is_letter(codes: tf.Tensor) -> tf.Tensor:
    # ASCII letters after lower-casing, and any non-ASCII character from Latin-1 letters up (é, ß, ж, ...).
    return ((codes >= ord("a")) & (codes <= ord("z"))) | (codes >= 0xC0)


def _map_lookalikes(codes: tf.Tensor) -> tf.Tensor:
    ascii_codes = tf.clip_by_value(codes, 0, 127)
    is_ascii = (codes >= 0) & (codes < 128)
    letter = _is_letter(codes)
    left, right = _is_letter(_shift(codes, 1)), _is_letter(_shift(codes, -1))
    beside = tf.gather(_LOOKALIKE_TABLE, ascii_codes)
    between = tf.gather(_INNER_TABLE, ascii_codes)
    mapped = tf.where(is_ascii & ~letter & (left | right), beside, codes)
    return tf.where(is_ascii & ~letter & left & right & (between != codes), between, mapped)


def normalize_text(texts: tf.Tensor) -> tf.Tensor:
    """Raw strings (batch,) -> lower-cased strings with the obfuscations above undone."""
    codes = tf.strings.unicode_decode(tf.strings.lower(texts, encoding="utf-8"), "UTF-8", errors="replace")
    dense = codes.to_tensor(default_value=NO_CHAR)
    # Twice, so chains of look-alikes resolve from the letters inwards ("a$$" → "as$" → "ass").
    dense = _map_lookalikes(_map_lookalikes(dense))

    letter = _is_letter(dense)
    third_in_a_row = letter & tf.equal(dense, _shift(dense, 1)) & tf.equal(dense, _shift(dense, 2))

    alone = letter & ~_is_letter(_shift(dense, 1)) & ~_is_letter(_shift(dense, -1))
    separator = tf.reduce_any(tf.equal(dense[..., None], _SEPARATOR_CODES), axis=-1)
    between_lone_letters = separator & _shift(alone, 1, False) & _shift(alone, -1, False)
    spelt_out = between_lone_letters & (_shift(alone, 3, False) | _shift(alone, -3, False))

    keep = (dense != NO_CHAR) & ~third_in_a_row & ~spelt_out
    return tf.strings.unicode_encode(tf.ragged.boolean_mask(dense, keep), "UTF-8")


@keras.saving.register_keras_serializable(package="toxiguard")
class TextNormalizer(keras.layers.Layer):
    """`normalize_text` as a layer: the first step of the exported model and of the training featurizer."""

    def call(self, texts):
        return normalize_text(texts)

    def compute_output_spec(self, texts):
        return keras.KerasTensor(texts.shape, dtype="string")
