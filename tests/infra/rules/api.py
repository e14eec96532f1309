"""The API and its authentication: how the Lambda, API Gateway and the Cognito pool are wired together.

The Lambda invokes the endpoint the stack gives it; every route reaches the Lambda through an AWS_PROXY integration,
and API Gateway may invoke the Lambda only from this API. With the JWT authorizer on, every route but the health
probe and CORS preflights demands a token with a scope of the auth module's resource server. The pool takes invited
users only, with one backend client (client credentials, scoring only) and one public code-flow client for the page;
the stack wires the pool into the authorizer and the page; prod refuses an open API unless it is explicitly allowed.
"""

from __future__ import annotations

import re

from .tree import (
    Block,
    Tree,
    as_list,
    each_value,
    first,
    missing_module,
    module_dir,
    reference,
    resolve_local,
    stack_module_calls,
    strings_in,
)

API_ROUTE_KEYS = (
    "POST /v1/moderate", "GET /v1/health", "GET /v1/reviews", "GET /v1/reviews/{id}", "POST /v1/reviews/{id}/decision",
    "OPTIONS /{proxy+}", "$default",
)  # fmt: skip
# Routes anyone may call while the JWT authorizer is on: the health probe (a cached endpoint call) and CORS preflights,
# which browsers send without credentials. Every other route must demand a token with one of its scopes.
PUBLIC_ROUTE_KEYS = frozenset({"GET /v1/health", "OPTIONS /{proxy+}"})
# The scope (by name in the auth module's resource server) each of these routes must accept.
ROUTE_REQUIRED_SCOPES = {"POST /v1/moderate": "moderate"}
# A reference to a resource of a for_each or count, with or without its index: "${aws_lambda_function.this[k].arn}".
INDEXED = r"(?:\[[^\]]*\])?"
# The auth module's OAuth contract (docs/api.md): resource server identifier and scope names.
RESOURCE_SERVER_IDENTIFIER = "toxiguard"
SCOPE_NAMES = frozenset({"moderate", "review"})


################################################################################
# Wiring: Lambda -> endpoint, API -> Lambda
################################################################################


def check_lambda_endpoint_wiring(tree: Tree) -> list[str]:
    """The scoring function's SAGEMAKER_ENDPOINT_NAME is var.endpoint_name, which the stack feeds from the endpoint
    module; no other function calls the endpoint."""
    violations = missing_module(tree, "api") + missing_module(tree, "stack")
    if violations:
        return violations
    functions = tree.resources("aws_lambda_function", module_dir("api"))
    if len(functions) != 1:
        violations.append(f"{module_dir('api')}: {len(functions)} aws_lambda_function resources, expected 1 (for_each)")
    for function in functions:
        environments = each_value(tree, function, first(function.body, "environment").get("variables"))
        endpoints = {
            key: variables["SAGEMAKER_ENDPOINT_NAME"]
            for key, variables in environments.items()
            if isinstance(variables, dict) and "SAGEMAKER_ENDPOINT_NAME" in variables
        }
        if endpoints != {"scoring": "${var.endpoint_name}"}:
            violations.append(
                f"{function.where()}: SAGEMAKER_ENDPOINT_NAME by function is {endpoints}, "
                "not var.endpoint_name for the scoring function alone"
            )
    calls = stack_module_calls(tree)
    api_call, endpoint_call = calls.get("api"), calls.get("model_endpoint")
    if not api_call or not endpoint_call:
        return [*violations, f"{module_dir('stack')}: does not call both ../api and ../model_endpoint"]
    for attribute in ("endpoint_name", "endpoint_arn"):
        expected = f"${{module.{endpoint_call.name}.{attribute}}}"
        if api_call.body.get(attribute) != expected:
            violations.append(f"{api_call.where()}: {attribute} is {api_call.body.get(attribute)!r}, not {expected}")
    return violations


def check_api_routes(tree: Tree) -> list[str]:
    """Each route targets an AWS_PROXY integration whose URI is the Lambda's invoke ARN; the three routes exist."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    functions = {f"aws_lambda_function.{function.name}" for function in tree.resources("aws_lambda_function", api)}
    lambda_integrations = set()
    for integration in tree.resources("aws_apigatewayv2_integration", api):
        uri = re.fullmatch(
            rf"\$\{{(aws_lambda_function\.\w+){INDEXED}\.invoke_arn\}}", str(integration.body.get("integration_uri"))
        )
        if not uri or uri.group(1) not in functions:
            violations.append(f"{integration.where()}: integration_uri is not a Lambda function's invoke_arn")
            continue
        if integration.body.get("integration_type") != "AWS_PROXY":
            violations.append(f"{integration.where()}: integration_type is not AWS_PROXY")
        if str(integration.body.get("payload_format_version")) != "2.0":
            violations.append(f"{integration.where()}: payload_format_version is not 2.0")
        lambda_integrations.add(f"aws_apigatewayv2_integration.{integration.name}")
    routes = tree.resources("aws_apigatewayv2_route", api)
    if not routes:
        violations.append(f"{api}: no aws_apigatewayv2_route")
    for route in routes:
        target = re.fullmatch(
            rf"integrations/\$\{{(aws_apigatewayv2_integration\.\w+){INDEXED}\.id\}}", str(route.body.get("target"))
        )
        if not target or target.group(1) not in lambda_integrations:
            violations.append(f"{route.where()}: target {route.body.get('target')!r} is not the Lambda integration")
    violations += [f"{api}: no route {key!r}" for key in API_ROUTE_KEYS if key not in api_route_table(tree)]
    return violations


def api_route_table(tree: Tree) -> dict[str, tuple[Block, object]]:
    """The api module's routes by route key: the route block and, for a for_each over a map, that key's value
    ({"function": ..., "scopes": [...]} in local.routes).

    Route keys are the keys of a for_each map (written out or in a local), else every string of the for_each or
    route_key expression (`toset(["GET /v1/health", ...])`, a literal route_key).
    """
    table = {}
    for route in tree.resources("aws_apigatewayv2_route", module_dir("api")):
        for_each = resolve_local(tree, route.directory, route.body.get("for_each"))
        if isinstance(for_each, dict):
            table.update({key: (route, value) for key, value in for_each.items()})
        else:
            table.update({key: (route, None) for key in strings_in([for_each, route.body.get("route_key")])})
    return table


def check_lambda_permission(tree: Tree) -> list[str]:
    """API Gateway may invoke the Lambda only from this API (source_arn under its execution ARN)."""
    api = module_dir("api")
    if violations := missing_module(tree, "api"):
        return violations
    apis = {f"aws_apigatewayv2_api.{gateway.name}" for gateway in tree.resources("aws_apigatewayv2_api", api)}
    permissions = tree.resources("aws_lambda_permission", api)
    if not permissions:
        violations.append(f"{api}: no aws_lambda_permission for API Gateway")
    for permission in permissions:
        source = re.match(r"^\$\{(aws_apigatewayv2_api\.\w+)\.execution_arn\}/", str(permission.body.get("source_arn")))
        if not source or source.group(1) not in apis:
            violations.append(f"{permission.where()}: source_arn is not scoped to this API's execution_arn")
        if permission.body.get("principal") != "apigateway.amazonaws.com":
            violations.append(f"{permission.where()}: principal is not apigateway.amazonaws.com")
        if not str(reference(permission.body.get("function_name")) or "").startswith("aws_lambda_function."):
            violations.append(f"{permission.where()}: function_name is not this module's Lambda function")
    return violations


################################################################################
# Authentication: the JWT authorizer, the Cognito pool it trusts, and prod's guard against an open API
################################################################################


def scope_name(identifier: str) -> str:
    """The scope name a client's scope refers to: "${local.scope_identifiers.moderate}" gives "moderate"."""
    return re.split(r"[./]", identifier.strip("${}"))[-1]


def check_api_authorization(tree: Tree) -> list[str]:
    """With the JWT authorizer on, every route but the health probe and CORS preflights needs a token and a scope."""
    api = module_dir("api")
    if violations := missing_module(tree, "api") + missing_module(tree, "auth"):
        return violations
    authorizers = tree.resources("aws_apigatewayv2_authorizer", api)
    if len(authorizers) != 1:
        return [f"{api}: {len(authorizers)} aws_apigatewayv2_authorizer resources, expected one JWT authorizer"]
    (authorizer,) = authorizers
    jwt = first(authorizer.body, "jwt_configuration")
    settings = {
        "authorizer_type": (authorizer.body.get("authorizer_type"), "JWT"),
        "identity_sources": (authorizer.body.get("identity_sources"), ["$request.header.Authorization"]),
        "jwt_configuration.issuer": (jwt.get("issuer"), "${var.jwt_authorizer.issuer}"),
        "jwt_configuration.audience": (jwt.get("audience"), "${var.jwt_authorizer.audience}"),
    }
    violations += [
        f"{authorizer.where()}: {name} is {actual!r}, not {expected!r}"
        for name, (actual, expected) in settings.items()
        if actual != expected
    ]
    if "var.jwt_authorizer" not in str(authorizer.body.get("count")):
        violations.append(f"{authorizer.where()}: count does not follow var.jwt_authorizer (on exactly when it is set)")

    # Which routes demand which scopes: a for_each map of route key => its scope names, [] for a public route.
    auth_scopes = auth_scope_names(tree)
    table = api_route_table(tree)
    for key, (route, spec) in sorted(table.items()):
        scope_names = spec.get("scopes") if isinstance(spec, dict) else None
        if not isinstance(scope_names, list):
            violations.append(f"{route.where()}: {key!r} has no scope list (for_each over route key => {{scopes}})")
        elif key in PUBLIC_ROUTE_KEYS and scope_names:
            violations.append(f"{route.where()}: {key!r} must stay public but demands {scope_names}")
        elif key not in PUBLIC_ROUTE_KEYS and not scope_names:
            violations.append(f"{route.where()}: {key!r} demands no scope, so it stays open with the authorizer on")
        elif unknown := sorted(set(scope_names) - auth_scopes):
            violations.append(f"{route.where()}: {key!r} demands {unknown}, which the auth module does not define")
        elif (required := ROUTE_REQUIRED_SCOPES.get(key)) and required not in scope_names:
            violations.append(f"{route.where()}: {key!r} does not accept the {required!r} scope")

    # The routes apply that table: authorization type, authorizer and scopes all come from one local built from the
    # table and the authorizer's scope identifiers, and the authorizer is this module's.
    for route in {block.address: block for block, _ in table.values()}.values():
        table_local = reference(route.body.get("for_each")) or ""
        attributes = ("authorization_type", "authorizer_id", "authorization_scopes")
        used = {name: set(re.findall(r"\blocal\.(\w+)", str(route.body.get(name)))) for name in attributes}
        shared = set.intersection(*used.values())
        derived = [
            name
            for name in shared
            if table_local in str(resolve_local(tree, api, f"${{local.{name}}}"))
            and "var.jwt_authorizer.scopes" in str(resolve_local(tree, api, f"${{local.{name}}}"))
        ]
        if not table_local.startswith("local.") or not derived:
            violations.append(
                f"{route.where()}: {', '.join(attributes)} do not all come from one local built from "
                "the route table and var.jwt_authorizer.scopes"
            )
        if '"JWT"' not in str(route.body.get("authorization_type")):
            violations.append(f'{route.where()}: authorization_type is never "JWT"')
        if f"aws_apigatewayv2_authorizer.{authorizer.name}" not in str(route.body.get("authorizer_id")):
            violations.append(f"{route.where()}: authorizer_id is not aws_apigatewayv2_authorizer.{authorizer.name}")
    return violations


def auth_scope_names(tree: Tree) -> set[str]:
    """Scope names of the auth module's resource server, written out or from a dynamic "scope" over a map."""
    names = set()
    for server in tree.resources("aws_cognito_resource_server", module_dir("auth")):
        names |= {str(scope.get("scope_name")) for scope in as_list(server.body.get("scope"))}
        for entry in as_list(server.body.get("dynamic")):
            if "scope" in entry:
                scopes = resolve_local(tree, server.directory, entry["scope"].get("for_each"))
                names |= set(scopes) if isinstance(scopes, dict) else set()
    return names


def check_cognito_clients(tree: Tree) -> list[str]:
    """Invited users only; backends get client credentials for scoring only; the page is a public code-flow client."""
    auth = module_dir("auth")
    if violations := missing_module(tree, "auth"):
        return violations
    for server in tree.resources("aws_cognito_resource_server", auth):
        identifier = resolve_local(tree, auth, server.body.get("identifier"))
        if identifier != RESOURCE_SERVER_IDENTIFIER:
            violations.append(f"{server.where()}: identifier is {identifier!r}, not {RESOURCE_SERVER_IDENTIFIER!r}")
    if (names := auth_scope_names(tree)) != SCOPE_NAMES:
        violations.append(f"{auth}: resource server scopes are {sorted(names)}, expected {sorted(SCOPE_NAMES)}")
    for pool in tree.resources("aws_cognito_user_pool", auth):
        if first(pool.body, "admin_create_user_config").get("allow_admin_create_user_only") is not True:
            violations.append(f"{pool.where()}: people can sign themselves up (allow_admin_create_user_only)")
    clients = tree.resources("aws_cognito_user_pool_client", auth)
    flows = {client.name: client.body.get("allowed_oauth_flows") for client in clients}
    backends = [client for client in clients if flows[client.name] == ["client_credentials"]]
    pages = [client for client in clients if flows[client.name] == ["code"]]
    if len(backends) != 1 or len(pages) != 1 or len(clients) != 2:
        return [*violations, f"{auth}: expected one client_credentials client and one code client, found {flows}"]
    (backend,), (page,) = backends, pages
    backend_scopes = {
        scope_name(scope) for scope in as_list(resolve_local(tree, auth, backend.body.get("allowed_oauth_scopes")))
    }
    if backend.body.get("generate_secret") is not True:
        violations.append(f"{backend.where()}: a client_credentials client needs generate_secret = true")
    if backend_scopes != {"moderate"}:
        violations.append(f"{backend.where()}: scopes {sorted(backend_scopes)}, expected only 'moderate'")
    if page.body.get("generate_secret") is not False:
        violations.append(f"{page.where()}: the page's client is public (code in the browser): generate_secret = false")
    for urls in ("callback_urls", "logout_urls"):
        if page.body.get(urls) != "${var.redirect_urls}":
            violations.append(f"{page.where()}: {urls} is not var.redirect_urls")
    return violations


def check_auth_wiring(tree: Tree) -> list[str]:
    """The pool exists exactly when auth = "jwt"; the authorizer trusts it and both its clients; the page uses it."""
    stack = module_dir("stack")
    if violations := missing_module(tree, "stack"):
        return violations
    calls = stack_module_calls(tree)
    auth_call, api_call, site_call = calls.get("auth"), calls.get("api"), calls.get("site")
    if not auth_call or not api_call or not site_call:
        return [f"{stack}: does not call ../auth, ../api and ../site"]
    count = expand_locals(tree, stack, str(auth_call.body.get("count")))
    if 'var.auth == "jwt"' not in count:
        violations.append(f'{auth_call.where()}: count is {count!r}, not created exactly when var.auth == "jwt"')
    auth = f"module.{auth_call.name}[0]"
    authorizer = object_attributes(str(api_call.body.get("jwt_authorizer")))
    expected = {
        "issuer": {f"{auth}.user_pool_issuer_url"},
        "audience": {f"{auth}.backend_client_id", f"{auth}.web_client_id"},
        "scopes": {f"{auth}.resource_server_scopes"},
    }
    for name, outputs in expected.items():
        if set(re.findall(r"\bmodule\.\w+(?:\[\d+\])?(?:\.\w+)+", authorizer.get(name, ""))) != outputs:
            violations.append(f"{api_call.where()}: jwt_authorizer.{name} is not {' and '.join(sorted(outputs))}")
    for argument, output in (("auth_hosted_ui_url", "hosted_ui_url"), ("auth_client_id", "web_client_id")):
        if f"{auth}.{output}" not in str(site_call.body.get(argument)):
            violations.append(f"{site_call.where()}: {argument} is not module.{auth_call.name}[0].{output}")
    if f"module.{site_call.name}.site_redirect_url" not in str(auth_call.body.get("redirect_urls")):
        violations.append(f"{auth_call.where()}: redirect_urls lack module.{site_call.name}.site_redirect_url")
    return violations


def object_attributes(expression: str) -> dict[str, str]:
    """The text of each `name = value` in an object expression (`{issuer = a, audience = [b, c]}`), by name."""
    names = list(re.finditer(r"(\w+)\s*=(?!=)", expression))
    ends = [match.start() for match in names[1:]] + [len(expression)]
    return {match.group(1): expression[match.end() : end] for match, end in zip(names, ends, strict=True)}


def expand_locals(tree: Tree, directory: str, expression: str) -> str:
    """The expression with each `local.<name>` replaced by that local's expression (one level deep)."""

    def expand(match: re.Match) -> str:
        value = resolve_local(tree, directory, f"${{local.{match.group(1)}}}")
        return f"({value.strip('${}')})" if isinstance(value, str) else match.group(0)

    return re.sub(r"\blocal\.(\w+)", expand, expression)


# (environment, auth, allow_unauthenticated_api) => whether the stack must accept it.
AUTH_GUARD_CASES = {
    ("prod", "jwt", False): True,
    ("prod", "none", False): False,
    ("prod", "none", True): True,
    ("dev", "none", False): True,
    ("dev", "jwt", False): True,
}


def check_prod_requires_auth(tree: Tree) -> list[str]:
    """prod refuses auth = "none" unless allow_unauthenticated_api is set; its default is "jwt", dev's "none"."""
    stack = module_dir("stack")
    if violations := missing_module(tree, "stack"):
        return violations
    variables = {variable.name: variable.body for variable in tree.blocks("variable", directory=stack)}
    if "auth" not in variables or "allow_unauthenticated_api" not in variables:
        return [f"{stack}: no variable auth and allow_unauthenticated_api"]
    override = variables["allow_unauthenticated_api"]
    if override.get("type") != "bool" or override.get("default") is not False:
        violations.append(f"{stack}: allow_unauthenticated_api must be a bool that defaults to false")
    conditions = [validation.get("condition", "") for validation in as_list(variables["auth"].get("validation"))]
    for (environment, auth, allow), accepted in AUTH_GUARD_CASES.items():
        values = {"environment": environment, "auth": auth, "allow_unauthenticated_api": allow}
        results = [evaluate_condition(condition, values) for condition in conditions]
        if accepted != all(result is not False for result in results):
            verdict = "refuses" if accepted else "accepts"
            case = f"environment={environment}, auth={auth}, allow_unauthenticated_api={allow}"
            violations.append(f"{stack}: variable auth {verdict} {case}")

    for environment, expected in (("dev", "none"), ("prod", "jwt")):
        directory = f"envs/{environment}"
        calls = [call for call in tree.blocks("module", directory=directory) if "modules/stack" in str(call.body)]
        root_variables = {variable.name: variable.body for variable in tree.blocks("variable", directory=directory)}
        for call in calls:
            argument = call.body.get("auth", variables["auth"].get("default"))
            target = reference(argument) or ""
            default = root_variables.get(target.removeprefix("var."), {}).get("default") if target else argument
            if default != expected:
                violations.append(f'{call.where()}: auth defaults to {default!r} in {environment}, not "{expected}"')
            override_default = root_variables.get("allow_unauthenticated_api", {}).get("default", False)
            if override_default is not False:
                violations.append(f"{directory}: allow_unauthenticated_api defaults to {override_default!r}")
    return violations


CONDITION_TOKEN = re.compile(r'\s*(\|\||&&|==|!=|!|\(|\)|"[^"]*"|true|false|var\.\w+)')


def evaluate_condition(condition: str | bool, variables: dict[str, object]) -> bool | None:
    """A validation condition made only of var.<name>, string and bool literals, !, ==, !=, && and || (HCL's
    precedence), evaluated for these variables; None for any other expression (a function call, say)."""
    if isinstance(condition, bool):  # a literal `condition = true`
        return condition
    text = condition.strip()
    text = text[2:-1] if text.startswith("${") and text.endswith("}") else text
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = CONDITION_TOKEN.match(text, position)
        if not match:
            return None
        tokens.append(match.group(1))
        position = match.end()

    def atom(index: int) -> tuple[object, int]:
        token = tokens[index]
        if token == "(":
            value, index = either(index + 1)
            return value, index + 1  # past ")"
        if token == "!":
            value, index = atom(index + 1)
            return not value, index
        if token.startswith("var."):
            return variables[token.removeprefix("var.")], index + 1
        return {"true": True, "false": False}.get(token, token.strip('"')), index + 1

    def comparison(index: int) -> tuple[object, int]:
        left, index = atom(index)
        if index < len(tokens) and tokens[index] in ("==", "!="):
            right, after = atom(index + 1)
            return (left == right) == (tokens[index] == "=="), after
        return left, index

    def both(index: int) -> tuple[object, int]:
        value, index = comparison(index)
        while index < len(tokens) and tokens[index] == "&&":
            right, index = comparison(index + 1)
            value = value and right
        return value, index

    def either(index: int) -> tuple[object, int]:
        value, index = both(index)
        while index < len(tokens) and tokens[index] == "||":
            right, index = both(index + 1)
            value = value or right
        return value, index

    try:
        value, end = either(0)
    except (IndexError, KeyError):
        return None
    return bool(value) if end == len(tokens) else None
