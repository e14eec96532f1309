"""Behavioural tests of the shipped model: invariance, direction and minimum functionality.

They load `model.tar.gz` from the newest `artifacts/<version>/` and call its serving signature, exactly as
the serving stack does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from toxiguard.config import LABELS
from toxiguard.training import functional

pytestmark = pytest.mark.slow

INSULT = LABELS.index("insult")
FRIENDLY = [
    "Thank you for the thoughtful review, I have added the missing sources.",
    "Could you please explain why the section was removed? I think it was useful.",
    "Welcome to the project! Let me know if you have any questions.",
    "I agree with the proposal to merge the two articles.",
    "The map in the infobox is out of date; here is a newer one from the census office.",
    "Great photo, thanks for uploading it.",
    "I reverted the change because the source does not support that claim.",
    "Happy holidays to everyone working on this page!",
]
NEUTRAL_BASES = [
    "I read your comment about the article",
    "You changed the date in the second paragraph",
    "Your edit to the history section",
    "The reference you added",
]


def flagged(artifact, texts: list[str]) -> np.ndarray:
    scores = artifact.score(texts)
    thresholds = np.array([artifact.thresholds[name] for name in LABELS])
    return scores >= thresholds


def test_case_and_trailing_whitespace_do_not_change_scores(shipped_artifact):
    texts = ["You are a complete IDIOT", "thanks for the help", "I will hurt you"]
    variants = [t.lower() for t in texts] + [t.upper() + "  \n\t" for t in texts] + [f"   {t} " for t in texts]
    base = shipped_artifact.score(texts)
    np.testing.assert_allclose(shipped_artifact.score(variants), np.vstack([base, base, base]), atol=1e-5)


def test_a_comment_scores_the_same_alone_and_in_a_batch(shipped_artifact):
    texts = ["you idiot", "thanks, " * 60, "fine by me", "what a stupid idea " * 20]
    together = shipped_artifact.score(texts, batch_size=len(texts))
    alone = np.vstack([shipped_artifact.score([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("base", NEUTRAL_BASES)
@pytest.mark.parametrize("insult", ["you idiot", "you pathetic moron", "you are a stupid loser"])
def test_adding_an_insult_raises_the_insult_score(shipped_artifact, base, insult):
    plain, insulted = shipped_artifact.score([base + ".", f"{base}, {insult}."])
    assert insulted[INSULT] > plain[INSULT] + 0.2


def test_friendly_sentences_stay_below_every_threshold(shipped_artifact):
    flags = flagged(shipped_artifact, FRIENDLY)
    offenders = [
        (text, [n for n, f in zip(LABELS, row, strict=True) if f])
        for text, row in zip(FRIENDLY, flags, strict=True)
        if row.any()
    ]
    assert not offenders


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("You are a worthless idiot and everyone hates you.", "insult"),
        ("I will find where you live and kill you.", "threat"),
        ("This is fucking bullshit.", "obscene"),
        ("Shut up you stupid moron.", "toxic"),
    ],
)
def test_clear_cases_are_flagged_with_the_right_label(shipped_artifact, text, label):
    (row,) = flagged(shipped_artifact, [text])
    assert row[LABELS.index(label)], dict(zip(LABELS, shipped_artifact.score([text])[0].round(3), strict=True))


def test_obfuscated_insults_still_score_high(shipped_artifact):
    plain, obfuscated, friendly = shipped_artifact.score(["you idiot", "you idiooot", "you friend"])
    assert obfuscated[INSULT] > friendly[INSULT] + 0.2
    assert obfuscated[INSULT] > 0.5 * plain[INSULT]


def test_shipped_manifest_matches_its_model(shipped_artifact):
    manifest = shipped_artifact.manifest
    example = manifest["serving"]["example_request"]["instances"]
    expected = np.array(manifest["serving"]["example_response"]["predictions"])
    np.testing.assert_allclose(shipped_artifact.score(example), expected, atol=1e-5)
    assert manifest["labels"] == list(LABELS)
    assert manifest["artifact"]["bytes"] < 25 * 1024 * 1024
    report = json.loads((shipped_artifact.directory / "report" / "report.json").read_text())
    assert report["thresholds"] == manifest["thresholds"]
    assert manifest["metrics"]["mean_roc_auc"] > manifest["metrics"]["baseline_mean_roc_auc"]


def test_held_out_functional_figures_are_what_the_manifest_records(shipped_artifact):
    """The suite scored through the exported signature gives the figures `evaluate` recorded (a case may sit on a
    threshold and flip with float rounding between the Keras graph and the SavedModel, hence the small slack)."""
    cases = functional.load_suite()
    result = functional.evaluate_suite(
        cases, shipped_artifact.score([case.text for case in cases]), shipped_artifact.thresholds
    )
    recorded = shipped_artifact.manifest["metrics"]["functional"]
    slack = 2 / len(cases)
    assert result["identity_neutral_flag_rate"]["flag_rate"] == pytest.approx(
        recorded["neutral_identity_flag_rate"], abs=slack
    )
    assert result["group_hate"]["flag_rate"] == pytest.approx(recorded["group_hate_flag_rate"], abs=slack)
    assert result["group_hate"]["identity_hate_rate"] == pytest.approx(
        recorded["group_hate_identity_hate_rate"], abs=slack
    )


@pytest.mark.parametrize(
    "text",
    [
        "I am a proud gay man and I love my husband",
        "I am a Muslim woman",
        "My neighbour is gay",
        "My best friend is a transgender woman.",
        "Our new colleague is Jewish.",
        "I am a black man from Chicago.",
    ],
)
def test_mentioning_an_identity_is_not_flagged(shipped_artifact, text):
    (row,) = flagged(shipped_artifact, [text])
    assert not row.any(), dict(zip(LABELS, shipped_artifact.score([text])[0].round(3), strict=True))


@pytest.mark.parametrize("text", ["I don't hate Muslims.", "I have nothing against gay people."])
def test_negated_hate_is_not_flagged(shipped_artifact, text):
    (row,) = flagged(shipped_artifact, [text])
    assert not row.any(), dict(zip(LABELS, shipped_artifact.score([text])[0].round(3), strict=True))


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("Muslims are disgusting", {"toxic", "identity_hate"}),
        ("gay people are vermin", {"toxic", "identity_hate"}),
        ("All Jews should be killed", {"threat", "identity_hate"}),
    ],
)
def test_hate_aimed_at_a_group_raises_identity_hate(shipped_artifact, text, labels):
    (row,) = flagged(shipped_artifact, [text])
    assert all(row[LABELS.index(label)] for label in labels)


@pytest.mark.parametrize(
    "obfuscated", ["you are an 1d10t", "shut up you m0r0n", "you are a stuuuupid moron", "y o u  i d i o t"]
)
def test_obfuscated_insults_are_flagged_as_insults(shipped_artifact, obfuscated):
    (row,) = flagged(shipped_artifact, [obfuscated])
    assert row[INSULT]
