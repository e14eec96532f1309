"""The identity-bias metrics on small synthetic data whose AUCs can be worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toxiguard.training import fairness
from toxiguard.training.identity import IDENTITY_TERMS, IdentityTerm

GAY = IdentityTerm("gay", "sexual_orientation", "gay people", "a gay man", "gay", ("gay", "gays"))
MUSLIM = IdentityTerm("muslim", "religion", "Muslims", "a Muslim", "Muslim", ("muslim", "muslims"))
WOMEN = IdentityTerm("women", "gender", "women", "a woman", "", ("woman", "women"))
DEAF = IdentityTerm("deaf", "disability", "deaf people", "a deaf person", "deaf", ("deaf",))


def comments(mention: str, count: int) -> list[str]:
    return [f"comment {i} {mention}".strip() for i in range(count)]


def gay_and_background() -> tuple[list[str], np.ndarray, np.ndarray]:
    """30 background positives scored 0.6 and 30 negatives scored 0.2; the gay subgroup has 10 positives scored 0.6
    and 20 negatives, 10 scored 0.0 and 10 scored 0.2: a perfect ranking, every positive above every negative."""
    texts = comments("", 60) + comments("about gay people", 10) + comments("about Gays", 20)
    labels = np.array([1] * 30 + [0] * 30 + [1] * 10 + [0] * 20)
    scores = np.array([0.6] * 30 + [0.2] * 30 + [0.6] * 10 + [0.0] * 10 + [0.2] * 10)
    return texts, labels, scores


def test_subgroup_masks_mark_the_texts_mentioning_each_term():
    texts = ["Gay rights", "the gays", "gaydar", "Muslims and women", "nothing here"]
    masks = fairness.subgroup_masks(texts, [GAY, MUSLIM, WOMEN])
    assert masks["gay"].tolist() == [True, True, False, False, False]
    assert masks["muslim"].tolist() == [False, False, False, True, False]
    assert masks["women"].tolist() == [False, False, False, True, False]
    assert list(fairness.subgroup_masks(texts)) == [term.term for term in IDENTITY_TERMS]


def test_a_perfect_scorer_gets_1_everywhere():
    texts, labels, scores = gay_and_background()
    result = fairness.bias_metrics(texts, labels, scores, terms=[GAY])
    (gay,) = result["subgroups"]
    assert (gay["size"], gay["positives"]) == (30, 10)
    assert gay["subgroup_auc"] == gay["bpsn_auc"] == gay["bnsp_auc"] == 1.0
    assert result["power_means"] == {"subgroup_auc": 1.0, "bpsn_auc": 1.0, "bnsp_auc": 1.0}
    assert result["overall_auc"] == result["final_bias_metric"] == 1.0


def test_a_scorer_that_raises_subgroup_members_lowers_bpsn():
    """+0.5 for every gay member: its positives 1.1, negatives 0.5 and 0.7, around the background's 0.6 positives."""
    texts, labels, scores = gay_and_background()
    member = fairness.subgroup_masks(texts, [GAY])["gay"]
    result = fairness.bias_metrics(texts, labels, scores + 0.5 * member, terms=[GAY])
    (gay,) = result["subgroups"]
    assert gay["subgroup_auc"] == 1.0  # the same shift for all members keeps their order
    assert gay["bpsn_auc"] == 0.5  # background positives (0.6) beat the 0.5 negatives, lose to the 0.7 ones
    assert gay["bnsp_auc"] == 1.0  # subgroup positives (1.1) above background negatives (0.2)
    # Overall: of 40 × 50 pairs only background positive (0.6) vs subgroup negative (0.7) is wrong: 30 × 10.
    assert result["overall_auc"] == pytest.approx(1 - 300 / 2000)
    assert result["final_bias_metric"] == pytest.approx(0.25 * 0.85 + 0.25 * (1.0 + 0.5 + 1.0))


def test_power_mean_matches_a_hand_computation():
    # ((0.9^-5 + 0.6^-5) / 2)^(-1/5) = ((1.693509 + 12.860082) / 2)^(-0.2) = 7.276796^(-0.2)
    assert fairness.power_mean([0.9, 0.6]) == pytest.approx(0.672376, abs=1e-6)
    assert fairness.power_mean([0.8, 0.8, 0.8]) == pytest.approx(0.8)
    assert fairness.power_mean([0.9, 0.0]) == 0.0  # a subgroup ranked exactly backwards sinks the mean
    assert fairness.power_mean([0.9, 0.6], power=1) == pytest.approx(0.75)


def test_the_power_means_summarise_several_subgroups_and_sort_worst_first():
    texts, labels, scores = gay_and_background()
    # A muslim subgroup ranked half wrong: 10 positives and 20 negatives all scored 0.4 give an AUC of 0.5.
    texts += comments("about muslims", 30)
    labels = np.concatenate([labels, [1] * 10 + [0] * 20])
    scores = np.concatenate([scores, [0.4] * 30])
    result = fairness.bias_metrics(texts, labels, scores, terms=[GAY, MUSLIM])
    assert [s["term"] for s in result["subgroups"]] == ["muslim", "gay"]
    assert result["power_means"]["subgroup_auc"] == pytest.approx(fairness.power_mean([0.5, 1.0]))


def test_small_and_one_sided_subgroups_are_skipped_with_their_reasons():
    texts, labels, scores = gay_and_background()
    texts += comments("about muslims", 12) + comments("about women", 40) + comments("deaf", 40)
    labels = np.concatenate([labels, [1] * 6 + [0] * 6, [0] * 40, [1] * 37 + [0] * 3])
    scores = np.concatenate([scores, [0.5] * 92])
    result = fairness.bias_metrics(texts, labels, scores, terms=[GAY, MUSLIM, WOMEN, DEAF])

    assert [s["term"] for s in result["subgroups"]] == ["gay"]
    skipped = {s["term"]: s for s in result["skipped"]}
    assert skipped["muslim"] == {
        "term": "muslim", "category": "religion", "size": 12, "positives": 6, "reason": "fewer than 30 members",
    }  # fmt: skip
    assert skipped["women"]["reason"] == "fewer than 5 positives"  # all negative: no AUC is possible
    assert skipped["women"]["positives"] == 0
    assert skipped["deaf"]["reason"] == "fewer than 5 negatives"
    assert result["settings"] == {"power": -5, "min_size": 30, "min_positives": 5, "min_negatives": 5, "label": "toxic"}

    looser = fairness.bias_metrics(texts, labels, scores, terms=[MUSLIM], min_size=10, label="insult")
    assert [s["term"] for s in looser["subgroups"]] == ["muslim"]
    assert looser["settings"]["min_size"] == 10 and looser["settings"]["label"] == "insult"


def test_without_a_scorable_subgroup_there_is_no_final_metric():
    texts, labels, scores = gay_and_background()
    result = fairness.bias_metrics(texts, labels, scores, terms=[MUSLIM])
    assert result["subgroups"] == [] and result["skipped"][0]["reason"] == "fewer than 30 members"
    assert result["final_bias_metric"] is None
    assert result["power_means"] == {"subgroup_auc": None, "bpsn_auc": None, "bnsp_auc": None}
    assert "no subgroup" in result["note"]
    assert result["overall_auc"] == 1.0


def test_the_result_is_plain_json():
    texts, labels, scores = gay_and_background()
    result = fairness.bias_metrics(texts, labels, scores, terms=[GAY, MUSLIM])
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize(
    ("labels", "message"),
    [([1, 0, 2], "0 or 1"), ([1, 1, 1], "both positive and negative"), ([1, 0], "3 texts")],
)
def test_malformed_labels_are_refused(labels, message):
    with pytest.raises(ValueError, match=message):
        fairness.bias_metrics(["a", "b", "c"], np.array(labels), np.array([0.1, 0.2, 0.3]), terms=[GAY])


def test_markdown_lists_the_scored_terms_the_means_and_the_skipped():
    texts, labels, scores = gay_and_background()
    texts += comments("about muslims", 12)
    labels, scores = np.concatenate([labels, [1] * 6 + [0] * 6]), np.concatenate([scores, [0.6] * 6 + [0.2] * 6])
    markdown = fairness.render_bias_markdown(fairness.bias_metrics(texts, labels, scores, terms=[GAY, MUSLIM]), "Bias")

    assert markdown.startswith("## Bias\n")
    assert "| gay | sexual_orientation | 30 | 10 | 1.0000 | 1.0000 | 1.0000 |" in markdown
    assert "Final bias metric: **1.0000**" in markdown
    assert "Skipped: muslim (12 members, 6 positives: fewer than 30 members)." in markdown


def test_markdown_without_a_scored_subgroup_says_why():
    texts, labels, scores = gay_and_background()
    markdown = fairness.render_bias_markdown(fairness.bias_metrics(texts, labels, scores, terms=[MUSLIM]), "Bias")
    assert "No power means or final bias metric: no subgroup" in markdown


def test_plot_is_a_png_with_a_panel_per_model(tmp_path):
    texts, labels, scores = gay_and_background()
    texts += comments("about muslims", 30)
    labels, scores = np.concatenate([labels, [1] * 10 + [0] * 20]), np.concatenate([scores, [0.4] * 30])
    results = {
        "bilstm": fairness.bias_metrics(texts, labels, scores, terms=[GAY, MUSLIM]),
        "shipped": fairness.bias_metrics(texts, labels, scores, terms=[GAY]),  # a subgroup only one model scored
    }
    path = tmp_path / "bias.png"
    fairness.plot_bias(results, path)
    assert path.read_bytes().startswith(b"\x89PNG")
