"""Blind labels: response ids to the labels a lease showed them under, and back."""

from service.rating.labels import labels_for, rubric_to_labels, verdict_to_labels

SHOWN = ["rejected", "chosen", "gpt-x"]


def test_labels_follow_the_display_order():
    assert labels_for(SHOWN) == {"A": "rejected", "B": "chosen", "C": "gpt-x"}


def test_a_stored_verdict_goes_back_to_the_rater_in_labels():
    pairwise = {"preferred": "chosen", "strength": 2, "scale_value": 6}
    assert verdict_to_labels(pairwise, SHOWN) == {"preferred": "B", "strength": 2, "scale_value": 6}
    tie = {"preferred": None, "strength": None, "scale_value": None}
    assert verdict_to_labels(tie, SHOWN) == tie
    ranking = {"ranking": [["gpt-x"], ["rejected", "chosen"]]}
    assert verdict_to_labels(ranking, SHOWN) == {"ranking": [["C"], ["A", "B"]]}
    assert verdict_to_labels({}, SHOWN) == {}


def test_stored_rubric_values_go_back_keyed_by_label():
    rubric = {"response": {"chosen": {"x": 1}, "gpt-x": {}}, "item": {"confidence": 2}}
    assert rubric_to_labels(rubric, SHOWN) == {
        "response": {"B": {"x": 1}, "C": {}},
        "item": {"confidence": 2},
    }
