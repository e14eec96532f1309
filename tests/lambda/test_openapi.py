"""docs/openapi.yaml is valid OpenAPI 3.1 and says exactly what the handler does.

Every response in the handler tests is validated against the spec by the `call` fixture. Here the spec is checked
the other way round: each documented path, method, status and error code has a scenario that makes the handler
produce it (or, for 401 and 403, the JWT authorizer that answers before the handler runs: locally the gateway's), and
the scenarios cover nothing the spec leaves out. Adding a status, code, field or route to one side only fails a test.
"""

import io
import time

import pytest
import urllib3.exceptions
from botocore.response import StreamingBody
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from toxiguard.serving.local.auth import MODERATE_SCOPE, REVIEW_SCOPE, AuthError, Authorizer, AuthSettings
from toxiguard.serving.local.gateway import authorizer_answer
from toxiguard.serving.local.issuer import LocalIssuer

import http_api
from .conftest import SPEC_URI, error_code, handler, http_api_event, rest_api_event, review_store

TEXT = "You are a complete idiot and everyone here hates you."
ORIGIN = "https://app.example.org"


def moderate(body=None, **options):
    return http_api_event(body={"text": TEXT} if body is None else body, **options)


def health():
    return http_api_event(method="GET", path="/v1/health")


def preflight(path, origin=ORIGIN):
    return rest_api_event(method="OPTIONS", path=path, headers={"Origin": origin})


def stalled_answer(stub):
    """The endpoint accepts the call but the answer never finishes arriving (urllib3's read timeout)."""

    class Stalled(io.RawIOBase):
        def read(self, size=-1):
            raise urllib3.exceptions.ReadTimeoutError(None, "/invocations", "read timed out")

    stub.stubber.add_response("invoke_endpoint", {"Body": StreamingBody(Stalled(), 10)})


def endpoint_fails(code: str, http_status: int):
    return lambda stub: stub.fails(code, f"{code} from SageMaker", http_status)


def endpoint_answers(texts: list[str], raw: bytes | None = None):
    return lambda stub: stub.answers(texts, raw=raw)


MODERATE, HEALTH, REVIEWS = "/v1/moderate", "/v1/health", "/v1/reviews"
ITEM, DECISION = "/v1/reviews/{id}", "/v1/reviews/{id}/decision"
# (method, path, status, error code) -> (event, how the endpoint behaves). Path "*" is any undocumented path.
SCENARIOS = {
    ("POST", MODERATE, 200, None): (moderate, endpoint_answers([TEXT])),
    ("POST", MODERATE, 400, "invalid_json"): (lambda: moderate(b"{"), None),
    ("POST", MODERATE, 400, "invalid_request"): (lambda: moderate({"text": TEXT, "lang": "en"}), None),
    ("POST", MODERATE, 400, "missing_text"): (lambda: moderate({}), None),
    ("POST", MODERATE, 400, "empty_text"): (lambda: moderate({"text": "  "}), None),
    ("POST", MODERATE, 413, "payload_too_large"): (lambda: moderate(b" " * 262_145), None),
    ("POST", MODERATE, 413, "too_many_texts"): (lambda: moderate({"texts": ["a"] * 65}), None),
    ("POST", MODERATE, 413, "text_too_long"): (lambda: moderate({"text": "a" * 5001}), None),
    ("POST", MODERATE, 415, "unsupported_media_type"): (lambda: moderate(headers={"Content-Type": "text/csv"}), None),
    ("POST", MODERATE, 429, "endpoint_throttled"): (moderate, endpoint_fails("ThrottlingException", 400)),
    ("POST", MODERATE, 500, "internal_error"): (moderate, endpoint_fails("AccessDeniedException", 400)),
    ("POST", MODERATE, 502, "bad_model_response"): (moderate, endpoint_answers([TEXT], raw=b"{}")),
    ("POST", MODERATE, 503, "endpoint_unavailable"): (moderate, endpoint_fails("ServiceUnavailable", 503)),
    ("POST", MODERATE, 504, "endpoint_timeout"): (moderate, stalled_answer),
    ("OPTIONS", MODERATE, 204, None): (lambda: preflight(MODERATE), None),
    ("OPTIONS", MODERATE, 403, "origin_not_allowed"): (lambda: preflight(MODERATE, "https://evil.example"), None),
    ("GET", HEALTH, 200, None): (health, endpoint_answers(["health check"])),
    ("GET", HEALTH, 500, "internal_error"): (health, endpoint_fails("AccessDeniedException", 400)),
    ("GET", HEALTH, 503, "endpoint_throttled"): (health, endpoint_fails("ModelNotReadyException", 429)),
    ("GET", HEALTH, 503, "bad_model_response"): (health, endpoint_fails("ModelError", 424)),
    ("GET", HEALTH, 503, "endpoint_unavailable"): (health, endpoint_fails("InternalFailure", 500)),
    ("GET", HEALTH, 503, "endpoint_timeout"): (health, stalled_answer),
    ("OPTIONS", HEALTH, 204, None): (lambda: preflight(HEALTH), None),
    ("OPTIONS", HEALTH, 403, "origin_not_allowed"): (lambda: preflight(HEALTH, "null"), None),
    ("GET", "*", 404, "not_found"): (lambda: http_api_event(method="GET", path="/v1/nothing"), None),
    ("PUT", MODERATE, 405, "method_not_allowed"): (lambda: moderate(method="PUT"), None),
}


class BrokenStore:
    """A review store whose every call fails as a store does (`StoreError`), or unexpectedly (`crash`)."""

    def __init__(self, crash: bool = False):
        self.failure = RuntimeError("a bug in the store") if crash else review_store.StoreError("the disk is gone")

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise self.failure

        return fail


def seeded_store(store) -> dict[str, str]:
    """Put one pending and one decided item in `store`; their ids by status."""
    pending, decided = (
        review_store.new_item(TEXT, ref=None, scores=dict.fromkeys(handler.DEFAULT_LABELS, 0.9), labels=["toxic"],
                              thresholds={"review": dict.fromkeys(handler.DEFAULT_LABELS, 0.5),
                                          "block": dict.fromkeys(handler.DEFAULT_LABELS)},
                              action="review", model_version="test", now=time.time())
        for _ in range(2)
    )  # fmt: skip
    store.put_items([pending, decided])
    store.decide(decided["id"], "remove", decided_by="moderator", note=None, decided_at=pending["created_at"])
    return {"pending": pending["id"], "decided": decided["id"]}


def review_event(method: str, path: str, item: str = "pending", **options):
    """An event for a review route; `{id}` in `path` becomes the id of the seeded item named `item` (or `item`
    itself when it is no seeded item's name)."""
    return lambda ids: http_api_event(method=method, path=path.replace("{id}", ids.get(item, item)), **options)


UNKNOWN_ID = "0" * 32
# (method, path, status, error code) -> (event for the seeded ids, the store: "seeded", "broken" or "crashing").
REVIEW_SCENARIOS = {
    ("GET", REVIEWS, 200, None): (review_event("GET", REVIEWS), "seeded"),
    ("GET", REVIEWS, 400, "invalid_request"): (review_event("GET", REVIEWS, query={"status": "open"}), "seeded"),
    ("GET", REVIEWS, 500, "internal_error"): (review_event("GET", REVIEWS), "crashing"),
    ("GET", REVIEWS, 503, "review_store_unavailable"): (review_event("GET", REVIEWS), "broken"),
    ("OPTIONS", REVIEWS, 204, None): (lambda ids: preflight(REVIEWS), "seeded"),
    ("OPTIONS", REVIEWS, 403, "origin_not_allowed"): (lambda ids: preflight(REVIEWS, "https://evil.example"), "seeded"),
    ("GET", ITEM, 200, None): (review_event("GET", ITEM), "seeded"),
    ("GET", ITEM, 404, "review_not_found"): (review_event("GET", ITEM, UNKNOWN_ID), "seeded"),
    ("GET", ITEM, 500, "internal_error"): (review_event("GET", ITEM), "crashing"),
    ("GET", ITEM, 503, "review_store_unavailable"): (review_event("GET", ITEM), "broken"),
    ("OPTIONS", ITEM, 204, None): (lambda ids: preflight(f"{REVIEWS}/{UNKNOWN_ID}"), "seeded"),
    ("OPTIONS", ITEM, 403, "origin_not_allowed"): (lambda ids: preflight(f"{REVIEWS}/{UNKNOWN_ID}", "null"), "seeded"),
    ("POST", DECISION, 200, None): (review_event("POST", DECISION, body={"decision": "approve"}), "seeded"),
    ("POST", DECISION, 400, "invalid_json"): (review_event("POST", DECISION, body=b"{"), "seeded"),
    ("POST", DECISION, 400, "invalid_request"): (review_event("POST", DECISION, body={"decision": "ban"}), "seeded"),
    ("POST", DECISION, 404, "review_not_found"): (
        review_event("POST", DECISION, UNKNOWN_ID, body={"decision": "remove"}),
        "seeded",
    ),
    ("POST", DECISION, 409, "decision_conflict"): (
        review_event("POST", DECISION, "decided", body={"decision": "approve"}),
        "seeded",
    ),
    ("POST", DECISION, 413, "payload_too_large"): (review_event("POST", DECISION, body=b" " * 262_145), "seeded"),
    ("POST", DECISION, 415, "unsupported_media_type"): (
        review_event("POST", DECISION, body={"decision": "remove"}, headers={"Content-Type": "text/plain"}),
        "seeded",
    ),
    ("POST", DECISION, 500, "internal_error"): (
        review_event("POST", DECISION, body={"decision": "remove"}),
        "crashing",
    ),
    ("POST", DECISION, 503, "review_store_unavailable"): (
        review_event("POST", DECISION, body={"decision": "remove"}),
        "broken",
    ),
    ("OPTIONS", DECISION, 204, None): (lambda ids: preflight(f"{REVIEWS}/{UNKNOWN_ID}/decision"), "seeded"),
    ("OPTIONS", DECISION, 403, "origin_not_allowed"): (
        lambda ids: preflight(f"{REVIEWS}/{UNKNOWN_ID}/decision", "null"),
        "seeded",
    ),
}


# Cases the authorizer answers before the function runs: (method, path, status, error code) -> the request's headers,
# given the local development issuer.
AUTHORIZER_SCENARIOS = {
    ("POST", MODERATE, 401, "unauthorized"): lambda issuer: {},
    ("POST", MODERATE, 403, "insufficient_scope"): lambda issuer: {
        "Authorization": f"Bearer {issuer.mint_token([REVIEW_SCOPE])}"
    },
    **{
        (method, path, status, code): headers
        for method, path in (("GET", REVIEWS), ("GET", ITEM), ("POST", DECISION))
        for status, code, headers in (
            (401, "unauthorized", lambda issuer: {}),
            (
                403,
                "insufficient_scope",
                lambda issuer: {"Authorization": f"Bearer {issuer.mint_token([MODERATE_SCOPE])}"},
            ),
        )
    },
}


def documented_responses(spec) -> list[tuple[str, str, int, str]]:
    """(method, path, status, response ref) for every documented response, plus the shared 404 and 405."""
    responses = [
        ("GET", "*", 404, "#/components/responses/NotFound"),
        ("PUT", "/v1/moderate", 405, "#/components/responses/MethodNotAllowed"),
    ]
    for path, operations in spec.document["paths"].items():
        for method, operation in operations.items():
            for status in operation["responses"]:
                ref = spec.deref(f"#/paths/{path.replace('/', '~1')}/{method}/responses/{status}")
                responses.append((method.upper(), path, int(status), ref))
    return responses


def documented_codes(spec, response_ref: str) -> tuple[list[str], bool]:
    """The error codes a response allows, and whether its body is the error envelope (`{"error": {...}}`)."""
    content = spec.pointer(response_ref).get("content")
    if not content:
        return [], False
    schema = content["application/json"]["schema"]
    envelope = {"$ref": "#/components/schemas/Error"} in schema.get("allOf", []) or "error" in schema.get(
        "properties", {}
    )
    return code_enum(spec.pointer(schema["$ref"]) if "$ref" in schema else schema), envelope


def code_enum(node) -> list[str]:
    """The `enum` a schema puts on a `code` property, searched depth-first (without following $refs)."""
    if isinstance(node, dict):
        code = node.get("properties", {}).get("code", {})
        if "enum" in code:
            return code["enum"]
        node = list(node.values())
    if isinstance(node, list):
        return next((found for child in node if (found := code_enum(child))), [])
    return []


def documented_cases(spec) -> set[tuple]:
    """Every (method, path, status, code) the spec documents."""
    cases = set()
    for method, path, status, ref in documented_responses(spec):
        codes, _ = documented_codes(spec, ref)
        cases |= {(method, path, status, code) for code in codes or [None]}
    return cases


def test_the_spec_is_valid_openapi_3_1(api_spec):
    validate(api_spec.document)
    assert api_spec.document["openapi"].startswith("3.1.")


def test_the_spec_documents_exactly_the_handlers_routes(api_spec):
    documented = {path: set(operations) for path, operations in api_spec.document["paths"].items()}
    assert documented == {path: {method.lower(), "options"} for path, method in http_api.API_ROUTES.items()}


def test_the_spec_documents_exactly_the_handlers_error_codes_and_statuses(api_spec):
    error_status, health_codes = {}, set()
    for *_, status, ref in documented_responses(api_spec):
        codes, envelope = documented_codes(api_spec, ref)
        if envelope:
            error_status.update(dict.fromkeys(codes, status))
        else:
            health_codes.update(codes)
    assert error_status == http_api.ERROR_STATUS
    # Health reports every endpoint failure (429 and 5xx other than the handler's own 500 and the review store's
    # 503, which only the review routes answer) as unavailable.
    endpoint_codes = {
        code
        for code, status in http_api.ERROR_STATUS.items()
        if (status == 429 or status > 500) and code != "review_store_unavailable"
    }
    assert health_codes == endpoint_codes


def test_every_documented_case_has_a_scenario_and_no_scenario_is_undocumented(api_spec):
    assert documented_cases(api_spec) == set(SCENARIOS) | set(REVIEW_SCENARIOS) | set(AUTHORIZER_SCENARIOS)


@pytest.mark.parametrize("case", list(SCENARIOS), ids=lambda case: "-".join(str(part) for part in case))
def test_the_handler_produces_each_documented_case(call, sagemaker, case):
    method, path, status, code = case
    make_event, endpoint = SCENARIOS[case]
    if endpoint is not None:
        endpoint(sagemaker)
    event = make_event()
    request = http_api.parse_event(event)
    assert request.method == method and (path == "*" or request.path == path)

    response = call(event)  # checks status, headers and body against the spec

    assert response["statusCode"] == status
    if code is not None:
        assert error_code(response) == code


@pytest.mark.parametrize("case", list(REVIEW_SCENARIOS), ids=lambda case: "-".join(str(part) for part in case))
def test_the_review_function_produces_each_documented_case(call, store, case):
    method, path, status, code = case
    make_event, store_kind = REVIEW_SCENARIOS[case]
    event = make_event(seeded_store(store))
    request = http_api.parse_event(event)
    assert request.method == method and http_api.match_route(request.path)[0] == path
    stores = {"seeded": store, "broken": BrokenStore(), "crashing": BrokenStore(crash=True)}

    response = call(event, store=stores[store_kind])  # checks status, headers and body against the spec

    assert response["statusCode"] == status
    if code is not None:
        assert error_code(response) == code


@pytest.fixture(scope="module")
def local_authorizer(tmp_path_factory) -> tuple[Authorizer, LocalIssuer]:
    settings = AuthSettings(mode="jwt", data_dir=tmp_path_factory.mktemp("data"))
    return Authorizer(settings), LocalIssuer(settings.data_dir)


@pytest.mark.parametrize("case", list(AUTHORIZER_SCENARIOS), ids=lambda case: "-".join(str(part) for part in case))
def test_the_local_authorizer_produces_each_documented_case(api_spec, local_authorizer, case):
    method, path, status, code = case
    authorizer, issuer = local_authorizer
    event = http_api_event(method=method, path=path, body={"text": TEXT}, headers=AUTHORIZER_SCENARIOS[case](issuer))
    with pytest.raises(AuthError) as refused:
        authorizer.authorize(method, path, event["headers"])

    response = authorizer_answer(handler, event, refused.value)

    api_spec.check(method, path, response)
    assert response["statusCode"] == status and error_code(response) == code


def test_the_spec_examples_match_their_schemas(api_spec):
    checked = 0
    for path, operations in api_spec.document["paths"].items():
        for method, operation in operations.items():
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            sections = [(f"#/paths/{path.replace('/', '~1')}/{method}/requestBody", media)] if media else []
            for status in operation["responses"]:
                ref = api_spec.deref(f"#/paths/{path.replace('/', '~1')}/{method}/responses/{status}")
                content = api_spec.pointer(ref).get("content", {}).get("application/json")
                if content:
                    sections.append((ref, content))
            for ref, content in sections:
                validator = Draft202012Validator(
                    {"$ref": f"{SPEC_URI}{ref}/content/application~1json/schema"}, registry=api_spec.registry
                )
                examples = [example["value"] for example in content.get("examples", {}).values()]
                examples += [content["example"]] if "example" in content else []
                for example in examples:
                    validator.validate(example)
                    checked += 1
    assert checked >= 5


def test_the_spec_request_examples_are_accepted(api_spec, call, sagemaker, store):
    media = api_spec.document["paths"]["/v1/moderate"]["post"]["requestBody"]["content"]["application/json"]
    for example in media["examples"].values():
        request = example["value"]
        texts = request.get("texts", [request.get("text")])
        sagemaker.answers(texts)
        assert call(moderate(request), store=store)["statusCode"] == 200
    decision = api_spec.document["paths"][DECISION]["post"]["requestBody"]["content"]["application/json"]["example"]
    path = DECISION.replace("{id}", seeded_store(store)["pending"])
    assert call(http_api_event(path=path, body=decision), store=store)["statusCode"] == 200
