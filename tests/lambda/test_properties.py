"""Property-based tests: whatever arrives, the handler answers with a documented status and body, never a 500.

Each property runs ~200 generated examples. The model endpoint is a test double that answers TF Serving's JSON
for whatever instances it receives (or, in the last property, arbitrary JSON).
"""

import io
import json

from botocore.response import StreamingBody
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import http_api
from .conftest import LambdaContext, handler, http_api_event, rest_api_event

EXAMPLES = hypothesis_settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Bodies shaped like requests, with every field right, wrong, or missing.
request_like = st.fixed_dictionaries(
    {},
    optional={
        "text": st.text(max_size=30) | json_values,
        "texts": st.lists(st.text(max_size=30), max_size=70) | json_values,
        "threshold": st.floats() | st.integers(-2, 2) | json_values,
        "comment": json_values,
    },
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=200),
    json_values.map(json.dumps),
    request_like.map(json.dumps),
)
header_names = st.sampled_from(["Content-Type", "content-type", "Origin", "Accept", "X-Forwarded-For"]) | st.text(
    "abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12
)
header_values = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "https://app.example.org", "*", ""]
) | st.text(max_size=30)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8
)
paths = st.sampled_from(["/v1/moderate", "/v1/health", "/", "/v1/moderate/", "/V1/MODERATE"]) | st.text(
    max_size=20
).map(lambda tail: "/" + tail)


class TfServingDouble:
    """Stands in for the SageMaker Runtime client: one valid score row per instance, computed from the text."""

    SCORES = object()  # the default answer: valid scores for the instances received

    def __init__(self, answer=SCORES):
        self.answer = answer
        self.calls = 0

    def invoke_endpoint(self, **params):
        self.calls += 1
        instances = json.loads(params["Body"])["instances"]
        payload = (
            {"predictions": [score_row(text) for text in instances]} if self.answer is self.SCORES else self.answer
        )
        raw = json.dumps(payload).encode()
        return {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"}


def score_row(text: str) -> list[float]:
    return [(len(text) * (label + 3) % 101) / 100 for label in range(6)]


@EXAMPLES
@given(
    payload_format=st.sampled_from([http_api_event, rest_api_event]),
    method=methods,
    path=paths,
    headers=st.dictionaries(header_names, header_values, max_size=4),
    body=bodies,
    base64_body=st.booleans(),
)
def test_arbitrary_requests_never_cause_a_500_and_match_the_spec(
    api_spec, settings, payload_format, method, path, headers, body, base64_body
):
    event = payload_format(method=method, path=path, body=body, headers=headers, base64_body=base64_body)
    response = handler.handle(event, LambdaContext(), settings, TfServingDouble())

    assert response["statusCode"] != 500, response["body"]
    assert response["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]
    request = http_api.parse_event(event)
    api_spec.check(request.method, request.path, response)


valid_texts = st.text(min_size=1, max_size=40).filter(lambda text: text.strip() and "\x00" not in text)


@EXAMPLES
@given(
    texts=st.lists(valid_texts, min_size=1, max_size=64),
    threshold=st.none() | st.floats(0, 1),
    single=st.booleans(),
    rows=st.data(),
)
def test_valid_requests_are_scored_in_order_with_consistent_labels(api_spec, settings, texts, threshold, single, rows):
    texts = texts[:1] if single else texts
    payload = {"text": texts[0]} if single else {"texts": texts}
    if threshold is not None:
        payload["threshold"] = threshold
    scores = rows.draw(
        st.lists(st.lists(st.floats(0, 1), min_size=6, max_size=6), min_size=len(texts), max_size=len(texts))
    )
    model = TfServingDouble({"predictions": scores})
    response = handler.handle(http_api_event(body=payload), LambdaContext(), settings, model)

    assert response["statusCode"] == 200, response["body"]
    api_spec.check("POST", "/v1/moderate", response)
    body = json.loads(response["body"])
    assert model.calls == 1 and len(body["results"]) == len(texts)
    expected_thresholds = dict(zip(settings.labels, settings.thresholds, strict=True))
    assert body["thresholds"] == (
        expected_thresholds if threshold is None else dict.fromkeys(settings.labels, threshold)
    )
    for row, result in zip(scores, body["results"], strict=True):
        assert list(result["scores"].values()) == row
        assert result["labels"] == [
            label for label, score in zip(settings.labels, row, strict=True) if score >= body["thresholds"][label]
        ]
        assert result["flagged"] == bool(result["labels"])


@EXAMPLES
@given(answer=json_values | st.fixed_dictionaries({"predictions": json_values}))
def test_any_model_answer_is_either_scores_or_a_502(api_spec, settings, answer):
    response = handler.handle(
        http_api_event(body={"text": "hello"}), LambdaContext(), settings, TfServingDouble(answer)
    )
    assert response["statusCode"] in (200, 502), response["body"]
    api_spec.check("POST", "/v1/moderate", response)
