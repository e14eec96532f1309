"""The decision policy: per label, the score at which a comment is blocked outright instead of waiting for review.

A comment is flagged for review at its label's review threshold (max F1 on validation, `evaluate`); blocking
without a moderator is only defensible where the model is almost always right. So each label's block threshold is
the lowest score threshold at or above its review threshold at which precision reaches BLOCK_PRECISION and never
falls below it again at any higher threshold that still flags a comment, on the validation split and on the test
file when there is one. The larger of the two is kept; a label without such a threshold on either has none (null:
it never blocks by itself). The rule that applies the thresholds is `toxiguard.artifact.moderation_action`.

Training runs choose the policy in `evaluate` and `package` ships it; a packaged model gets it (again) with
`toxiguard decision-policy`, which scores the same data with the exported model and rewrites its manifest.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from toxiguard.artifact import is_flagged, moderation_action
from toxiguard.config import LABELS

BLOCK_PRECISION = 0.95
ACTIONS = ("allow", "review", "block")


class Scored(NamedTuple):
    """Labelled comments and one model's scores for them, with what to call them in the rule and the report."""

    description: str  # e.g. "the validation split (7863 comments)"
    labels: np.ndarray  # (rows, len(LABELS)) 0/1
    scores: np.ndarray  # (rows, len(LABELS))


def lowest_block_threshold(
    labels: np.ndarray, scores: np.ndarray, review_threshold: float, precision: float = BLOCK_PRECISION
) -> float | None:
    """One label's lowest threshold t >= `review_threshold` with precision >= `precision` at t and at every higher
    threshold that still flags something; None when there is none (including when nothing reaches the review
    threshold). The flagged set only changes at score values, so the candidates are the review threshold and the
    scores above it."""
    candidates = np.unique(np.concatenate([[review_threshold], scores[scores > review_threshold]]))
    order = np.argsort(scores)
    ascending, positives_ascending = scores[order], labels[order]
    # Comments flagged at each candidate, and the true positives among them: everything from its sorted position up.
    first = np.searchsorted(ascending, candidates, side="left")
    flagged = len(scores) - first
    true_positives = positives_ascending.sum() - np.concatenate([[0], np.cumsum(positives_ascending)])[first]
    if flagged[0] == 0:
        return None
    holds = true_positives / flagged >= precision  # a division, so that 19 of 20 meets 0.95 exactly
    # A candidate qualifies when it and every higher one hold (all candidates flag something: they are scores).
    holds_from_here_up = np.logical_and.accumulate(holds[::-1])[::-1]
    qualifying = np.flatnonzero(holds_from_here_up)
    return float(candidates[qualifying[0]]) if len(qualifying) else None


def flag_counts(labels: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict:
    """Precision, recall and flagged share of one label at a block threshold (None: it blocks nothing)."""
    predicted = np.zeros(len(scores), bool) if threshold is None else is_flagged(scores, threshold)
    flagged, positives = int(predicted.sum()), int(labels.sum())
    true_positives = int((predicted & (labels == 1)).sum())
    return {
        "flagged": flagged,
        "flagged_share": flagged / len(scores),
        "precision": true_positives / flagged if flagged else None,
        "recall": true_positives / positives if positives else None,
        "positives": positives,
    }


def action_counts(data: Scored, thresholds: list[float], block_thresholds: list[float | None]) -> dict:
    """How many comments each action takes, and the share of the blocked ones that carry at least one label."""
    actions = [moderation_action(row, thresholds, block_thresholds) for row in data.scores]
    blocked = np.array([action == "block" for action in actions])
    labelled = data.labels.any(axis=1)
    return {
        **{action: actions.count(action) for action in ACTIONS},
        "block_precision": float(labelled[blocked].mean()) if blocked.any() else None,
    }


def block_rule(data: dict[str, Scored], precision: float) -> str:
    """The manifest's `block_rule`: how the thresholds were chosen, the target and the data, in one sentence."""
    on = " and on ".join(scored.description for scored in data.values())
    both = "the larger of the thresholds found, or null" if len(data) > 1 else "null"
    return (
        f"per label, the lowest score threshold at or above the review threshold at which precision is at least "
        f"{precision:.2f}, and stays at least {precision:.2f} at every higher threshold that still flags a comment, "
        f"on {on}; {both} (the label never blocks by itself) where {'either' if len(data) > 1 else 'it'} has none"
    )


def block_policy(
    review_thresholds: dict[str, float], data: dict[str, Scored], precision: float = BLOCK_PRECISION
) -> dict:
    """Block thresholds chosen on every data set in `data` (e.g. {"validation": ..., "test": ...}), with each label's
    precision, recall and flagged share at its block threshold and the share of comments per action, per data set."""
    per_label = {}
    for i, name in enumerate(LABELS):
        lowest = {
            key: lowest_block_threshold(scored.labels[:, i], scored.scores[:, i], review_thresholds[name], precision)
            for key, scored in data.items()
        }
        threshold = None if None in lowest.values() else max(lowest.values())
        per_label[name] = {
            "review_threshold": review_thresholds[name],
            "threshold": threshold,
            **{
                key: {
                    "lowest_threshold": lowest[key],
                    **flag_counts(scored.labels[:, i], scored.scores[:, i], threshold),
                }
                for key, scored in data.items()
            },
        }
    block_thresholds = {name: entry["threshold"] for name, entry in per_label.items()}
    review, block = [review_thresholds[name] for name in LABELS], [block_thresholds[name] for name in LABELS]
    return {
        "precision_target": precision,
        "rule": block_rule(data, precision),
        "data": {key: scored.description for key, scored in data.items()},
        "thresholds": block_thresholds,
        "per_label": per_label,
        "actions": {key: action_counts(scored, review, block) for key, scored in data.items()},
    }


def manifest_fields(policy: dict) -> dict:
    """What the manifest carries of a policy: `block_thresholds` and `block_rule` at the top, the rest in metrics."""
    metrics = {key: policy[key] for key in ("precision_target", "data", "per_label", "actions")}
    return {"block_thresholds": policy["thresholds"], "block_rule": policy["rule"], "metrics": metrics}


def with_policy(manifest: dict, policy: dict) -> dict:
    """`manifest` with the policy's fields: block thresholds next to the review thresholds, `metrics.block`."""
    fields = manifest_fields(policy)
    updated = {}
    for key, value in manifest.items():
        if key not in ("block_thresholds", "block_rule"):
            updated[key] = value
        if key == "threshold_rule":
            updated["block_thresholds"], updated["block_rule"] = fields["block_thresholds"], fields["block_rule"]
    updated["metrics"] = {**manifest["metrics"], "block": fields["metrics"]}
    return updated


def _cell(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}%" if percent else f"{value:.4f}"


def render_markdown(policy: dict) -> str:
    """The report's decision policy section: each label's block threshold, the lowest threshold each data set allows
    on its own, and what the block threshold does on each data set."""
    keys = list(policy["data"])
    lines = [
        "## Decision policy (block thresholds)",
        "",
        f"Rule: {policy['rule']}. A comment is blocked when any score reaches its label's block threshold, else sent "
        "to review when any label is flagged, else allowed.",
        "",
        "| label | review threshold | block threshold | "
        + " | ".join(f"{key}: lowest | {key}: precision | {key}: recall | {key}: flagged" for key in keys)
        + " |",
        "|---|---|---|" + "---|---|---|---|" * len(keys),
    ]
    for name, entry in policy["per_label"].items():
        cells = [
            f"{_cell(entry[key]['lowest_threshold'])} | {_cell(entry[key]['precision'])} | "
            f"{_cell(entry[key]['recall'])} | {_cell(entry[key]['flagged_share'], percent=True)}"
            for key in keys
        ]
        thresholds = f"{_cell(entry['review_threshold'])} | {_cell(entry['threshold'])}"
        lines.append(f"| {name} | {thresholds} | " + " | ".join(cells) + " |")
    lines += ["", "| data | allow | review | block | blocked comments with a label |", "|---|---|---|---|---|"]
    for key in keys:
        counts = policy["actions"][key]
        lines.append(
            f"| {policy['data'][key]} | {counts['allow']} | {counts['review']} | {counts['block']} | "
            f"{_cell(counts['block_precision'], percent=True)} |"
        )
    return "\n".join([*lines, ""])
