"""The model card section of the evaluation report (Mitchell et al. 2019): what the model is for, what it is not
for, what it learned from, and the failure modes measured in this very report, with their rates."""

from __future__ import annotations

from toxiguard.config import LABELS

INTENDED_USE = [
    "Scoring English comments on a community platform for six kinds of toxicity (the Jigsaw labels), so that"
    " moderators see the likely problems first: a triage aid with a human in the loop.",
    "Run by the platform itself (its own AWS account, or one machine), so comments never leave it.",
    "Blocking a comment before a moderator sees it only where a label's score reaches its block threshold, chosen"
    " for at least 95% precision on the validation split and the test file; everything else that is flagged waits"
    " for review, and with the review queue on, blocked comments are queued too, so a moderator can overturn a block.",
]
OUT_OF_SCOPE = [
    "Removing content for good or sanctioning people without human review: even at the block thresholds about one"
    " blocked comment in twenty may be wrong, and the failure rates below are far from zero.",
    "Languages other than English, and text that is not a conversational comment (names, search queries, code).",
    "Deciding what is legal, or hate speech in a legal sense; the labels are raters' judgements of Wikipedia"
    " talk-page comments from around 2017.",
    "Comparing scores across labels: each label has its own threshold, chosen on validation data.",
]
TRAINING_DATA = [
    "52,416 rows of the Jigsaw Toxic Comment Classification Challenge training set (English Wikipedia talk pages,"
    " labelled by crowd raters; data CC0, comment text CC BY-SA 3.0), assembled from public copies.",
    "Skews: the rows are a non-random, toxic-enriched sample (about 23% have a positive label against about 10% in"
    " the full set), so thresholds over-flag at the real base rate; `threat` and `identity_hate` have few positives;"
    " in the raw data, mentions of some identities (gay, muslim, black, ...) come mostly in toxic comments, which"
    " teaches a model that the identity itself is toxic.",
    "Added for training only: counterfactual identity swaps of non-toxic comments (towards each term's base toxic"
    " rate), copies of comments framed by an identity mention (labels unchanged), composed sentences about"
    " protected and unprotected groups (benign, negated and hateful predicates sharing the same frames), and"
    " randomly obfuscated copies of comments. The functional suite's sentences are not trained on.",
    "No pretrained embeddings or external models: every weight is learned from the rows above.",
]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def failure_modes(report: dict) -> list[str]:
    """Measured failure rates of the shipped model, from the report's own numbers."""
    shipped = report["thresholded_model"]
    lines = []
    functional = report.get("functional", {}).get(shipped)
    if functional:
        neutral = functional["identity_neutral_flag_rate"]
        worst = sorted(neutral["per_term"].items(), key=lambda item: -(item[1]["flag_rate"] or 0))[:3]
        lines.append(
            f"Flags {_percent(neutral['flag_rate'])} of neutral or positive sentences that mention an identity"
            f" (held-out templates); worst terms: "
            + ", ".join(f"{term} {_percent(entry['flag_rate'])}" for term, entry in worst)
            + "."
        )
        hate = functional["group_hate"]
        lines.append(
            f"Misses {_percent(1 - hate['flag_rate'])} of plainly hateful sentences aimed at a group, and raises"
            f" `identity_hate` on only {_percent(hate['identity_hate_rate'])} of them."
        )
        speech = functional["negation_counter_speech"]
        lines.append(
            f'Flags {_percent(1 - speech["negated_hate"]["not_flagged_rate"])} of negated hate ("I don\'t hate X")'
            f" and {_percent(1 - speech['counter_speech']['not_flagged_rate'])} of counter-speech that quotes hate"
            " to reject it."
        )
        retention = {kind: entry["retention"] for kind, entry in functional["obfuscation"].items()}
        weakest = sorted(retention.items(), key=lambda item: item[1])[:3]
        lines.append(
            "Obfuscated spellings keep this share of the clean recall: "
            + ", ".join(f"{kind} {_percent(value)}" for kind, value in weakest)
            + " (the weakest kinds)."
        )
    block = report.get("block")
    if block:
        never = [name for name, threshold in block["thresholds"].items() if threshold is None]
        for key, counts in block["actions"].items():
            if counts["block_precision"] is not None:
                lines.append(
                    f"Blocks {counts['block']} comments of {block['data'][key]}, of which"
                    f" {_percent(1 - counts['block_precision'])} carry no label."
                )
        if never:
            lines.append(f"No block threshold reaches the precision target for: {', '.join(never)} (review only).")
    test = report.get("test")
    if test:
        labels = test["models"][shipped]["labels"]
        recall = ", ".join(f"{name} {_percent(labels[name].get('recall'))}" for name in LABELS)
        lines.append(f"Recall at the shipped thresholds on the test file: {recall}.")
    fairness = report.get("fairness", {}).get("results", {}).get(shipped)
    if fairness and fairness["subgroups"]:
        worst = min(fairness["subgroups"], key=lambda entry: entry["bpsn_auc"])
        lines.append(
            f"Lowest BPSN AUC (non-toxic comments mentioning a group confused with toxic ones): {worst['term']}"
            f" {worst['bpsn_auc']:.3f} over {worst['size']} comments; {len(fairness['skipped'])} subgroups were too"
            " small to measure."
        )
    return lines


def extra_training_data(report: dict) -> list[str]:
    """The extra training files the run merged in (`train --extra`), e.g. moderators' decisions."""
    return [
        f"Merged into the training rows from `{extra['file']}` (sha256 `{extra['sha256'][:12]}…`): {extra['added']}"
        f" rows added and {extra['replaced'] + extra['duplicates']} replaced, of {extra['rows']}; labels there are"
        " the file's (a moderator's decision, when exported with `toxiguard export-decisions`)."
        for extra in report.get("extra", [])
    ]


def render_model_card(report: dict) -> str:
    sections = [
        ("Intended use", INTENDED_USE),
        ("Out of scope", OUT_OF_SCOPE),
        ("Training data and its skews", TRAINING_DATA + extra_training_data(report)),
        ("Measured failure modes", failure_modes(report)),
    ]
    lines = ["## Model card", ""]
    for title, items in sections:
        lines += [f"### {title}", "", *[f"- {item}" for item in items], ""]
    return "\n".join(lines)
