"""The handler deploys alone (standard library + boto3), so it keeps its own label order, flag rule and decision
rule; these tests hold them equal to the artifact contract (`toxiguard.artifact`) and to the shipped manifest."""

from hypothesis import given
from hypothesis import strategies as st

from toxiguard.artifact import moderation_result
from toxiguard.config import LABELS

from .conftest import MANIFEST, handler

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
rows = st.lists(st.lists(scores, min_size=len(LABELS), max_size=len(LABELS)), max_size=5)
limit = st.sampled_from([0.0, 0.25, 0.5, 1.0]) | scores
thresholds = st.lists(limit, min_size=len(LABELS), max_size=len(LABELS))
block_thresholds = st.lists(st.none() | limit, min_size=len(LABELS), max_size=len(LABELS))


def test_the_handler_uses_the_artifact_label_order():
    assert handler.DEFAULT_LABELS == LABELS == tuple(MANIFEST["labels"])


@given(rows, thresholds, block_thresholds)
def test_the_handler_flags_and_decides_as_the_artifact_rules_do(rows, thresholds, block_thresholds):
    expected = [moderation_result(LABELS, row, thresholds, block_thresholds) for row in rows]
    assert handler.format_results(rows, tuple(thresholds), tuple(block_thresholds), LABELS) == expected


def test_a_score_equal_to_its_threshold_is_flagged_by_both():
    row, limits, never = [0.5] * len(LABELS), (0.5,) + (0.9,) * (len(LABELS) - 1), (None,) * len(LABELS)
    (by_handler,) = handler.format_results([row], limits, never, LABELS)
    assert by_handler == moderation_result(LABELS, row, limits, never)
    assert by_handler["labels"] == [LABELS[0]] and by_handler["flagged"] and by_handler["action"] == "review"


def test_a_score_equal_to_its_block_threshold_blocks_for_both():
    row, limits, block = [0.5] * len(LABELS), (0.9,) * len(LABELS), (None,) * (len(LABELS) - 1) + (0.5,)
    (by_handler,) = handler.format_results([row], limits, block, LABELS)
    assert by_handler == moderation_result(LABELS, row, limits, block)
    assert by_handler["action"] == "block" and not by_handler["flagged"]
