"""The API functions' metrics on the dashboard and the alarms.

The metrics the modules of lambda/ emit (read from their source as literals) are each on the monitoring module's
dashboard, in their namespace and per Service, and the flagged-share alarm divides FlaggedTexts by TextsScored, so that
a metric renamed on one side fails a test instead of leaving an empty graph. check_handler_metrics is not in RULES: it
needs the functions' metrics as well as the tree.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from .tree import Block, Tree, missing_module, module_dir, reference, resolve_local

# The constants that name what the functions publish, wherever in lambda/ they are defined (the shared HTTP plumbing
# holds the namespace, the scoring function its metric names).
METRIC_CONSTANTS = ("METRICS_NAMESPACE", "METRIC_UNITS", "FLAG_METRIC_PREFIX")


@dataclass(frozen=True)
class HandlerMetrics:
    """What the functions of lambda/ emit: their namespace, every metric name, and the prefix of the per-label
    metrics."""

    namespace: str
    names: frozenset[str]
    flag_prefix: str

    @classmethod
    def read(cls, lambda_dir: Path) -> HandlerMetrics:
        """METRICS_NAMESPACE, METRIC_UNITS (every module's, together) and FLAG_METRIC_PREFIX of the modules in
        lambda_dir, read as literals (not imported: the modules need their environment and boto3 at import)."""
        found: dict[str, list] = {name: [] for name in METRIC_CONSTANTS}
        for module in sorted(lambda_dir.glob("*.py")):
            for node in ast.parse(module.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name) and target.id in found:
                            found[target.id].append(ast.literal_eval(node.value))
        (namespace,), (flag_prefix,) = found["METRICS_NAMESPACE"], found["FLAG_METRIC_PREFIX"]
        return cls(namespace, frozenset(name for units in found["METRIC_UNITS"] for name in units), flag_prefix)


NAMESPACE_LOCAL = "local.metrics_namespace"
SERVICE_DIMENSION = ("Service", "${var.metrics_service}")
# In expressions python-hcl2 keeps as text (for expressions): `[local.metrics_namespace, "Name", "Service", var.x`.
METRIC_IN_EXPRESSION = re.compile(r'local\.metrics_namespace\s*,\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*([\w.]+)')
# In SEARCH expressions: {<namespace>,<dimension names>} MetricName="Name" Service="<service>".
METRIC_IN_SEARCH = re.compile(
    r"\{\$\{local\.metrics_namespace\},[^}]*\}[^']*MetricName=\"([^\"]+)\"[^']*Service=\"([^\"]+)\""
)
# A metric name built per label in a for expression: "Flags_${label}".
PER_LABEL_NAME = re.compile(r"^(\w+)\$\{\w+\}$")


def handler_metric_references(tree: Tree, directory: str, value) -> list[tuple[str, tuple]]:
    """(metric name, (dimension, value, ...)) of every metric of the handler's namespace that `value` refers to: in
    dashboard metric arrays, in for expressions, in SEARCH expressions and in alarm metric blocks (locals resolved)."""
    value = resolve_local(tree, directory, value)
    if isinstance(value, dict):
        references = []
        if reference(value.get("namespace")) == NAMESPACE_LOCAL and "metric_name" in value:
            dimensions = resolve_local(tree, directory, value.get("dimensions"))
            references.append((value["metric_name"], tuple(item for pair in dimensions.items() for item in pair)))
        return references + [ref for item in value.values() for ref in handler_metric_references(tree, directory, item)]
    if isinstance(value, list):
        references = []
        if value and reference(value[0]) == NAMESPACE_LOCAL:
            references.append((value[1], tuple(item for item in value[2:] if not isinstance(item, dict))))
        return references + [ref for item in value for ref in handler_metric_references(tree, directory, item)]
    if isinstance(value, str):
        in_expressions = [
            (name, (key, f"${{{dimension}}}")) for name, key, dimension in METRIC_IN_EXPRESSION.findall(value)
        ]
        return in_expressions + [(name, ("Service", service)) for name, service in METRIC_IN_SEARCH.findall(value)]
    return []


def check_handler_metrics(tree: Tree, metrics: HandlerMetrics) -> list[str]:
    """The dashboard shows every metric the functions emit and no other name in their namespace; the flagged-share
    alarm divides FlaggedTexts by TextsScored, and every other alarm on their metrics watches one they emit; all per
    Service = var.metrics_service, in the functions' namespace."""
    directory = module_dir("monitoring")
    if violations := missing_module(tree, "monitoring"):
        return violations
    namespace = resolve_local(tree, directory, f"${{{NAMESPACE_LOCAL}}}")
    if namespace != metrics.namespace:
        violations.append(
            f"{directory}: {NAMESPACE_LOCAL} is {namespace!r}, the handler's namespace is {metrics.namespace!r}"
        )
    dashboards = tree.resources("aws_cloudwatch_dashboard", directory)
    all_alarms = tree.resources("aws_cloudwatch_metric_alarm", directory)
    alarms = [alarm for alarm in all_alarms if alarm.name == "flagged_share_anomaly"]
    if len(dashboards) != 1 or len(alarms) != 1:
        return [*violations, f"{directory}: expected one aws_cloudwatch_dashboard and the flagged_share_anomaly alarm"]
    shown = handler_metrics_used(tree, dashboards[0], metrics, violations)
    watched = handler_metrics_used(tree, alarms[0], metrics, violations)
    for alarm in all_alarms:
        if alarm.name != "flagged_share_anomaly":
            handler_metrics_used(tree, alarm, metrics, violations)
    emitted = metrics.names | {f"{metrics.flag_prefix}<label>"}
    violations += [f"{dashboards[0].where()}: does not show {name!r}" for name in sorted(emitted - shown)]
    if watched != {"FlaggedTexts", "TextsScored"}:
        violations.append(f"{alarms[0].where()}: watches {sorted(watched)}, not FlaggedTexts / TextsScored")
    return violations


def handler_metrics_used(tree: Tree, block: Block, metrics: HandlerMetrics, violations: list[str]) -> set[str]:
    """The handler metrics `block` uses ("Flags_<label>" for the per-label ones); adds a violation for each name the
    handler does not emit and each reference not per Service = var.metrics_service."""
    used = set()
    for name, dimensions in handler_metric_references(tree, block.directory, block.body):
        if (per_label := PER_LABEL_NAME.match(name)) and per_label.group(1) == metrics.flag_prefix:
            name = f"{metrics.flag_prefix}<label>"
        elif name not in metrics.names:
            violations.append(f"{block.where()}: metric {name!r}, which lambda/ does not emit")
        if dimensions != SERVICE_DIMENSION:
            violations.append(f"{block.where()}: metric {name!r} with dimensions {dimensions}, not {SERVICE_DIMENSION}")
        used.add(name)
    return used
