"""Identity-bias metrics on real comments, as in Jigsaw's Unintended Bias in Toxicity Classification challenge.

A subgroup is the comments that mention one identity term (`toxiguard.training.identity`); the background is all others.
For each subgroup large enough to score:

- subgroup AUC: ROC-AUC on the subgroup's comments only (does the model rank toxic above non-toxic among them?);
- BPSN AUC (background positive, subgroup negative): the subgroup's negatives with the background's positives;
  low when the model scores non-toxic mentions of the identity above toxic comments elsewhere;
- BNSP AUC (background negative, subgroup positive): the subgroup's positives with the background's negatives;
  low when toxic mentions of the identity score below non-toxic comments elsewhere.

Each of the three is summarised over the scored subgroups by the generalised power mean
M_p = (1/N Σ m_s^p)^(1/p) with p = -5, which leans towards the worst subgroups, and

    final bias metric = 0.25 × overall AUC + 0.25 × (M_p(subgroup AUC) + M_p(BPSN AUC) + M_p(BNSP AUC)).

As in the challenge the target is toxicity: callers pass the `toxic` label and the model's `toxic` score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from toxiguard.training.identity import IDENTITY_TERMS, IdentityTerm, mentions

POWER = -5  # the challenge's exponent: a subgroup with a low AUC pulls the mean down far more than a high one lifts it
OVERALL_WEIGHT = SUBMETRIC_WEIGHT = 0.25
# Smaller subgroups' AUCs are mostly noise, and a noisy low one would dominate the power mean. Even at these minimums
# (5 positives, 25 negatives: 125 pairs) the subgroup AUC's standard error is about 0.1 at an AUC of 0.9 (Hanley &
# McNeil), though BPSN and BNSP, paired with the large background, stay near 0.02; stricter minimums would leave
# almost no subgroup to score on a test file of a few thousand comments.
MIN_SUBGROUP_SIZE = 30
MIN_SUBGROUP_POSITIVES = 5
MIN_SUBGROUP_NEGATIVES = 5
AUC_KEYS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
AUC_NAMES = {"subgroup_auc": "subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC"}


def subgroup_masks(texts: list[str], terms: Sequence[IdentityTerm] = IDENTITY_TERMS) -> dict[str, np.ndarray]:
    """For each term, a boolean mask over `texts`: which texts mention its subgroup."""
    return {term.term: np.fromiter((mentions(term, text) for text in texts), bool, len(texts)) for term in terms}


def power_mean(values: Sequence[float], power: float = POWER) -> float:
    """The generalised mean (1/N Σ v^p)^(1/p); for a negative p a value of 0 makes it 0."""
    with np.errstate(divide="ignore"):
        return float(np.mean(np.power(np.asarray(values, dtype=float), power)) ** (1 / power))


def _auc(labels: np.ndarray, scores: np.ndarray, mask: np.ndarray) -> float:
    return float(roc_auc_score(labels[mask], scores[mask]))


def bias_metrics(
    texts: list[str],
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    terms: Sequence[IdentityTerm] = IDENTITY_TERMS,
    min_size: int = MIN_SUBGROUP_SIZE,
    min_positives: int = MIN_SUBGROUP_POSITIVES,
    min_negatives: int = MIN_SUBGROUP_NEGATIVES,
    label: str = "toxic",
    masks: dict[str, np.ndarray] | None = None,
) -> dict:
    """The challenge's bias metrics for one label's 0/1 `labels` and `scores` over `texts`; plain JSON-ready types.

    `label` only names the target in the result's settings; as in the challenge it should be `toxic`.
    `masks` are `subgroup_masks(texts, terms)` when the caller already has them (several models, the same texts).
    Subgroups below `min_size` members, `min_positives` or `min_negatives` are listed under `skipped`.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    if not (labels.shape == scores.shape == (len(texts),)):
        raise ValueError(f"{len(texts)} texts, but labels {labels.shape} and scores {scores.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if min_positives < 1 or min_negatives < 1:
        raise ValueError(
            "a subgroup AUC needs at least one positive and one negative: min_positives, min_negatives >= 1"
        )
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("the overall AUC needs both positive and negative labels")

    category = {term.term: term.category for term in terms}
    scored, skipped = [], []
    for term, member in (masks if masks is not None else subgroup_masks(texts, terms)).items():
        size, positives = int(member.sum()), int((member & labels).sum())
        entry = {"term": term, "category": category[term], "size": size, "positives": positives}
        checks = (
            (size < min_size, f"fewer than {min_size} members"),
            (positives < min_positives, f"fewer than {min_positives} positives"),
            (size - positives < min_negatives, f"fewer than {min_negatives} negatives"),
            (np.unique(labels[~member]).size < 2, "the other comments lack positives or negatives"),
        )
        reason = next((why for failed, why in checks if failed), None)
        if reason is not None:
            skipped.append({**entry, "reason": reason})
            continue
        scored.append(
            {
                **entry,
                "subgroup_auc": _auc(labels, scores, member),
                "bpsn_auc": _auc(labels, scores, (member & ~labels) | (~member & labels)),
                "bnsp_auc": _auc(labels, scores, (member & labels) | (~member & ~labels)),
            }
        )
    scored.sort(key=lambda s: s["subgroup_auc"])

    overall_auc = float(roc_auc_score(labels, scores))
    if scored:
        power_means = {key: power_mean([s[key] for s in scored]) for key in AUC_KEYS}
        final = OVERALL_WEIGHT * overall_auc + SUBMETRIC_WEIGHT * sum(power_means.values())
        note = None
    else:
        power_means, final = dict.fromkeys(AUC_KEYS), None
        note = "no subgroup was large enough to score, so there are no power means and no final bias metric"
    return {
        "overall_auc": overall_auc,
        "subgroups": scored,
        "power_means": power_means,
        "final_bias_metric": final,
        "note": note,
        "skipped": skipped,
        "settings": {
            "power": POWER,
            "min_size": min_size,
            "min_positives": min_positives,
            "min_negatives": min_negatives,
            "label": label,
        },
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def render_bias_markdown(result: dict, title: str) -> str:
    """A Markdown section: one table row per scored subgroup (worst first), the power means, the skipped ones."""
    settings = result["settings"]
    lines = [
        f"## {title}",
        "",
        f"Target: `{settings['label']}`. Overall ROC-AUC {_fmt(result['overall_auc'])}; a subgroup is the comments "
        "mentioning the term, BPSN pairs its negatives with the other comments' positives, BNSP its positives with "
        "their negatives.",
        "",
        "| term | category | size | positives | subgroup AUC | BPSN AUC | BNSP AUC |",
        "|---|---|---:|---:|---:|---:|---:|",
        *[
            f"| {s['term']} | {s['category']} | {s['size']} | {s['positives']} | "
            + " | ".join(_fmt(s[key]) for key in AUC_KEYS)
            + " |"
            for s in result["subgroups"]
        ],
        "",
    ]
    if result["final_bias_metric"] is None:
        lines.append(f"No power means or final bias metric: {result['note']}.")
    else:
        means = ", ".join(f"{AUC_NAMES[key]} {_fmt(value)}" for key, value in result["power_means"].items())
        lines.append(
            f"Power means (p = {settings['power']}): {means}. "
            f"Final bias metric: **{_fmt(result['final_bias_metric'])}**."
        )
    skipped = "; ".join(
        f"{s['term']} ({s['size']} members, {s['positives']} positives: {s['reason']})" for s in result["skipped"]
    )
    lines += ["", f"Skipped: {skipped or 'none'}.", ""]
    return "\n".join(lines)


def plot_bias(results: dict[str, dict], path: Path) -> None:
    """Horizontal bars of the three AUCs per scored subgroup, one panel per model, subgroups in the same rows."""
    terms = list(dict.fromkeys(s["term"] for result in results.values() for s in result["subgroups"]))
    rows = np.arange(len(terms))
    bar_height = 0.27
    fig, axes = plt.subplots(
        1, len(results), figsize=(5.5 * len(results), 1.5 + 0.5 * max(len(terms), 1)), sharey=True, squeeze=False
    )
    lowest = min(
        [r["overall_auc"] for r in results.values()]
        + [s[key] for r in results.values() for s in r["subgroups"] for key in AUC_KEYS]
    )
    for axis, (model_name, result) in zip(axes[0], results.items(), strict=True):
        by_term = {s["term"]: s for s in result["subgroups"]}
        for index, key in enumerate(AUC_KEYS):
            values = [by_term[t][key] if t in by_term else np.nan for t in terms]
            offset = (index - 1) * bar_height
            axis.barh(rows + offset, values, height=bar_height, color=f"C{index}", label=AUC_NAMES[key])
        axis.axvline(result["overall_auc"], color="grey", linestyle=":", linewidth=1, label="overall AUC")
        axis.set(
            title=f"{model_name}: final bias metric {_fmt(result['final_bias_metric'])}",
            xlabel="ROC-AUC",
            xlim=(min(0.5, lowest - 0.02), 1.0),
        )
        axis.grid(axis="x", alpha=0.3)
        if not result["subgroups"]:
            axis.text(0.5, 0.5, "no subgroup large enough to score", transform=axis.transAxes, ha="center")
    axes[0][0].set_yticks(rows, terms)
    axes[0][0].invert_yaxis()  # the first model's worst subgroup on top
    if terms:  # without bars the legend's swatches lose their colours
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")  # "tight" keeps the legend above the panels
    plt.close(fig)
