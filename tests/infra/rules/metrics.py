"""The handler's metrics on the dashboard and the flagged-share alarm.

The metrics lambda/handler.py emits (read from its source as literals) are each on the monitoring module's dashboard,
in the handler's namespace and per Service, and the flagged-share alarm divides FlaggedTexts by TextsScored, so that a
metric renamed on one side fails a test instead of leaving an empty graph. check_handler_metrics is not in RULES: it
needs the handler's metrics as well as the tree.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from .tree import Block, Tree, missing_module, module_dir, reference, resolve_local


@dataclass(frozen=True)
class HandlerMetrics:
    """What lambda/handler.py emits: its namespace, every metric name, and the prefix of the per-label metrics."""

    namespace: str
    names: frozenset[str]
    flag_prefix: str

    @classmethod
    def read(cls, handler_file: Path) -> HandlerMetrics:
        """The handler's METRICS_NAMESPACE, METRIC_UNITS and FLAG_METRIC_PREFIX, read as literals (not imported: the
        handler needs its environment and boto3 at import)."""
        constants = {
            target.id: node.value
            for node in ast.parse(handler_file.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        literal = {
            name: ast.literal_eval(constants[name])
            for name in ("METRICS_NAMESPACE", "METRIC_UNITS", "FLAG_METRIC_PREFIX")
        }
        return cls(literal["METRICS_NAMESPACE"], frozenset(literal["METRIC_UNITS"]), literal["FLAG_METRIC_PREFIX"])


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
    """The dashboard shows every metric the handler emits and no other name in its namespace; the flagged-share
    alarm divides FlaggedTexts by TextsScored; all per Service = var.metrics_service, in the handler's namespace."""
    directory = module_dir("monitoring")
    if violations := missing_module(tree, "monitoring"):
        return violations
    namespace = resolve_local(tree, directory, f"${{{NAMESPACE_LOCAL}}}")
    if namespace != metrics.namespace:
        violations.append(
            f"{directory}: {NAMESPACE_LOCAL} is {namespace!r}, the handler's namespace is {metrics.namespace!r}"
        )
    dashboards = tree.resources("aws_cloudwatch_dashboard", directory)
    alarms = [
        alarm
        for alarm in tree.resources("aws_cloudwatch_metric_alarm", directory)
        if alarm.name == "flagged_share_anomaly"
    ]
    if len(dashboards) != 1 or len(alarms) != 1:
        return [*violations, f"{directory}: expected one aws_cloudwatch_dashboard and the flagged_share_anomaly alarm"]
    shown = handler_metrics_used(tree, dashboards[0], metrics, violations)
    watched = handler_metrics_used(tree, alarms[0], metrics, violations)
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
            violations.append(f"{block.where()}: metric {name!r}, which lambda/handler.py does not emit")
        if dimensions != SERVICE_DIMENSION:
            violations.append(f"{block.where()}: metric {name!r} with dimensions {dimensions}, not {SERVICE_DIMENSION}")
        used.add(name)
    return used
