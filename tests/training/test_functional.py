"""The functional test suite (data, splits, scoring, training examples) and the identity lexicon it fills slots from."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import numpy as np
import pytest

from toxiguard.config import LABELS
from toxiguard.training import functional
from toxiguard.training.functional import (
    ABUSE_INDIVIDUAL,
    ALLOW,
    ANY,
    COUNTER_SPEECH,
    FLAG,
    FUNCTIONALITIES,
    HELDOUT,
    IDENTITY_NEUTRAL,
    NEGATED_HATE,
    OBFUSCATION_CLEAN,
    OBFUSCATION_KINDS,
    PROFANITY_UNTARGETED,
    SUITE_FILE,
    TRAIN,
    Case,
)
from toxiguard.training.identity import CATEGORIES, IDENTITY_TERMS, by_term, mentions

THRESHOLDS = dict.fromkeys(LABELS, 0.5)


@pytest.fixture(scope="module")
def suite() -> list[Case]:
    return functional.generate_suite()


def perfect_scores(cases: list[Case]) -> np.ndarray:
    """Scores that raise exactly the labels each case lists as 1 (toxic when a FLAG case lists none)."""
    scores = np.zeros((len(cases), len(LABELS)))
    for row, case in zip(scores, cases, strict=True):
        for label, value in case.labels.items():
            row[LABELS.index(label)] = value
        if case.expected == FLAG and not row.any():
            row[LABELS.index("toxic")] = 1
    return scores


def make_case(
    case_id: str,
    functionality: str,
    expected: str,
    labels: dict[str, int],
    split: str = HELDOUT,
    obfuscation: str | None = None,
    source_case: str | None = None,
) -> Case:
    return Case(case_id, functionality, case_id, split, case_id, expected, labels, None, obfuscation, source_case)


# The committed data


def test_the_committed_suite_is_what_the_generator_writes(suite, tmp_path):
    assert functional.load_suite() == suite
    functional.write_suite(suite, tmp_path / "suite.jsonl")
    assert (tmp_path / "suite.jsonl").read_bytes() == SUITE_FILE.read_bytes()


def test_the_main_writes_the_suite_where_asked(tmp_path, capsys):
    out = tmp_path / "nested" / "suite.jsonl"
    assert functional.main(["--out", str(out)]) == 0
    assert out.read_bytes() == SUITE_FILE.read_bytes()
    assert str(out) in capsys.readouterr().out


def test_the_suite_is_large_varied_and_free_of_duplicates(suite):
    assert len(suite) >= 1500
    assert len({case.term for case in suite if case.term is not None}) >= 40
    assert len({case.text for case in suite}) == len(suite)
    assert len({case.id for case in suite}) == len(suite)
    for functionality in FUNCTIONALITIES:
        assert {case.split for case in suite if case.functionality == functionality} == {HELDOUT, TRAIN}, functionality


def test_every_identity_term_fills_the_identity_templates(suite):
    used = {case.term for case in suite if case.functionality == IDENTITY_NEUTRAL}
    assert used == {term.term for term in IDENTITY_TERMS}


def test_splits_share_no_text_and_no_template(suite):
    texts = {split: {case.text for case in suite if case.split == split} for split in (HELDOUT, TRAIN)}
    assert not texts[HELDOUT] & texts[TRAIN]
    splits_of = defaultdict(set)
    for case in suite:
        splits_of[case.template_id].add(case.split)
    assert all(len(splits) == 1 for splits in splits_of.values())


def test_about_forty_percent_of_the_templates_are_held_out():
    templates = functional.templates()
    share = sum(t.split == HELDOUT for t in templates) / len(templates)
    assert 0.35 <= share <= 0.45
    for functionality in {t.functionality for t in templates}:
        assert sum(t.functionality == functionality for t in templates) >= 6, functionality


def test_held_out_templates_are_not_near_copies_of_train_ones():
    """Word overlap (Jaccard, slots left out) between a held-out and a train template of one functionality stays
    under a half: a held-out template is a new sentence, not a train one with a word swapped."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z']+", re.sub(r"\{\w+\}", " ", text.lower())))

    templates = functional.templates()
    for held in (t for t in templates if t.split == HELDOUT):
        for train in (t for t in templates if t.split == TRAIN and t.functionality == held.functionality):
            overlap = len(words(held.text) & words(train.text)) / len(words(held.text) | words(train.text))
            assert overlap < 0.5, (held.text, train.text)


def test_held_out_obfuscation_sentences_use_their_own_toxic_words():
    marked = defaultdict(set)
    for template in functional.templates():
        if template.functionality == OBFUSCATION_CLEAN:
            marked[template.split] |= set(re.findall(r"\[(\w+)\]", template.text))
    assert marked[HELDOUT] and marked[TRAIN] and not marked[HELDOUT] & marked[TRAIN]


def test_identity_cases_mention_their_term(suite):
    """The lexicon's patterns cover the template fillers, so bias metrics find these sentences too. Slurs name their
    group without its word."""
    terms = by_term()
    for case in suite:
        if case.term is not None and case.functionality != functional.HATE_SLUR:
            assert mentions(terms[case.term], case.text), case.text


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("leetspeak", "You are an 1d10t."),
        ("swapped_letters", "You are an idoit."),
        ("deleted_letter", "You are an idot."),
        ("doubled_letters", "You are an idiiiot."),
        ("added_spaces", "You are an i d i o t."),
        ("removed_spaces", "Youareanidiot."),
        ("masked_letters", "You are an id**t."),
    ],
)
def test_obfuscation_changes_only_the_marked_words(kind, expected):
    assert functional.obfuscate("You are an [idiot].", kind) == expected


def test_obfuscation_handles_several_words_and_both_spellings_of_a_letter():
    assert functional.obfuscate("[fuck] this [asshole]", "masked_letters") == "f*ck this assh*le"
    assert functional.obfuscate("[asshole]", "leetspeak") == "4$5h0l3"


def test_every_obfuscated_case_points_at_its_clean_source(suite):
    by_id = {case.id: case for case in suite}
    obfuscated = [case for case in suite if case.obfuscation is not None]
    assert {case.obfuscation for case in obfuscated} == set(OBFUSCATION_KINDS)
    for case in obfuscated:
        source = by_id[case.source_case]
        assert source.functionality == OBFUSCATION_CLEAN and source.obfuscation is None
        assert (case.functionality, case.expected) == (f"obfuscation_{case.obfuscation}", FLAG)
        assert (case.split, case.template_id, case.labels) == (source.split, source.template_id, source.labels)
        assert case.text != source.text


# Scoring


def test_a_perfect_scorer_meets_every_target(suite):
    report = functional.evaluate_suite(suite, perfect_scores(suite), THRESHOLDS)
    json.dumps(report)
    assert all(target["met"] for target in report["targets"].values()), report["targets"]
    assert set(report["targets"]) >= {f"obfuscation_{kind}_retention" for kind in OBFUSCATION_KINDS}
    for split in (HELDOUT, TRAIN):
        assert set(report["pass_rates"][split]) == set(FUNCTIONALITIES)
        assert all(entry["pass_rate"] == 1.0 for entry in report["pass_rates"][split].values())
    assert all(target["met"] for target in report["train_split"]["targets"].values())
    assert report["identity_neutral_flag_rate"]["max_term_flag_rate"] == 0.0
    assert len(report["identity_neutral_flag_rate"]["per_term"]) == len(IDENTITY_TERMS)


def test_a_scorer_that_flags_everything_fails_the_neutral_and_negation_targets(suite):
    report = functional.evaluate_suite(suite, np.ones((len(suite), len(LABELS))), THRESHOLDS)
    targets = report["targets"]
    for name in (
        "identity_neutral_flag_rate",
        "identity_neutral_max_term_flag_rate",
        "negated_hate_not_flagged_rate",
        "counter_speech_not_flagged_rate",
    ):
        assert not targets[name]["met"], name
    assert targets["identity_neutral_flag_rate"]["value"] == 1.0
    assert targets["group_hate_flag_rate"]["met"] and targets["group_hate_identity_hate_rate"]["met"]
    assert report["negation_counter_speech"][COUNTER_SPEECH]["not_flagged_rate"] == 0.0


def test_a_scorer_blind_to_obfuscation_retains_nothing(suite):
    scores = perfect_scores(suite)
    scores[[case.obfuscation is not None for case in suite]] = 0.0
    report = functional.evaluate_suite(suite, scores, THRESHOLDS)
    for kind in OBFUSCATION_KINDS:
        figures = report["obfuscation"][kind]
        assert (figures["recall"], figures["clean_recall"], figures["retention"]) == (0.0, 1.0, 0.0)
        assert not report["targets"][f"obfuscation_{kind}_retention"]["met"]
    assert report["targets"]["group_hate_flag_rate"]["met"]


def test_pass_rates_on_hand_made_cases():
    cases = [
        make_case("calm", IDENTITY_NEUTRAL, ALLOW, {}),
        make_case("calm but flagged", IDENTITY_NEUTRAL, ALLOW, {}),
        make_case("insult", ABUSE_INDIVIDUAL, FLAG, {"insult": 1}),
        make_case("insult taken for hate", ABUSE_INDIVIDUAL, FLAG, {"insult": 1, "identity_hate": 0}),
        make_case("swearing", PROFANITY_UNTARGETED, ANY, {"obscene": 1}, split=TRAIN),
        make_case("swearing missed", PROFANITY_UNTARGETED, ANY, {"obscene": 1}, split=TRAIN),
        make_case("swearing also called toxic", PROFANITY_UNTARGETED, ANY, {"obscene": 1}, split=TRAIN),
    ]
    toxic, obscene, insult, hate = (LABELS.index(name) for name in ("toxic", "obscene", "insult", "identity_hate"))
    scores = np.zeros((len(cases), len(LABELS)))
    scores[1, toxic] = 0.5  # a score equal to the threshold flags
    scores[2, insult] = 0.9
    scores[3, [insult, hate]] = 0.9
    scores[4, obscene] = 0.7
    scores[6, [toxic, obscene]] = 0.8
    report = functional.evaluate_suite(cases, scores, THRESHOLDS)
    assert report["pass_rates"] == {
        HELDOUT: {IDENTITY_NEUTRAL: {"cases": 2, "pass_rate": 0.5}, ABUSE_INDIVIDUAL: {"cases": 2, "pass_rate": 0.5}},
        TRAIN: {PROFANITY_UNTARGETED: {"cases": 3, "pass_rate": pytest.approx(2 / 3)}},
    }
    assert report["identity_neutral_flag_rate"]["flag_rate"] == 0.5
    assert report["group_hate"] == {"cases": 0, "flag_rate": None, "identity_hate_rate": None}
    assert not report["targets"]["group_hate_flag_rate"]["met"]  # nothing measured, nothing met


def test_retention_divides_obfuscated_recall_by_clean_recall():
    clean = [make_case(f"clean {i}", OBFUSCATION_CLEAN, FLAG, {}) for i in range(4)]
    masked = [
        make_case(f"masked {i}", "obfuscation_masked_letters", FLAG, {}, obfuscation="masked_letters", source_case=c.id)
        for i, c in enumerate(clean)
    ]
    scores = np.zeros((8, len(LABELS)))
    scores[[0, 1, 2, 4], 0] = 1.0  # three of four clean sentences caught, one of their obfuscated copies
    report = functional.evaluate_suite(clean + masked, scores, THRESHOLDS)
    assert report["obfuscation"]["masked_letters"] == {
        "cases": 4,
        "recall": 0.25,
        "clean_recall": 0.75,
        "retention": pytest.approx(1 / 3),
    }


def test_scores_of_the_wrong_shape_or_missing_thresholds_are_refused(suite):
    with pytest.raises(ValueError, match="shape"):
        functional.evaluate_suite(suite, np.zeros((3, len(LABELS))), THRESHOLDS)
    with pytest.raises(ValueError, match="threat"):
        functional.evaluate_suite(suite, perfect_scores(suite), {k: v for k, v in THRESHOLDS.items() if k != "threat"})


# Training examples


def test_training_examples_refuse_held_out_cases(suite):
    with pytest.raises(ValueError, match="train-split cases only"):
        functional.training_examples(suite)


def test_training_examples_carry_the_documented_labels(suite):
    train = [case for case in suite if case.split == TRAIN]
    texts, rows = functional.training_examples(train)
    assert texts == [case.text for case in train] and rows.shape == (len(train), len(LABELS))
    labels_of = {case.id: {LABELS[j] for j in np.flatnonzero(row)} for case, row in zip(train, rows, strict=True)}
    expected = {
        IDENTITY_NEUTRAL: set(),
        functional.IDENTITY_POSITIVE: set(),
        NEGATED_HATE: set(),
        COUNTER_SPEECH: set(),
        functional.HATE_DEROGATION: {"toxic", "insult", "identity_hate"},
        functional.HATE_DEHUMANISATION: {"toxic", "insult", "identity_hate"},
        functional.HATE_SLUR: {"toxic", "insult", "identity_hate"},
        functional.HATE_THREAT: {"toxic", "threat", "identity_hate"},
        ABUSE_INDIVIDUAL: {"toxic", "insult"},
        functional.ABUSE_NONPROTECTED: {"toxic", "insult"},
        PROFANITY_UNTARGETED: {"toxic", "obscene"},
    }
    for case in train:
        if case.functionality in expected:
            assert labels_of[case.id] == expected[case.functionality], case.id
        elif case.obfuscation is not None:
            assert labels_of[case.id] == labels_of[case.source_case], case.id
        else:
            assert labels_of[case.id] == {"toxic"} | {k for k, v in case.labels.items() if v}, case.id
        # The rows never contradict what the suite judges.
        assert all((label in labels_of[case.id]) == bool(value) for label, value in case.labels.items()), case.id


# Loading


def test_load_suite_names_the_file_and_line_of_a_bad_line(suite, tmp_path):
    path = tmp_path / "suite.jsonl"
    functional.write_suite(suite[:2], path)
    good = path.read_text()
    path.write_text(good + "{not json\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: not valid JSON")):
        functional.load_suite(path)
    record = json.loads(good.splitlines()[0]) | {"id": "fresh", "expected": "maybe"}
    path.write_text(good + json.dumps(record) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: expected must be one of")):
        functional.load_suite(path)
    path.write_text(good + good.splitlines()[1] + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: duplicate case id")):
        functional.load_suite(path)


# The identity lexicon


def test_the_lexicon_covers_every_category_with_unique_terms():
    terms = [term.term for term in IDENTITY_TERMS]
    assert len(terms) >= 48 and len(set(terms)) == len(terms)
    assert {term.category for term in IDENTITY_TERMS} == set(CATEGORIES)
    assert by_term()["muslim"].group == "Muslims"


def test_each_term_mentions_itself_in_its_template_forms():
    for term in IDENTITY_TERMS:
        for form in (term.group, term.person, term.adjective):
            assert not form or mentions(term, form), (term.term, form)


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("muslim", "Muslims pray five times a day.", True),
        ("muslim", "MUSLIM community", True),
        ("gay", "the gayety of the carnival", False),
        ("black", "I grew up in Blackburn.", False),
        ("native american", "Native\n  Americans live here", True),
        ("wheelchair users", "for wheelchair\tusers", True),
        ("nonbinary", "my non-binary friend", True),
        ("blind", "a blind spot in the review", False),
    ],
)
def test_mentions_match_whole_words_case_insensitively(term, text, found):
    assert mentions(by_term()[term], text) is found
