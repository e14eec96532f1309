"""Evaluate the shipped model side by side with its parts, the NB-SVM baseline and the model it would replace.

Models: `toxiguard` (what is shipped: the Bi-LSTM and the n-gram model averaged in one graph), `bilstm` and `ngram`
(its parts), `nbsvm_baseline` (scikit-learn NB-SVM on the same training rows, without augmentation) and, when
given, `previous` (a packaged artifact, e.g. the one in production).

Three modes:
- a training run (`evaluate_run`): its validation split, where per-label thresholds are chosen by maximising F1
  and block thresholds by the decision policy on validation and test (`package` ships both); a test file
  (`--test`), the honest check, since the validation split is cut from the same non-random sample as the training
  rows; identity-bias metrics on the real comments of both; the functional suite's held-out templates. All of it
  goes into one report (JSON, Markdown with a model card, PNG charts).
- evaluation files (`evaluate_files`): Kaggle's `test.csv` + `test_labels.csv` scored by a packaged model with its
  shipped thresholds.
- a packaged model's decision policy (`artifact_decision_policy`): its validation split and a test file scored by
  its exported signature, block thresholds chosen on them and written into its manifest and report.
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

from toxiguard.artifact import REPORT_DIR, is_flagged, write_manifest
from toxiguard.config import LABELS
from toxiguard.training import decision_policy, fairness, functional
from toxiguard.training.baseline import NBSVM
from toxiguard.training.data import LabelledData, add_extra_rows, load_evaluation, load_labelled, load_split

log = logging.getLogger(__name__)

THRESHOLD_RULE = "per label, the score threshold that maximises F1 on the validation split"
TARGET_DELTA = 0.005  # on the test file, the shipped model must beat the baseline's mean ROC-AUC by this much
SHIPPED_NAME, MODEL_NAME, NGRAM_NAME = "toxiguard", "bilstm", "ngram"
BASELINE_NAME, PREVIOUS_NAME = "nbsvm_baseline", "previous"
REPORT_JSON, REPORT_MD = "report.json", "report.md"
TOXIC = LABELS.index("toxic")

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
            predicted = is_flagged(s, threshold)
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
    auc_axis.set(title="Validation ROC-AUC (Bi-LSTM)", xlabel="epoch")
    for axis in (loss_axis, auc_axis):
        axis.set_xticks(epochs)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "training_curves.png", dpi=80)
    plt.close(fig)
    return "training_curves.png"


def _grouped_bars(rows: list[str], values: dict[str, list[float]], title: str, xlabel: str, path: Path, target=None):
    """Horizontal bars, one group per row and one bar per model, on a 0-1 scale."""
    fig, axis = plt.subplots(figsize=(12, 0.08 * len(rows) * len(values) + 2))
    height = 0.8 / len(values)
    positions = np.arange(len(rows))
    for i, (name, model_values) in enumerate(values.items()):
        axis.barh(positions + i * height, model_values, height, label=name)
    if target is not None:
        axis.axvline(target, color="red", linestyle=":", label="target")
    axis.set_yticks(positions + height * (len(values) - 1) / 2, rows, fontsize=8)
    axis.invert_yaxis()
    axis.set(xlim=(0, 1), xlabel=xlabel, title=title)
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path.name


def plot_functional(results: dict[str, dict], out_dir: Path) -> str:
    """Held-out pass rate per functionality, one bar per model."""
    heldout = {name: result["pass_rates"]["heldout"] for name, result in results.items()}
    functionalities = [f for f in functional.FUNCTIONALITIES if f in next(iter(heldout.values()))]
    values = {name: [rates[f]["pass_rate"] or 0.0 for f in functionalities] for name, rates in heldout.items()}
    title = "Functional suite, held-out templates: pass rate per functionality"
    return _grouped_bars(functionalities, values, title, "pass rate", out_dir / "functional_pass_rates.png")


def plot_identity_flag_rates(results: dict[str, dict], out_dir: Path) -> str:
    """Share of held-out neutral and positive identity statements flagged, per identity term and model."""
    per_term = {name: result["identity_neutral_flag_rate"]["per_term"] for name, result in results.items()}
    terms = sorted(next(iter(per_term.values())))
    values = {name: [rates[t]["flag_rate"] for t in terms] for name, rates in per_term.items()}
    title = "Neutral and positive statements that mention an identity: flagged share per term"
    return _grouped_bars(
        terms, values, title, "flagged share (lower is better)", out_dir / "identity_flag_rates.png",
        target=functional.MAX_TERM_FLAG_RATE,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _metrics_tables(models: dict, thresholded: str) -> list[str]:
    names = list(models)
    lines = [
        "| model | mean ROC-AUC | mean PR-AUC |",
        "|---|---|---|",
        *[f"| {n} | {_fmt(models[n]['mean_roc_auc'])} | {_fmt(models[n]['mean_pr_auc'])} |" for n in names],
        "",
        "| label | positives | "
        + " | ".join(f"{n} ROC-AUC | {n} PR-AUC" for n in names)
        + f" | threshold | precision | recall | F1 ({thresholded}) |",
        "|---|---|" + "---|---|" * len(names) + "---|---|---|---|",
    ]
    for label in LABELS:
        main = models[thresholded]["labels"][label]
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
    return [*lines, ""]


def _comparison_line(comparison: dict) -> str:
    verdict = "meets" if comparison["meets_target"] else "does not meet"
    return (
        f"{comparison['model']} minus {comparison['baseline']}, mean ROC-AUC: "
        f"**{comparison['mean_roc_auc_delta']:+.4f}** ({verdict} the +{comparison['target_delta']:.3f} target)."
    )


def _functional_section(results: dict[str, dict]) -> list[str]:
    names = list(results)
    first = results[names[0]]
    lines = [
        "## Functional suite (held-out templates)",
        "",
        f"{first['cases']} generated cases (`toxiguard/training/resources/functional_suite.jsonl`); templates are split"
        " into a train part (used to augment training data) and a held-out part. Only held-out numbers are evidence.",
        "",
        "| functionality | cases | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for functionality, entry in first["pass_rates"]["heldout"].items():
        rates = [_fmt(results[n]["pass_rates"]["heldout"][functionality]["pass_rate"]) for n in names]
        lines.append(f"| {functionality} | {entry['cases']} | " + " | ".join(rates) + " |")
    lines += ["", "| target | goal | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for target, entry in first["targets"].items():
        cells = []
        for n in names:
            t = results[n]["targets"][target]
            cells.append(f"{_fmt(t['value'])} {'✅' if t['met'] else '❌'}")
        lines.append(f"| {target} | {entry['goal']} {entry['threshold']} | " + " | ".join(cells) + " |")
    train_rates = {n: results[n]["train_split"]["identity_neutral_flag_rate"]["flag_rate"] for n in names}
    lines += [
        "",
        "For comparison, the *train* templates' neutral identity flag rate (trained on only with `--suite-templates`): "
        + ", ".join(f"{n} {_fmt(v)}" for n, v in train_rates.items())
        + ".",
        "",
    ]
    return lines


def render_markdown(report: dict) -> str:
    from toxiguard.training.model_card import render_model_card

    lines = [
        f"# toxiguard evaluation ({report['kind']})",
        "",
        f"Data: `{Path(report['data']['source']).name}` ({report['data']['rows']} rows, sha256 "
        f"`{report['data']['sha256'][:12]}…`).",
        f"Thresholds: {report['threshold_rule']}.",
        "",
    ]
    if "comparison" in report:
        lines += [_comparison_line(report["comparison"]), ""]
    lines += _metrics_tables(report["models"], report["thresholded_model"])
    if "test" in report:
        test = report["test"]
        lines += [
            f"## Test file: `{Path(test['data']['source']).name}` ({test['data']['rows']} rows)",
            "",
            "Real comments from outside the training sample, scored with the thresholds chosen on validation.",
            "",
            *([_comparison_line(test["comparison"]), ""] if "comparison" in test else []),
            *_metrics_tables(test["models"], report["thresholded_model"]),
        ]
    if "block" in report:
        lines.append(decision_policy.render_markdown(report["block"]))
    if "fairness" in report:
        for name, result in report["fairness"]["results"].items():
            lines += [
                fairness.render_bias_markdown(result, f"Identity bias: {name} ({report['fairness']['data']})"),
                "",
            ]
    if "functional" in report:
        lines += _functional_section(report["functional"])
    if "functional" in report:  # a training run's full report
        lines += [render_model_card(report), ""]
    lines += [*[f"![{p}]({p})" for p in report["plots"]], ""]
    return "\n".join(lines)


def write_report(report: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / REPORT_MD).write_text(render_markdown(report))
    log.info("report written to %s", out_dir / REPORT_MD)
    return out_dir / REPORT_JSON


def _compare(models: dict, model: str) -> dict:
    delta = models[model]["mean_roc_auc"] - models[BASELINE_NAME]["mean_roc_auc"]
    return {
        "model": model,
        "baseline": BASELINE_NAME,
        "mean_roc_auc_delta": delta,
        "target_delta": TARGET_DELTA,
        "meets_target": bool(delta >= TARGET_DELTA),
    }


def _metrics(labels: np.ndarray, scores: dict[str, np.ndarray], thresholds: dict[str, dict[str, float] | None]) -> dict:
    return {name: label_metrics(labels, s, thresholds.get(name)) for name, s in scores.items()}


def _load_test(test_path: Path, test_labels: Path | None) -> LabelledData:
    """A test file in the training format (with labels), or Kaggle's test.csv + test_labels.csv."""
    return load_labelled(test_path) if test_labels is None else load_evaluation(test_path, test_labels)


def _with_extra_rows(train: LabelledData, validation: LabelledData, recorded: list[dict]) -> LabelledData:
    """The run's training rows with the extra files it was trained with, so the baseline learns from them too."""
    merged, summaries = add_extra_rows(train, validation, [Path(extra["path"]) for extra in recorded])
    for extra, summary in zip(recorded, summaries, strict=True):
        if summary["sha256"] != extra["sha256"]:
            raise ValueError(f"{extra['path']} is not the extra file the model was trained on (sha256 differs)")
    return merged


def _scored_validation(validation: LabelledData, scores: np.ndarray) -> decision_policy.Scored:
    return decision_policy.Scored(f"the validation split ({len(validation)} comments)", validation.labels, scores)


def _scored_test(test: LabelledData, scores: np.ndarray) -> decision_policy.Scored:
    return decision_policy.Scored(f"{Path(test.source).name} ({len(test)} comments)", test.labels, scores)


class Scorers(dict):
    """Model name -> `texts -> scores`, with each model's thresholds (None: chosen on validation)."""

    def __init__(self):
        super().__init__()
        self.thresholds: dict[str, dict[str, float] | None] = {}

    def add(self, name: str, scorer: Scorer, thresholds: dict[str, float] | None = None) -> None:
        self[name] = scorer
        self.thresholds[name] = thresholds

    def score(self, texts: list[str]) -> dict[str, np.ndarray]:
        return {name: scorer(texts) for name, scorer in self.items()}


def run_scorers(run_dir: Path, baseline_train: LabelledData | None, previous: Path | None) -> tuple[Scorers, dict]:
    """The run's shipped graph and its parts, the baseline fitted on `baseline_train`, a previous artifact."""
    import keras

    from toxiguard.config import HParams
    from toxiguard.training.model import folded_serving_model, text_scorer
    from toxiguard.training.ngram import NgramLinear
    from toxiguard.training.normalize import TextNormalizer
    from toxiguard.training.train import load_run

    model, ngram_model, record = load_run(run_dir)
    ngram = NgramLinear(ngram_model, name=NGRAM_NAME)
    text = keras.Input(shape=(), dtype="string")
    scorers = Scorers()
    scorers.add(
        SHIPPED_NAME, text_scorer(folded_serving_model(model, HParams.from_dict(record["hyperparameters"]), ngram))
    )
    scorers.add(MODEL_NAME, text_scorer(model))
    scorers.add(NGRAM_NAME, text_scorer(keras.Model(text, ngram(TextNormalizer()(text)))))
    if baseline_train is not None:
        scorers.add(BASELINE_NAME, NBSVM().fit(baseline_train.texts, baseline_train.labels).predict)
    if previous is not None:
        from toxiguard.serving.model import ServingModel

        artifact = ServingModel(previous)
        scorers.add(PREVIOUS_NAME, artifact.score, artifact.thresholds)
    return scorers, record


def fairness_section(texts: list[str], labels: np.ndarray, scores: dict[str, np.ndarray], description: str) -> dict:
    """Jigsaw Unintended Bias metrics on the toxic label for each model, on the given real comments."""
    masks = fairness.subgroup_masks(texts)  # the same comments for every model: find the mentions once
    results = {
        name: fairness.bias_metrics(texts, labels[:, TOXIC], s[:, TOXIC], label="toxic", masks=masks)
        for name, s in scores.items()
    }
    return {"data": description, "results": results}


def evaluate_run(
    run_dir: Path,
    data_path: Path | None = None,
    with_baseline: bool = True,
    test_path: Path | None = None,
    test_labels: Path | None = None,
    previous: Path | None = None,
) -> dict:
    """The full report for a training run, written to `<run_dir>/report/`."""
    out_dir = run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    record = json.loads((run_dir / "train.json").read_text())
    split = record["split"]
    _, train_data, validation = load_split(
        data_path or record["data"]["path"], split["validation_fraction"], split["seed"], record["data"]["sha256"]
    )
    train_data = _with_extra_rows(train_data, validation, record.get("extra", []))
    scorers, record = run_scorers(run_dir, train_data if with_baseline else None, previous)

    validation_scores = scorers.score(validation.texts)
    models = _metrics(validation.labels, validation_scores, scorers.thresholds)
    thresholds = {name: {k: v["threshold"] for k, v in m["labels"].items()} for name, m in models.items()}
    report = {
        "kind": "validation",
        "data": validation.summary(),
        "threshold_rule": THRESHOLD_RULE,
        "thresholded_model": SHIPPED_NAME,
        "models": models,
        "thresholds": thresholds[SHIPPED_NAME],
        "training": record["training"],
        "extra": record.get("extra", []),
        "augmentation": record.get("augmentation"),
        "hyperparameters": record["hyperparameters"],
    }
    if with_baseline:
        report["comparison"] = _compare(models, SHIPPED_NAME)
    report["plots"] = plot_curves(validation.labels, validation_scores, out_dir)
    report["plots"].append(plot_training(record["training"]["history"], out_dir))

    fairness_texts, fairness_labels, fairness_scores = validation.texts, validation.labels, validation_scores
    description = f"validation split ({len(validation)} comments)"
    policy_data = {"validation": _scored_validation(validation, validation_scores[SHIPPED_NAME])}
    if test_path is not None:
        test = _load_test(test_path, test_labels)
        test_scores = scorers.score(test.texts)
        test_models = _metrics(test.labels, test_scores, thresholds)
        report["test"] = {"data": test.summary(), "models": test_models}
        if with_baseline:
            report["test"]["comparison"] = _compare(test_models, SHIPPED_NAME)
        policy_data["test"] = _scored_test(test, test_scores[SHIPPED_NAME])
        # Identity subgroups are small in either file alone; the bias metrics pool both sets of real comments.
        fairness_texts = validation.texts + test.texts
        fairness_labels = np.vstack([validation.labels, test.labels])
        fairness_scores = {n: np.vstack([validation_scores[n], test_scores[n]]) for n in validation_scores}
        description = f"validation split + {Path(test.source).name} ({len(fairness_texts)} comments)"
    report["block"] = decision_policy.block_policy(thresholds[SHIPPED_NAME], policy_data)
    report["fairness"] = fairness_section(fairness_texts, fairness_labels, fairness_scores, description)
    fairness.plot_bias(report["fairness"]["results"], out_dir / "identity_bias.png")
    report["plots"].append("identity_bias.png")

    cases = functional.load_suite()
    case_texts = [case.text for case in cases]
    report["functional"] = {
        name: functional.evaluate_suite(cases, scorer(case_texts), thresholds[name]) for name, scorer in scorers.items()
    }
    report["plots"] += [
        plot_functional(report["functional"], out_dir),
        plot_identity_flag_rates(report["functional"], out_dir),
    ]
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
    scores = {SHIPPED_NAME: scorer(evaluated.texts)}
    if baseline_train is not None:
        scores[BASELINE_NAME] = NBSVM().fit(baseline_train.texts, baseline_train.labels).predict(evaluated.texts)
    models = _metrics(evaluated.labels, scores, {SHIPPED_NAME: thresholds})
    report = {
        "kind": "evaluation files",
        "data": evaluated.summary(),
        "threshold_rule": "thresholds shipped with the model (chosen on its validation split)",
        "thresholded_model": SHIPPED_NAME,
        "models": models,
        "thresholds": thresholds,
    }
    if baseline_train is not None:
        report["comparison"] = _compare(models, SHIPPED_NAME)
    out_dir.mkdir(parents=True, exist_ok=True)
    report["plots"] = plot_curves(evaluated.labels, scores, out_dir)
    write_report(report, out_dir)
    return report


def artifact_decision_policy(
    artifact_dir: Path, data_path: Path, test_path: Path | None = None, test_labels: Path | None = None
) -> dict:
    """Choose a packaged model's block thresholds on its own validation split (the manifest's data, seed and
    fraction) and a test file, scored by its exported signature; rewrite its manifest and report with them."""
    from toxiguard.serving.model import ServingModel

    artifact = ServingModel(artifact_dir)
    data = artifact.manifest["data"]
    _, _, validation = load_split(data_path, data["validation_fraction"], data["split_seed"], data["sha256"])
    policy_data = {"validation": _scored_validation(validation, artifact.score(validation.texts))}
    if test_path is not None:
        test = _load_test(test_path, test_labels)
        policy_data["test"] = _scored_test(test, artifact.score(test.texts))
    policy = decision_policy.block_policy(artifact.thresholds, policy_data)
    write_manifest(artifact.directory, decision_policy.with_policy(artifact.manifest, policy))
    report_json = artifact.directory / REPORT_DIR / REPORT_JSON
    if report_json.exists():  # the Markdown is rendered again from the JSON, now with the policy's section
        write_report({**json.loads(report_json.read_text()), "block": policy}, report_json.parent)
    return policy
