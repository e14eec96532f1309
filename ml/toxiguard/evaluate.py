"""Evaluate the Bi-LSTM against the NB-SVM baseline: metrics, thresholds, plots and a JSON + Markdown report.

Two modes:
- validation (`evaluate_run`): the run's own validation split; per-label thresholds are chosen here
  by maximising F1, and `package` ships them.
- evaluation files (`evaluate_files`): Kaggle's `test.csv` + `test_labels.csv` scored with the shipped
  thresholds, so the numbers say how those thresholds behave on unseen data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from toxiguard.baseline import NBSVM
from toxiguard.config import LABELS
from toxiguard.data import LabelledData, load_evaluation, load_split

log = logging.getLogger(__name__)

THRESHOLD_RULE = "per label, the score threshold that maximises F1 on the validation split"
TARGET_DELTA = 0.010  # the Bi-LSTM must beat the baseline's mean ROC-AUC by this much
MODEL_NAME, BASELINE_NAME = "bilstm", "nbsvm_baseline"
REPORT_JSON, REPORT_MD = "report.json", "report.md"

Scorer = Callable[[list[str]], np.ndarray]


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def max_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    # precision/recall have one more entry than thresholds (the point at recall 0).
    return float(thresholds[int(np.argmax(f1[:-1]))])


def label_metrics(labels: np.ndarray, scores: np.ndarray, thresholds: dict[str, float] | None = None) -> dict:
    """Per-label ROC-AUC, PR-AUC and precision/recall/F1 at a threshold (chosen by max F1 when not given)."""
    per_label = {}
    for i, name in enumerate(LABELS):
        y, s = labels[:, i], scores[:, i]
        positives = int(y.sum())
        entry: dict[str, float | int | None] = {"positives": positives}
        if 0 < positives < len(y):
            threshold = thresholds[name] if thresholds else max_f1_threshold(y, s)
            predicted = s >= threshold
            tp = int((predicted & (y == 1)).sum())
            precision = tp / max(int(predicted.sum()), 1)
            recall = tp / positives
            entry.update(
                roc_auc=float(roc_auc_score(y, s)),
                pr_auc=float(average_precision_score(y, s)),
                threshold=float(threshold),
                precision=precision,
                recall=recall,
                f1=2 * precision * recall / max(precision + recall, 1e-12),
            )
        else:
            entry.update(roc_auc=None, pr_auc=None, threshold=thresholds[name] if thresholds else None)
        per_label[name] = entry
    scored = [m for m in per_label.values() if m["roc_auc"] is not None]
    return {
        "mean_roc_auc": float(np.mean([m["roc_auc"] for m in scored])),
        "mean_pr_auc": float(np.mean([m["pr_auc"] for m in scored])),
        "labels": per_label,
    }


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------


def _grid(title: str):
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    fig.suptitle(title)
    return fig, axes.ravel()


def plot_curves(labels: np.ndarray, scores: dict[str, np.ndarray], out_dir: Path) -> list[str]:
    fig_roc, roc_axes = _grid("ROC curves per label")
    fig_pr, pr_axes = _grid("Precision-recall curves per label")
    for i, name in enumerate(LABELS):
        y = labels[:, i]
        for model_name, s in scores.items():
            if not 0 < y.sum() < len(y):
                continue
            fpr, tpr, _ = roc_curve(y, s[:, i])
            roc_axes[i].plot(fpr, tpr, label=f"{model_name} (AUC {roc_auc_score(y, s[:, i]):.3f})")
            precision, recall, _ = precision_recall_curve(y, s[:, i])
            pr_axes[i].plot(recall, precision, label=f"{model_name} (AP {average_precision_score(y, s[:, i]):.3f})")
        roc_axes[i].plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        roc_axes[i].set(title=name, xlabel="false positive rate", ylabel="true positive rate")
        pr_axes[i].set(title=f"{name} (positives: {int(y.sum())})", xlabel="recall", ylabel="precision")
        for axis, corner in ((roc_axes[i], "lower right"), (pr_axes[i], "lower left")):
            if axis.get_legend_handles_labels()[0]:
                axis.legend(loc=corner, fontsize=8)
            axis.grid(alpha=0.3)
    written = []
    for fig, file_name in ((fig_roc, "roc_curves.png"), (fig_pr, "pr_curves.png")):
        fig.tight_layout()
        fig.savefig(out_dir / file_name, dpi=80)
        plt.close(fig)
        written.append(file_name)
    return written


def plot_training(history: dict[str, list[float]], out_dir: Path) -> str:
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (loss_axis, auc_axis) = plt.subplots(1, 2, figsize=(12, 4))
    loss_axis.plot(epochs, history["loss"], marker="o", label="training (positive-weighted)")
    loss_axis.plot(epochs, history["val_loss"], marker="o", label="validation (unweighted)")
    loss_axis.set(title="Binary cross-entropy", xlabel="epoch")
    auc_axis.plot(epochs, history["val_mean_roc_auc"], marker="o", linewidth=2.5, label="mean")
    for name in LABELS:
        key = f"val_roc_auc_{name}"
        if key in history:
            auc_axis.plot(epochs, history[key], linewidth=1, alpha=0.7, label=name)
    auc_axis.set(title="Validation ROC-AUC", xlabel="epoch")
    for axis in (loss_axis, auc_axis):
        axis.set_xticks(epochs)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "training_curves.png", dpi=80)
    plt.close(fig)
    return "training_curves.png"


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def render_markdown(report: dict) -> str:
    models = report["models"]
    names = list(models)
    lines = [
        f"# toxiguard evaluation ({report['kind']})",
        "",
        f"Data: `{Path(report['data']['source']).name}` ({report['data']['rows']} rows, sha256 "
        f"`{report['data']['sha256'][:12]}…`).",
        f"Thresholds: {report['threshold_rule']}.",
        "",
        "| model | mean ROC-AUC | mean PR-AUC |",
        "|---|---|---|",
        *[f"| {n} | {_fmt(models[n]['mean_roc_auc'])} | {_fmt(models[n]['mean_pr_auc'])} |" for n in names],
        "",
    ]
    if "comparison" in report:
        c = report["comparison"]
        verdict = "meets" if c["meets_target"] else "does not meet"
        lines += [
            f"Bi-LSTM minus baseline, mean ROC-AUC: **{c['mean_roc_auc_delta']:+.4f}** "
            f"({verdict} the +{c['target_delta']:.3f} target).",
            "",
        ]
    lines += [
        "## Per label",
        "",
        "| label | positives | "
        + " | ".join(f"{n} ROC-AUC | {n} PR-AUC" for n in names)
        + f" | threshold | precision | recall | F1 ({MODEL_NAME}) |",
        "|---|---|" + "---|---|" * len(names) + "---|---|---|---|",
    ]
    for label in LABELS:
        main = models[MODEL_NAME]["labels"][label]
        cells = [
            f"{_fmt(models[n]['labels'][label]['roc_auc'])} | {_fmt(models[n]['labels'][label]['pr_auc'])}"
            for n in names
        ]
        lines.append(
            f"| {label} | {main['positives']} | "
            + " | ".join(cells)
            + f" | {_fmt(main['threshold'])} | {_fmt(main.get('precision'))} | {_fmt(main.get('recall'))}"
            + f" | {_fmt(main.get('f1'))} |"
        )
    lines += ["", *[f"![{p}]({p})" for p in report["plots"]], ""]
    return "\n".join(lines)


def write_report(report: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / REPORT_MD).write_text(render_markdown(report))
    log.info("report written to %s", out_dir / REPORT_MD)
    return out_dir / REPORT_JSON


def _compare(models: dict) -> dict:
    delta = models[MODEL_NAME]["mean_roc_auc"] - models[BASELINE_NAME]["mean_roc_auc"]
    return {"mean_roc_auc_delta": delta, "target_delta": TARGET_DELTA, "meets_target": bool(delta >= TARGET_DELTA)}


def _score_and_report(
    kind: str,
    evaluated: LabelledData,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float] | None,
    out_dir: Path,
) -> dict:
    """Metrics for each scored model; the baseline picks its own max-F1 thresholds only in validation mode."""
    models = {}
    for name, s in scores.items():
        fixed = thresholds if name == MODEL_NAME else None
        models[name] = label_metrics(evaluated.labels, s, fixed)
    report = {
        "kind": kind,
        "data": evaluated.summary(),
        "threshold_rule": THRESHOLD_RULE,
        "models": models,
        "thresholds": {k: v["threshold"] for k, v in models[MODEL_NAME]["labels"].items()},
    }
    if BASELINE_NAME in models:
        report["comparison"] = _compare(models)
    out_dir.mkdir(parents=True, exist_ok=True)
    report["plots"] = plot_curves(evaluated.labels, scores, out_dir)
    return report


def evaluate_run(run_dir: Path, data_path: Path | None = None, with_baseline: bool = True) -> dict:
    """Validation report for a training run, written to `<run_dir>/report/`."""
    from toxiguard.model import score_texts
    from toxiguard.train import load_run

    model, record = load_run(run_dir)
    split = record["split"]
    _, train_data, validation = load_split(
        data_path or record["data"]["path"], split["validation_fraction"], split["seed"], record["data"]["sha256"]
    )
    scores = {MODEL_NAME: score_texts(model, validation.texts)}
    if with_baseline:
        scores[BASELINE_NAME] = NBSVM().fit(train_data.texts, train_data.labels).predict(validation.texts)
    out_dir = run_dir / "report"
    report = _score_and_report("validation", validation, scores, None, out_dir)
    report["training"] = record["training"]
    report["hyperparameters"] = record["hyperparameters"]
    report["plots"].append(plot_training(record["training"]["history"], out_dir))
    write_report(report, out_dir)
    return report


def evaluate_files(
    scorer: Scorer,
    thresholds: dict[str, float],
    test_path: Path,
    labels_path: Path | None,
    out_dir: Path,
    baseline_train: LabelledData | None = None,
) -> dict:
    """Report on Kaggle's evaluation pair, using the shipped thresholds."""
    evaluated = load_evaluation(test_path, labels_path)
    scores = {MODEL_NAME: scorer(evaluated.texts)}
    if baseline_train is not None:
        baseline = NBSVM().fit(baseline_train.texts, baseline_train.labels)
        scores[BASELINE_NAME] = baseline.predict(evaluated.texts)
    report = _score_and_report("evaluation files", evaluated, scores, thresholds, out_dir)
    report["threshold_rule"] = "thresholds shipped with the model (chosen on its validation split)"
    write_report(report, out_dir)
    return report
