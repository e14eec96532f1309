"""The review queue: a DynamoDB table laid out as lambda/review_store.py expects, the reviews function behind the
review routes (scope review only), and alarms on the table and on items the scoring function could not store.

Who may do what on the table (the scoring role PutItem only, the reviews role Query, GetItem and UpdateItem only, the
key through DynamoDB only) is iam.py's check_lambda_policy, with every other role of the api module.
"""

from __future__ import annotations

import re

from toxiguard.lambda_functions import REVIEW_STORE_FILE, load_handler
from toxiguard.serving.local.gateway import REVIEW_ROUTE_KEYS as GATEWAY_REVIEW_ROUTE_KEYS

from .api import api_route_table
from .tree import (
    Tree,
    as_list,
    each_value,
    first,
    missing_module,
    module_dir,
    resolve_local,
    stack_module_calls,
    strings_in,
)

# The DynamoDB layout of lambda/review_store.py (its DynamoDB store), read from the module itself: items by partition
# key id; the moderators' queue through the global secondary index status-created, partition status, sort created_key
# ("<created_at>#<id>"), every attribute projected so a page is one Query; expires_at (epoch seconds) is the TTL
# attribute. All keys are strings.
_store = load_handler({}, REVIEW_STORE_FILE)
STORE_LAYOUT = {
    "hash_key": _store.TABLE_KEY,
    "index_name": _store.INDEX_NAME,
    "index_hash_key": _store.INDEX_HASH_KEY,
    "index_sort_key": _store.INDEX_RANGE_KEY,
    "ttl_attribute": _store.TTL_ATTRIBUTE,
}

# The routes of lambda/reviews.py (the local gateway sends the same ones to it), and what each function of the api
# module must be given.
REVIEW_ROUTE_KEYS = tuple(sorted(GATEWAY_REVIEW_ROUTE_KEYS))
REVIEW_PATH = re.compile(r"^[A-Z]+ /v1/reviews(/|$)")
FUNCTION_HANDLERS = {"scoring": "handler.lambda_handler", "reviews": "reviews.lambda_handler"}
REVIEWS_ENVIRONMENT = frozenset({"REVIEWS_TABLE", "ALLOWED_ORIGINS", "LOG_LEVEL", "METRICS_SERVICE", "MAX_BODY_BYTES"})
SCORING_REVIEW_ENVIRONMENT = frozenset(
    {"REVIEWS_TABLE", "REVIEWS_STORE_DEFAULT", "REVIEWS_TTL_DAYS", "MODEL_BLOCK_THRESHOLDS"}
)
TABLE_NAME = "${var.reviews_table.table_name}"
TABLE_OUTPUTS = ("table_name", "table_arn", "index_arn", "kms_key_arn")

# What the table's alarms must watch (AWS/DynamoDB), and the queue's own alarm in the monitoring module.
TABLE_ALARM_METRICS = frozenset({"ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors"})
STORE_FAILURES_METRIC = "ReviewStoreFailures"


def check_reviews_table(tree: Tree) -> list[str]:
    """The review table is on demand, keyed and indexed as lambda/review_store.py expects (STORE_LAYOUT), expires items
    by TTL on expires_at, has point-in-time recovery and is encrypted with the module's rotated customer managed key;
    its deletion protection is an input, on in prod; the stack gives the api module this table's outputs."""
    directory = module_dir("reviews_table")
    if violations := missing_module(tree, "reviews_table") + missing_module(tree, "stack"):
        return violations
    tables = tree.resources("aws_dynamodb_table", directory)
    if len(tables) != 1:
        return [f"{directory}: {len(tables)} aws_dynamodb_table resources, expected 1"]
    (table,) = tables
    body, where = table.body, table.where()

    def value(item):
        return resolve_local(tree, directory, item)

    expected_attributes = {STORE_LAYOUT[key]: "S" for key in ("hash_key", "index_hash_key", "index_sort_key")}
    attributes = {value(attribute.get("name")): attribute.get("type") for attribute in as_list(body.get("attribute"))}
    indexes = as_list(body.get("global_secondary_index"))
    index = indexes[0] if len(indexes) == 1 else {}
    settings = {
        "billing_mode": (body.get("billing_mode"), "PAY_PER_REQUEST"),
        "hash_key": (value(body.get("hash_key")), STORE_LAYOUT["hash_key"]),
        "range_key": (value(body.get("range_key")), None),
        "attribute": (attributes, expected_attributes),
        "global_secondary_index count": (len(indexes), 1),
        "global_secondary_index.name": (value(index.get("name")), STORE_LAYOUT["index_name"]),
        "global_secondary_index.hash_key": (value(index.get("hash_key")), STORE_LAYOUT["index_hash_key"]),
        "global_secondary_index.range_key": (value(index.get("range_key")), STORE_LAYOUT["index_sort_key"]),
        "global_secondary_index.projection_type": (index.get("projection_type"), "ALL"),
        "ttl.attribute_name": (value(first(body, "ttl").get("attribute_name")), STORE_LAYOUT["ttl_attribute"]),
        "ttl.enabled": (first(body, "ttl").get("enabled"), True),
        "point_in_time_recovery.enabled": (first(body, "point_in_time_recovery").get("enabled"), True),
        "server_side_encryption.enabled": (first(body, "server_side_encryption").get("enabled"), True),
        "deletion_protection_enabled": (body.get("deletion_protection_enabled"), "${var.deletion_protection}"),
    }
    violations += [
        f"{where}: {name} is {actual!r}, not {expected!r}"
        for name, (actual, expected) in settings.items()
        if actual != expected
    ]

    key = re.fullmatch(r"\$\{aws_kms_key\.(\w+)\.arn\}", str(first(body, "server_side_encryption").get("kms_key_arn")))
    keys = {block.name: block for block in tree.resources("aws_kms_key", directory)}
    if not key or key.group(1) not in keys:
        violations.append(f"{where}: not encrypted with a customer managed key of this module (kms_key_arn)")
    elif keys[key.group(1)].body.get("enable_key_rotation") is not True:
        violations.append(f"{keys[key.group(1)].where()}: enable_key_rotation is not true")

    # prod keeps its moderators' decisions: deletion protection on (the stack's default, or set to true).
    stack_variables = {block.name: block.body for block in tree.blocks("variable", directory=module_dir("stack"))}
    default = stack_variables.get("reviews_deletion_protection", {}).get("default")
    for call in tree.blocks("module", directory="envs/prod"):
        if str(call.body.get("source", "")).endswith("modules/stack"):
            protection = call.body.get("reviews_deletion_protection", default)
            if protection is not True:
                violations.append(f"{call.where()}: reviews_deletion_protection is {protection!r} in prod, not true")

    calls = stack_module_calls(tree)
    table_call, api_call = calls.get("reviews_table"), calls.get("api")
    if not table_call or not api_call:
        return [*violations, f"{module_dir('stack')}: does not call ../reviews_table and ../api"]
    given = api_call.body.get("reviews_table")
    violations += [
        f"{api_call.where()}: reviews_table.{output} is not module.{table_call.name}.{output}"
        for output in TABLE_OUTPUTS
        if not isinstance(given, dict) or given.get(output) != f"${{module.{table_call.name}.{output}}}"
    ]
    return violations


def check_review_routes(tree: Tree) -> list[str]:
    """The review routes go to the reviews function and accept only the review scope; every other route goes to the
    scoring function; each route reaches its function through that function's own integration."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    table = api_route_table(tree)
    violations += [f"{api}: no route {key!r}" for key in REVIEW_ROUTE_KEYS if key not in table]
    for key, (route, spec) in sorted(table.items()):
        spec = spec if isinstance(spec, dict) else {}
        review_route = bool(REVIEW_PATH.match(key))
        function = "reviews" if review_route else "scoring"
        if spec.get("function") != function:
            violations.append(f"{route.where()}: {key!r} goes to {spec.get('function')!r}, not the {function} function")
        if review_route and spec.get("scopes") != ["review"]:
            violations.append(f"{route.where()}: {key!r} accepts {spec.get('scopes')}, not the review scope alone")

    # route -> its function's integration -> that function, all keyed alike.
    functions = {block.name: block for block in tree.resources("aws_lambda_function", api)}
    for route in {block.address: block for block, _ in table.values()}.values():
        if not re.fullmatch(
            r"integrations/\$\{aws_apigatewayv2_integration\.\w+\[each\.value\.function\]\.id\}",
            str(route.body.get("target")),
        ):
            violations.append(f"{route.where()}: target is not the integration of the route's function")
    for integration in tree.resources("aws_apigatewayv2_integration", api):
        uri = re.fullmatch(
            r"\$\{aws_lambda_function\.(\w+)\[each\.key\]\.invoke_arn\}", str(integration.body.get("integration_uri"))
        )
        target = functions.get(uri.group(1)) if uri else None
        if not target or integration.body.get("for_each") != target.body.get("for_each"):
            violations.append(f"{integration.where()}: not one integration per function (for_each as the functions)")
    return violations


def check_review_functions(tree: Tree) -> list[str]:
    """Both functions run from the same package with their own entry point; the reviews function gets exactly its
    settings (REVIEWS_ENVIRONMENT) and the scoring function the review queue's and block thresholds' (both the table
    the stack made, by name)."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    for function in tree.resources("aws_lambda_function", api):
        handlers = each_value(tree, function, function.body.get("handler"))
        if handlers != FUNCTION_HANDLERS:
            violations.append(f"{function.where()}: handlers {handlers}, expected {FUNCTION_HANDLERS}")
        if len(set(each_value(tree, function, function.body.get("filename")).values())) != 1:
            violations.append(f"{function.where()}: the functions are not built from one package")
        environments = each_value(tree, function, first(function.body, "environment").get("variables"))
        reviews, scoring = environments.get("reviews"), environments.get("scoring")
        if not isinstance(reviews, dict) or set(reviews) != REVIEWS_ENVIRONMENT:
            names = sorted(reviews) if isinstance(reviews, dict) else reviews
            violations.append(f"{function.where()}: the reviews function's environment is {names}")
        if not isinstance(scoring, dict) or not set(scoring) >= SCORING_REVIEW_ENVIRONMENT:
            violations.append(f"{function.where()}: the scoring function lacks {sorted(SCORING_REVIEW_ENVIRONMENT)}")
        for name, variables in (("reviews", reviews), ("scoring", scoring)):
            if isinstance(variables, dict) and variables.get("REVIEWS_TABLE") != TABLE_NAME:
                violations.append(f"{function.where()}: the {name} function's REVIEWS_TABLE is not {TABLE_NAME}")
    return violations


def check_review_alarms(tree: Tree) -> list[str]:
    """The table's alarms watch its and its index's throttle events and its system errors and notify the monitoring
    module's topic; monitoring alarms on any ReviewStoreFailures in five minutes and on the reviews function's errors
    and throttles."""
    table_module, monitoring = module_dir("reviews_table"), module_dir("monitoring")
    if violations := missing_module(tree, "reviews_table") + missing_module(tree, "monitoring"):
        return violations
    alarms = tree.resources("aws_cloudwatch_metric_alarm", table_module)
    # The metrics are named in the alarms and in the locals they are built from (maps and for expressions alike).
    watched = str(
        [alarm.body for alarm in alarms] + [block.body for block in tree.blocks("locals", directory=table_module)]
    )
    violations += [f"{table_module}: no alarm on {name}" for name in sorted(TABLE_ALARM_METRICS) if name not in watched]
    if "GlobalSecondaryIndexName" not in watched:
        violations.append(f"{table_module}: the throttle alarm does not watch the index (GlobalSecondaryIndexName)")
    violations += [
        f"{alarm.where()}: alarm_actions are not var.alarm_topic_arn"
        for alarm in alarms
        if "var.alarm_topic_arn" not in str(resolve_local(tree, table_module, alarm.body.get("alarm_actions")))
    ]

    calls = stack_module_calls(tree)
    table_call, monitoring_call, api_call = calls.get("reviews_table"), calls.get("monitoring"), calls.get("api")
    if not table_call or not monitoring_call or not api_call:
        return [*violations, f"{module_dir('stack')}: does not call ../reviews_table, ../monitoring and ../api"]
    if table_call.body.get("alarm_topic_arn") != f"${{module.{monitoring_call.name}.sns_topic_arn}}":
        violations.append(f"{table_call.where()}: alarm_topic_arn is not module.{monitoring_call.name}.sns_topic_arn")

    failures = [
        alarm
        for alarm in tree.resources("aws_cloudwatch_metric_alarm", monitoring)
        if alarm.body.get("metric_name") == STORE_FAILURES_METRIC
    ]
    if len(failures) != 1:
        violations.append(f"{monitoring}: {len(failures)} alarms on {STORE_FAILURES_METRIC}, expected 1")
    for alarm in failures:
        period = resolve_local(tree, monitoring, alarm.body.get("period"))
        settings = {
            "comparison_operator": (alarm.body.get("comparison_operator"), "GreaterThanThreshold"),
            "threshold": (alarm.body.get("threshold"), 0),
            "statistic": (alarm.body.get("statistic"), "Sum"),
            "period": (period, 300),
            "evaluation_periods": (alarm.body.get("evaluation_periods"), 1),
        }
        violations += [
            f"{alarm.where()}: {name} is {actual!r}, not {expected!r}"
            for name, (actual, expected) in settings.items()
            if actual != expected
        ]

    # The reviews function's errors and throttles, by the same name the api module gives it.
    lambda_functions = resolve_local(tree, monitoring, "${local.lambda_functions}")
    if "${var.reviews_function_name}" not in strings_in(lambda_functions):
        violations.append(f"{monitoring}: local.lambda_functions has no alarms for var.reviews_function_name")
    if monitoring_call.body.get("reviews_function_name") != api_call.body.get("reviews_function_name"):
        violations.append(f"{monitoring_call.where()}: reviews_function_name is not the api module's")
    return violations
