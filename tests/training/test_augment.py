"""The training-data steps: identity balance, identity frames, group statements, templates, obfuscation."""

from __future__ import annotations

import numpy as np
import pytest

from toxiguard.config import LABELS
from toxiguard.training import augment, functional, identity
from toxiguard.training.data import LabelledData, load_labelled

TOXIC, HATE, THREAT = (LABELS.index(n) for n in ("toxic", "identity_hate", "threat"))


def rows(*pairs: tuple[str, list[int]]) -> tuple[list[str], np.ndarray]:
    return [t for t, _ in pairs], np.array([labels for _, labels in pairs], dtype=np.uint8)


CLEAN, TOXIC_ROW = [0] * 6, [1, 0, 0, 0, 1, 0]


def test_identity_balance_adds_clean_swaps_for_terms_mostly_seen_in_toxic_comments():
    texts, labels = rows(
        *[(f"the gay editor {i} is a fool", TOXIC_ROW) for i in range(6)],
        *[(f"my lesbian friend wrote section {i}", CLEAN) for i in range(4)],
        *[(f"plain comment {i}", CLEAN) for i in range(30)],
    )
    added, summary = augment.identity_balance(texts, labels, np.random.default_rng(0))
    gay = identity.by_term()["gay"]
    assert summary["terms"]["gay"]["toxic"] == 6 and summary["terms"]["gay"]["added"] == len(added) > 0
    assert all(identity.mentions(gay, text) and "lesbian" not in text for text in added)


def test_identity_frames_keep_the_labels_and_mention_an_identity():
    texts, labels = rows(*[(f"comment {i}", TOXIC_ROW if i % 2 else CLEAN) for i in range(100)])
    framed, framed_labels, summary = augment.identity_frames(texts, labels, np.random.default_rng(0))
    assert summary["rows"] == len(framed) == 12
    for text, row in zip(framed, framed_labels, strict=True):
        original = int(text.split("comment ")[1].split(".")[0].split(" ")[0])
        assert list(row) == list(labels[original])
        assert any(identity.mentions(term, text) for term in identity.IDENTITY_TERMS)


def test_group_statements_label_hate_at_protected_groups_only():
    texts, labels, summary = augment.group_statements(np.random.default_rng(3), 600)
    assert sum(summary["kinds"].values()) == len(texts) == 600 and summary["kinds"]["mention"] > 0
    negation_openings = [frame.split("{")[0] for frame in augment.NEGATION_FRAMES if not frame.startswith("{")]
    hateful = augment.CONTEMPT_PREDICATES + augment.DEHUMANISING_PREDICATES + augment.VIOLENT_PREDICATES
    for text, row in zip(texts, labels, strict=True):
        unprotected = any(group in text.lower() for group in augment.UNPROTECTED_GROUPS)
        negated = any(text.startswith(opening) for opening in negation_openings)
        if any(predicate in text for predicate in hateful) and not negated:
            assert row[TOXIC] and row[HATE] == (not unprotected), text
        else:
            assert not row.any(), text
    assert labels[:, THREAT].sum() > 0 and all(labels[labels[:, THREAT] == 1, TOXIC])


def test_obfuscated_copies_keep_labels_and_change_the_text(fixtures):
    data = load_labelled(fixtures / "train_small.csv")
    texts = data.texts * 20  # enough rows for words to pass the frequency floor
    labels = np.vstack([data.labels] * 20)
    copies, copy_labels, summary = augment.obfuscated_copies(texts, labels, np.random.default_rng(0))
    assert summary["rows"] == len(copies) == len(copy_labels) > 0
    assert not set(copies) & set(texts)
    assert copy_labels[:, TOXIC].sum() > 0 and (copy_labels[:, TOXIC] == 0).sum() > 0


@pytest.mark.parametrize("obfuscate", augment.WORD_OBFUSCATIONS)
def test_every_word_obfuscation_changes_a_word(obfuscate):
    rng = np.random.default_rng(0)
    assert obfuscate("stupid", rng) != "stupid"


@pytest.mark.parametrize("suite_templates", [False, True])
def test_augmented_training_never_contains_a_held_out_suite_case(fixtures, suite_templates):
    data = load_labelled(fixtures / "train_small.csv")
    augmented, summary = augment.augment(data, seed=1, suite_templates=suite_templates)
    heldout = {case.text for case in functional.load_suite() if case.split == functional.HELDOUT}
    assert not heldout & set(augmented.texts)
    assert (summary["templates"]["rows"] > 0) == suite_templates
    assert summary["rows_after"] == len(augmented) == len(augmented.labels) == len(augmented.ids)
    assert summary["rows_after"] == len(data) + sum(summary[kind]["rows"] for kind in augment.AUGMENTATION_KINDS)
    assert augmented.texts[: len(data)] == data.texts and isinstance(augmented, LabelledData)
