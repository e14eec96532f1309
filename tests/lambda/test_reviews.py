"""From scores to decisions: the decision policy's action, review items written by the scoring function, and the
review function's queue, items and decisions. Every response is checked against docs/openapi.yaml by `call`."""

import dataclasses
import json

import pytest

from .conftest import (
    LogLines,
    body_of,
    error_code,
    handler,
    http_api_event,
    load_handler,
    rest_api_event,
    review_store,
    reviews,
)

CLEAN_ROW = [0.00005, 0.0, 0.00001, 0.0, 0.000001, 0.0]
ABUSIVE_ROW = [0.998, 0.0297, 0.99, 0.0004, 0.99, 0.0399]  # toxic, obscene and insult near certain
BORDERLINE_ROW = [0.6, 0.01, 0.02, 0.01, 0.3, 0.01]  # toxic above its review threshold, below its block threshold
RUDE = "You are a complete idiot and everyone here hates you."
SECRET = "a comment that must never reach a log line"


@pytest.fixture
def policy(settings):
    """The deployed settings with block thresholds: toxic and insult block at 0.9, the others never block."""
    block = tuple(0.9 if label in ("toxic", "insult") else None for label in settings.labels)
    return dataclasses.replace(settings, block_thresholds=block)


def moderate(body: dict, **options) -> dict:
    return http_api_event(body=body, **options)


def review(path: str = "", method: str = "GET", event_format=http_api_event, **options) -> dict:
    return event_format(method=method, path=f"/v1/reviews{path}", **options)


def decide(item_id: str, decision: str, note: str | None = None, **options) -> dict:
    body = {"decision": decision} if note is None else {"decision": decision, "note": note}
    return review(f"/{item_id}/decision", "POST", body=body, **options)


# --- The decision policy ----------------------------------------------------------------------------------------------


def test_each_result_gets_the_policys_action(call, sagemaker, policy):
    sagemaker.answers(["a", "b", "c"], [CLEAN_ROW, BORDERLINE_ROW, ABUSIVE_ROW])
    body = body_of(call(moderate({"texts": ["a", "b", "c"]}), settings=policy))
    assert [result["action"] for result in body["results"]] == ["allow", "review", "block"]
    assert body["block_thresholds"] == dict(zip(policy.labels, policy.block_thresholds, strict=True))
    assert "stored" not in body  # no store asked for, none configured


def test_a_request_threshold_moves_review_but_never_block(call, sagemaker, policy):
    sagemaker.answers(["a", "b"], [BORDERLINE_ROW, ABUSIVE_ROW])
    body = body_of(call(moderate({"texts": ["a", "b"], "threshold": 0.999}), settings=policy))
    assert [result["action"] for result in body["results"]] == ["allow", "block"]
    assert not body["results"][1]["flagged"]  # blocked at 0.9 although no label reaches the request's 0.999


def test_without_block_thresholds_nothing_is_blocked(call, sagemaker, settings):
    no_block = dataclasses.replace(settings, block_thresholds=(None,) * len(settings.labels))
    sagemaker.answers([RUDE], [ABUSIVE_ROW])
    (result,) = body_of(call(moderate({"text": RUDE}), settings=no_block))["results"]
    assert result["action"] == "review"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"toxic": 0.9}', "exactly the labels"),
        ("[0.9]", "exactly the labels"),
        ("not json", "JSON object"),
        ('{"toxic": 0.01, "severe_toxic": null, "obscene": null, "threat": null, "insult": null, '
         '"identity_hate": null}', "from the review threshold"),
        ('{"toxic": 1.5, "severe_toxic": null, "obscene": null, "threat": null, "insult": null, '
         '"identity_hate": null}', "from the review threshold"),
    ],
)  # fmt: skip
def test_invalid_block_thresholds_fail_the_cold_start(value, problem):
    with pytest.raises(ValueError, match=problem):
        load_handler({"MODEL_BLOCK_THRESHOLDS": value})


def test_block_thresholds_and_storing_are_read_at_cold_start(tmp_path):
    block = {label: None for label in handler.DEFAULT_LABELS} | {"toxic": 0.95}
    cold = load_handler({
        "MODEL_BLOCK_THRESHOLDS": json.dumps(block), "REVIEWS_DB": str(tmp_path / "r.sqlite3"),
        "REVIEWS_STORE_DEFAULT": "true", "REVIEWS_TTL_DAYS": "7",
    })  # fmt: skip
    assert cold.SETTINGS.block_thresholds[0] == 0.95 and set(cold.SETTINGS.block_thresholds[1:]) == {None}
    assert cold.SETTINGS.store_by_default and cold.SETTINGS.review_ttl_days == 7
    assert isinstance(cold.REVIEW_STORE, review_store.SqliteReviewStore)


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"REVIEWS_STORE_DEFAULT": "true"}, "needs a review store"),
        ({"REVIEWS_STORE_DEFAULT": "yes"}, "true or false"),
        ({"REVIEWS_TTL_DAYS": "0"}, "REVIEWS_TTL_DAYS"),
    ],
)
def test_invalid_storing_settings_fail_the_cold_start(environment, problem):
    with pytest.raises(ValueError, match=problem):
        load_handler(environment)


# --- Storing review items ---------------------------------------------------------------------------------------------


def test_review_and_block_results_become_pending_items_with_their_text(call, sagemaker, policy, store):
    texts = ["fine", "borderline", "abusive"]
    sagemaker.answers(texts, [CLEAN_ROW, BORDERLINE_ROW, ABUSIVE_ROW])
    body = body_of(call(moderate({"texts": texts, "refs": ["c-1", None, "c-3"], "store": True}), settings=policy,
                        store=store))  # fmt: skip

    assert body["stored"] is True
    allowed, borderline, abusive = body["results"]
    assert "review_id" not in allowed and allowed["ref"] == "c-1" and "ref" not in borderline
    item = store.get_item(abusive["review_id"])
    assert (item["text"], item["ref"], item["action"], item["status"]) == ("abusive", "c-3", "block", "pending")
    assert item["labels"] == abusive["labels"] and item["scores"] == abusive["scores"]
    assert item["thresholds"] == {"review": body["thresholds"], "block": body["block_thresholds"]}
    assert item["model_version"] == policy.model_version
    assert store.get_item(borderline["review_id"])["action"] == "review"
    assert store.count_items() == {"pending": 2, "approved": 0, "removed": 0}


def test_storing_follows_the_deployments_default_unless_the_request_says(call, sagemaker, policy, store):
    storing = dataclasses.replace(policy, store_by_default=True)
    sagemaker.answers([RUDE], [ABUSIVE_ROW])
    assert body_of(call(moderate({"text": RUDE}), settings=storing, store=store))["stored"] is True
    sagemaker.answers([RUDE], [ABUSIVE_ROW])
    body = body_of(call(moderate({"text": RUDE, "store": False}), settings=storing, store=store))
    assert "stored" not in body and "review_id" not in body["results"][0]
    assert store.count_items()["pending"] == 1


def test_asking_to_store_without_a_store_is_a_clear_400(call, policy):
    response = call(moderate({"text": RUDE, "store": True}), settings=policy)
    assert (response["statusCode"], error_code(response)) == (400, "invalid_request")
    assert "no review store" in body_of(response)["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"text": RUDE, "ref": ""},
        {"text": RUDE, "ref": "x" * 129},
        {"text": RUDE, "ref": "line\nbreak"},
        {"text": RUDE, "ref": 42},
        {"text": RUDE, "refs": ["a"]},
        {"texts": [RUDE, RUDE], "refs": ["a"]},
        {"texts": [RUDE], "ref": "a"},
        {"texts": [RUDE], "refs": "a"},
        {"text": RUDE, "store": "yes"},
    ],
)
def test_bad_refs_and_store_flags_are_refused(call, body, store):
    response = call(moderate(body), store=store)
    assert (response["statusCode"], error_code(response)) == (400, "invalid_request")


def test_a_failing_store_never_fails_scoring(call, sagemaker, policy, logs):
    class DownStore:
        def put_items(self, items):
            raise review_store.StoreError("database is locked") from OSError("disk I/O error")

    sagemaker.answers([SECRET], [ABUSIVE_ROW])
    response = call(moderate({"text": SECRET, "store": True}), settings=policy, store=DownStore())

    body = body_of(response)
    assert response["statusCode"] == 200 and body["stored"] is False
    assert body["results"][0]["action"] == "block" and "review_id" not in body["results"][0]
    (line,) = logs.lines
    assert line["store_error"] == "review_store_unavailable" and line["store_upstream_error"] == "OSError"
    assert line["ReviewStoreFailures"] == 1 and line["ReviewItemsStored"] == 0 and "ErrorCode" not in line
    assert SECRET not in "".join(logs.raw)


def test_items_written_before_a_failure_keep_their_ids(call, sagemaker, policy):
    class HalfStore:
        def put_items(self, items):
            raise review_store.StoreError("throttled", stored_ids=(items[0]["id"],))

    sagemaker.answers(["a", "b"], [ABUSIVE_ROW, ABUSIVE_ROW])
    body = body_of(call(moderate({"texts": ["a", "b"], "store": True}), settings=policy, store=HalfStore()))
    assert body["stored"] is False
    assert "review_id" in body["results"][0] and "review_id" not in body["results"][1]


def test_storing_is_counted_in_the_metrics(call, sagemaker, policy, store, logs):
    sagemaker.answers(["a", "b"], [CLEAN_ROW, ABUSIVE_ROW])
    call(moderate({"texts": ["a", "b"], "store": True}), settings=policy, store=store)
    (line,) = logs.lines
    assert line["ReviewItemsStored"] == 1
    metrics = {metric["Name"] for directive in line["_aws"]["CloudWatchMetrics"] for metric in directive["Metrics"]}
    assert "ReviewItemsStored" in metrics


# --- The queue --------------------------------------------------------------------------------------------------------


QUEUED_THRESHOLDS = {
    "review": dict.fromkeys(handler.DEFAULT_LABELS, 0.5),
    "block": dict.fromkeys(handler.DEFAULT_LABELS),
}


def queued(store, rows: list[list[float]], action: str = "review", count: int | None = None) -> list[str]:
    """Put items in `store` directly, oldest first; their ids, newest first (the queue's order)."""
    items = []
    for index, row in enumerate(rows if count is None else rows * count):
        scores = dict(zip(handler.DEFAULT_LABELS, row, strict=True))
        labels = [label for label, score in scores.items() if score >= 0.5]
        items.append(review_store.new_item(f"comment {index}", ref=f"c-{index}", scores=scores, labels=labels,
                                           thresholds=QUEUED_THRESHOLDS,
                                           action=action, model_version="test", now=1_796_000_000 + index))  # fmt: skip
    store.put_items(items)
    return [item["id"] for item in reversed(items)]


def test_the_queue_lists_pending_items_newest_first_with_counts(call, store):
    ids = queued(store, [BORDERLINE_ROW], count=3)
    body = body_of(call(review(), store=store))
    assert [item["id"] for item in body["items"]] == ids
    assert body["next_cursor"] is None and body["counts"] == {"pending": 3, "approved": 0, "removed": 0}


def test_the_queue_pages_with_a_cursor_and_counts_only_on_the_first_page(call, store):
    ids = queued(store, [BORDERLINE_ROW], count=5)
    first = body_of(call(review(query={"limit": "2"}), store=store))
    second = body_of(call(review(query={"limit": "2", "cursor": first["next_cursor"]}), store=store))
    third = body_of(call(review(query={"limit": "2", "cursor": second["next_cursor"]}), store=store))
    pages = [first, second, third]
    assert [item["id"] for page in pages for item in page["items"]] == ids
    assert third["next_cursor"] is None and "counts" not in second and "counts" in first


def test_the_queue_filters_by_status_label_and_action(call, store):
    insults = queued(store, [ABUSIVE_ROW], action="block", count=2)
    toxic_only = queued(store, [BORDERLINE_ROW], count=1)
    decided = toxic_only[0]
    call(decide(decided, "approve"), store=store)

    def listed(**query) -> list[str]:
        return [item["id"] for item in body_of(call(review(query=query), store=store))["items"]]

    assert listed(label="insult") == insults
    assert listed(action="block") == insults
    assert listed(action="review") == []
    assert listed(status="approved") == [decided]


@pytest.mark.parametrize(
    "query",
    [{"status": "open"}, {"action": "allow"}, {"label": "Rude!"}, {"limit": "0"}, {"limit": "101"}, {"limit": "ten"},
     {"cursor": "not-a-cursor"}, {"sort": "oldest"}],
)  # fmt: skip
def test_bad_queue_queries_are_refused(call, store, query):
    response = call(review(query=query), store=store)
    assert (response["statusCode"], error_code(response)) == (400, "invalid_request")


def test_an_item_is_served_whole(call, store):
    (item_id,) = queued(store, [ABUSIVE_ROW], action="block")
    item = body_of(call(review(f"/{item_id}"), store=store))
    assert item == store.get_item(item_id) and item["text"] == "comment 0" and item["status"] == "pending"


@pytest.mark.parametrize("item_id", ["0" * 32, "not-an-id", "A" * 32])
def test_unknown_items_are_not_found(call, store, item_id):
    for event in (review(f"/{item_id}"), decide(item_id, "remove")):
        response = call(event, store=store)
        assert (response["statusCode"], error_code(response)) == (404, "review_not_found")


# --- Decisions --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("decision", "status"), [("approve", "approved"), ("remove", "removed")])
def test_a_decision_records_who_decided_when_and_why(call, store, decision, status, event_format):
    (item_id,) = queued(store, [ABUSIVE_ROW])
    claims = {"sub": "a1b2", "username": "maria", "client_id": "console"}
    response = call(decide(item_id, decision, "clearly fine", claims=claims, event_format=event_format), store=store)
    item = body_of(response)
    assert (item["status"], item["decided_by"], item["note"]) == (status, "maria", "clearly fine")
    assert item["decided_at"] >= item["created_at"]
    assert store.get_item(item_id) == item


@pytest.fixture(params=[http_api_event, rest_api_event], ids=["http-api-2.0", "rest-api-1.0"])
def event_format(request):
    return request.param


def test_the_decider_is_the_tokens_subject_without_a_username_and_anonymous_without_a_token(call, store):
    first, second = queued(store, [ABUSIVE_ROW], count=2)
    assert body_of(call(decide(first, "remove", claims={"sub": "a1b2"}), store=store))["decided_by"] == "a1b2"
    assert body_of(call(decide(second, "remove"), store=store))["decided_by"] == "anonymous"


def test_a_second_decision_is_a_conflict_showing_the_first(call, store):
    (item_id,) = queued(store, [ABUSIVE_ROW])
    call(decide(item_id, "remove", "slur", claims={"username": "maria"}), store=store)
    response = call(decide(item_id, "approve", claims={"username": "omar"}), store=store)
    body = body_of(response)
    assert (response["statusCode"], body["error"]["code"]) == (409, "decision_conflict")
    assert (body["review"]["status"], body["review"]["decided_by"], body["review"]["note"]) == (
        "removed",
        "maria",
        "slur",
    )
    assert "maria" in body["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"decision": "ban"}, {"decision": "approve", "note": 5}, {"decision": "approve", "note": "n" * 1001},
     {"decision": "approve", "reason": "x"}, ["approve"]],
)  # fmt: skip
def test_bad_decisions_are_refused_and_change_nothing(call, store, body):
    (item_id,) = queued(store, [ABUSIVE_ROW])
    response = call(review(f"/{item_id}/decision", "POST", body=body), store=store)
    assert (response["statusCode"], error_code(response)) == (400, "invalid_request")
    assert store.get_item(item_id)["status"] == "pending"


def test_review_logs_carry_counts_and_never_text(call, store, logs):
    (item_id,) = queued(store, [ABUSIVE_ROW])
    review_logs = LogLines()
    reviews.logger.addHandler(review_logs)
    try:
        call(review(), store=store)
        call(decide(item_id, "remove", "a note"), store=store)
    finally:
        reviews.logger.removeHandler(review_logs)
    listed, decided = review_logs.lines
    assert listed["ReviewsListed"] == 1 and listed["Service"] == "toxiguard-reviews"
    assert decided["Decisions"] == 1 and decided["decision"] == "remove" and "StoreLatency" in decided
    assert not any(secret in "".join(review_logs.raw) for secret in ("comment 0", "a note"))


def test_the_review_routes_are_not_the_scoring_functions(settings, store):
    response = handler.handle(review(), None, settings, handler.SAGEMAKER, store)
    assert (response["statusCode"], json.loads(response["body"])["error"]["code"]) == (404, "not_found")


def test_the_review_function_needs_a_store():
    with pytest.raises(ValueError, match="REVIEWS_TABLE"):
        reviews.open_configured_store({})


def test_the_scoring_function_answers_preflights_for_the_review_routes(call, store):
    response = call(rest_api_event(method="OPTIONS", path="/v1/reviews/abc/decision",
                                   headers={"Origin": "https://app.example.org"}))  # fmt: skip
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://app.example.org"
