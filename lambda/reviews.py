"""toxiguard API, the review function: moderators' queue of review items, behind API Gateway's review routes.

  GET  /v1/reviews?status=&label=&action=&cursor=&limit=   newest first, a page at a time (`list_reviews`)
  GET  /v1/reviews/{id}                                     one item (`get_review`)
  POST /v1/reviews/{id}/decision                            approve or remove a pending item (`decide_review`)

The scoring function (`handler.py`) writes the items; this one reads and decides them, so on AWS each role holds only
its half of the table (PutItem there; Query, GetItem and UpdateItem here). A decision is a conditional write: of two
moderators deciding the same item, the second gets 409 `decision_conflict` with the item as the first left it.
Who decided is the token's `username` (a user pool user's name), else its `sub`, else `anonymous` (an API without
authentication); the note is the moderator's own words. Item text is never logged.

Standard library + boto3 only; events, errors, CORS, logs and metrics are `http_api`'s, as for the scoring function.
"""

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import review_store
from http_api import (
    ApiError,
    ConfigurationError,
    HttpRequest,
    HttpSettings,
    Response,
    check_fields,
    configure_logging,
    dispatch,
    json_body,
    serve,
    token_claims,
    utc_timestamp,
)

DEFAULT_METRICS_SERVICE = "toxiguard-reviews"
LIST_PARAMETERS = ("status", "label", "action", "cursor", "limit")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
DECISION_FIELDS = ("decision", "note")
MAX_NOTE_CHARS = 1000
LABEL = re.compile(r"[a-z_]{1,64}")
# Token claims naming the moderator who decides, in order of preference.
DECIDER_CLAIMS = ("username", "sub")
METRIC_UNITS = {
    "Requests": "Count", "Latency": "Milliseconds", "Errors": "Count", "ReviewsListed": "Count",
    "Decisions": "Count", "DecisionConflicts": "Count", "StoreLatency": "Milliseconds",
}  # fmt: skip

logger = logging.getLogger("toxiguard.reviews")


# --- Routes -----------------------------------------------------------------------------------------------------------
def list_reviews(request: HttpRequest, store, log: dict) -> Response:
    query = request.query
    unknown = ", ".join(sorted(set(query) - set(LIST_PARAMETERS)))
    if unknown:
        allowed = ", ".join(LIST_PARAMETERS)
        raise ApiError("invalid_request", f"unknown query parameter(s) {unknown}; allowed: {allowed}")
    status = one_of("status", query.get("status", "pending"), review_store.STATUSES)
    action = one_of("action", query["action"], review_store.ACTIONS) if "action" in query else None
    label = query.get("label")
    if label is not None and not LABEL.fullmatch(label):
        raise ApiError("invalid_request", "`label` must be a label name such as toxic or identity_hate")
    limit = page_size(query.get("limit"))
    cursor = query.get("cursor") or None
    with store_call(log):
        try:
            items, next_cursor = store.list_items(status=status, label=label, action=action, limit=limit, cursor=cursor)
        except ValueError:
            raise ApiError("invalid_request", "`cursor` is not one this API returned; start again without it") from None
        body = {"items": items, "next_cursor": next_cursor}
        if cursor is None:  # the first page says how long each queue is
            body["counts"] = store.count_items()
    log["ReviewsListed"] = len(items)
    return Response(200, body)


def get_review(parameters: Mapping[str, str], store, log: dict) -> Response:
    with store_call(log):
        return Response(200, store.get_item(review_id(parameters)))


def decide_review(request: HttpRequest, parameters: Mapping[str, str], settings: HttpSettings, store, event, log):
    item_id = review_id(parameters)
    payload = json_body(request, settings.max_body_bytes)
    check_fields(payload, DECISION_FIELDS, "`decision` (approve or remove) and an optional `note`")
    decision = one_of("decision", payload.get("decision"), tuple(review_store.DECISIONS))
    note = payload.get("note")
    if note is not None and not (isinstance(note, str) and len(note) <= MAX_NOTE_CHARS):
        raise ApiError("invalid_request", f"`note` must be a string of at most {MAX_NOTE_CHARS} characters")
    with store_call(log):
        try:
            item = store.decide(
                item_id, decision, decided_by=decider(event), note=note or None, decided_at=utc_timestamp(time.time())
            )
        except review_store.DecisionConflict as conflict:
            log["DecisionConflicts"] = 1
            message = f"the item was already {conflict.item['status']} by {conflict.item['decided_by']}"
            raise ApiError("decision_conflict", message, extra={"review": conflict.item}) from None
    log.update(Decisions=1, decision=decision)
    return Response(200, item)


# --- Parsing ----------------------------------------------------------------------------------------------------------
def one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ApiError("invalid_request", f"`{name}` must be one of {', '.join(allowed)}")
    return value


def page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_SIZE):
        raise ApiError("invalid_request", f"`limit` must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def review_id(parameters: Mapping[str, str]) -> str:
    """A review id is 32 lower-case hex digits; anything else cannot name an item."""
    if not review_store.ITEM_ID.fullmatch(parameters["id"]):
        raise ApiError("review_not_found", "no review item has this id")
    return parameters["id"]


def decider(event: Mapping[str, Any]) -> str:
    claims = token_claims(event)
    return next((str(claims[claim]) for claim in DECIDER_CLAIMS if claims.get(claim)), "anonymous")


@contextlib.contextmanager
def store_call(log: dict) -> Iterator[None]:
    """Time the store's work for a request (StoreLatency) and turn its failures into the API's errors."""
    started = time.perf_counter()
    try:
        yield
    except review_store.ReviewNotFound:
        raise ApiError("review_not_found", "no review item has this id") from None
    except review_store.StoreError as error:
        message = "the review store is unavailable; retry shortly"
        raise ApiError("review_store_unavailable", message, {"Retry-After": "5"}) from error
    finally:
        log["StoreLatency"] = round((time.perf_counter() - started) * 1000, 3)


# --- Entry point ------------------------------------------------------------------------------------------------------
def handle(event: Mapping[str, Any], context: Any, settings: HttpSettings, store) -> dict:
    """Answer one API Gateway event (http_api.serve) on the review routes."""

    def route(request: HttpRequest, request_id: str, log: dict) -> Response:
        handlers = {
            "/v1/reviews": lambda request, _parameters, _id, log: list_reviews(request, store, log),
            "/v1/reviews/{id}": lambda _request, parameters, _id, log: get_review(parameters, store, log),
            "/v1/reviews/{id}/decision": lambda request, parameters, _id, log: decide_review(
                request, parameters, settings, store, event, log
            ),
        }
        return dispatch(request, request_id, log, handlers, settings)

    return serve(event, context, settings, route, logger, METRIC_UNITS.get)


def open_configured_store(environ: Mapping[str, str]):
    store = review_store.open_store(environ)
    if store is None:
        raise ConfigurationError("the review function needs REVIEWS_TABLE (DynamoDB) or REVIEWS_DB (SQLite)")
    return store


SETTINGS = HttpSettings.from_environment(os.environ, DEFAULT_METRICS_SERVICE)
configure_logging(logger, SETTINGS.log_level)
REVIEW_STORE = open_configured_store(os.environ)


def lambda_handler(event: dict, context: Any) -> dict:
    """The Lambda entry point, `reviews.lambda_handler`."""
    return handle(event, context, SETTINGS, REVIEW_STORE)
