"""The in-graph normalization that undoes obfuscation, and the in-graph n-gram model that must equal scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from sklearn.feature_extraction.text import TfidfVectorizer

from toxiguard.training.ngram import NgramLinear, NgramModel, extract_features, fit_ngram_model
from toxiguard.training.normalize import normalize_text


def normalized(*texts: str) -> list[str]:
    return [t.decode() for t in normalize_text(tf.constant(list(texts))).numpy()]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("You 1d10t", "you idiot"),
        ("$h1t", "shit"),
        ("a$$hole", "asshole"),
        ("sh!t", "shit"),
        ("stuuuuupid", "stuupid"),
        ("i d i o t", "idiot"),
        ("f.u.c.k you", "fuck you"),
        ("r-e-t-a-r-d", "retard"),
    ],
)
def test_obfuscations_are_undone(raw, expected):
    assert normalized(raw) == [expected]


@pytest.mark.parametrize(
    "plain",
    ["i am a fan", "great! thanks", "good book", "see you at 10 am", "it costs $5", "", "!!!", "a b", "été à paris"],
)
def test_ordinary_text_is_only_lower_cased(plain):
    assert normalized(plain) == [plain]
    assert normalized(plain.upper()) == [plain.upper().lower()]


def test_texts_in_a_batch_do_not_affect_each_other():
    texts = ["x y z", "1d10t", "", "a" * 50, "i d i o t and more words here"]
    assert normalized(*texts) == [normalized(t)[0] for t in texts]


def test_invalid_utf8_is_replaced_not_an_error():
    (out,) = normalize_text(tf.constant([b"bad \xff byte"])).numpy()
    assert out.decode() == "bad \ufffd byte"


TEXTS = [
    "you are an idiot", "what an idiot", "idiot idiot idiot", "thanks for the help", "thanks, good edit",
    "the help page", "you stupid idiot", "good work on the page", "stupid edit", "help me with the edit",
]  # fmt: skip
INSULT, CLEAN = [1, 0, 0, 0, 1, 0], [0] * 6
LABELS = np.array([INSULT] * 3 + [CLEAN] * 3 + [[1, 0, 1, 0, 1, 0], CLEAN, [1, 0, 0, 0, 0, 0], CLEAN], dtype=np.uint8)


def test_ngram_layer_equals_scikit_learn_on_the_same_features():
    model = fit_ngram_model(TEXTS, LABELS)
    layer = NgramLinear(model)
    texts = [*TEXTS, "an unseen sentence entirely", "", "IDIOT!!"]
    in_graph = layer(normalize_text(tf.constant(texts))).numpy()

    vectorizer = TfidfVectorizer(analyzer=lambda f: f, vocabulary=list(model.features), sublinear_tf=True)
    vectorizer.idf_ = model.idf
    x = vectorizer.transform(extract_features(texts))
    expected = 1 / (1 + np.exp(-(x @ model.weights + model.bias)))
    np.testing.assert_allclose(in_graph, expected, atol=1e-5)
    assert in_graph[:, 0][:3].min() > in_graph[:, 0][3:6].max()  # it learned something


def test_ngram_model_saves_and_loads(tmp_path):
    model = fit_ngram_model(TEXTS, LABELS)
    model.save(tmp_path / "ngram.npz")
    loaded = NgramModel.load(tmp_path / "ngram.npz")
    np.testing.assert_array_equal(loaded.features, model.features)
    np.testing.assert_array_equal(loaded.weights, model.weights)


def test_ngram_layer_scores_inside_a_traced_function_with_any_batch_shape():
    layer = NgramLinear(fit_ngram_model(TEXTS, LABELS))
    traced = tf.function(lambda x: layer(normalize_text(x)), reduce_retracing=True)
    alone = np.vstack([traced(tf.constant([t])).numpy() for t in TEXTS[:4]])
    together = traced(tf.constant(TEXTS[:4])).numpy()
    np.testing.assert_allclose(alone, together, atol=1e-6)
