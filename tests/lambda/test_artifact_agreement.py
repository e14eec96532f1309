"""The handler deploys alone (standard library + boto3), so it keeps its own label order and flag rule; these
tests hold them equal to the artifact contract (`toxiguard.artifact`) and to the shipped manifest."""

from hypothesis import given
from hypothesis import strategies as st

from toxiguard.artifact import moderation_result
from toxiguard.config import LABELS

from .conftest import MANIFEST, handler

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
rows = st.lists(st.lists(scores, min_size=len(LABELS), max_size=len(LABELS)), max_size=5)
thresholds = st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]) | scores, min_size=len(LABELS), max_size=len(LABELS))


def test_the_handler_uses_the_artifact_label_order():
    assert handler.DEFAULT_LABELS == LABELS == tuple(MANIFEST["labels"])


@given(rows, thresholds)
def test_the_handler_flags_as_the_artifact_rule_does(rows, thresholds):
    expected = [moderation_result(LABELS, row, thresholds) for row in rows]
    assert handler.format_results(rows, tuple(thresholds), LABELS) == expected


def test_a_score_equal_to_its_threshold_is_flagged_by_both():
    row, limits = [0.5] * len(LABELS), (0.5,) + (0.9,) * (len(LABELS) - 1)
    (by_handler,) = handler.format_results([row], limits, LABELS)
    assert by_handler == moderation_result(LABELS, row, limits)
    assert by_handler["labels"] == [LABELS[0]] and by_handler["flagged"]
