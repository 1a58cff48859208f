"""Scoring one reply and aggregating results: strict/lenient, unparsed, errors, micro/macro, groups."""

import pytest

from kangaroo.eval.samples import EvalSample
from kangaroo.eval.scoring import aggregate, score_reply, seconds_error


def _choice(sample_id, answer, reply, group="x", options=("cat", "dog", "cow", "pig")):
    sample = EvalSample(sample_id, "q", list(options), answer=answer, groups={"task": group})
    return {"id": sample_id, "status": "ok", "groups": sample.groups, **score_reply("choice", sample, reply)}


def test_choice_reply_scores_strict_and_lenient():
    sample = EvalSample("1", "q", ["cat", "dog"], answer="B")
    assert score_reply("choice", sample, "B") == {"strict": "B", "lenient": "B", "correct_strict": True,
                                                  "correct_lenient": True}
    assert score_reply("choice", sample, "The answer is B") == {
        "strict": None, "lenient": "B", "correct_strict": False, "correct_lenient": True}
    unscored = score_reply("choice", EvalSample("2", "q", ["cat", "dog"]), "A")
    assert "correct_lenient" not in unscored and unscored["lenient"] == "A"


def test_unparsed_replies_count_as_wrong_and_errors_are_not_scored():
    results = [_choice("1", "A", "A"), _choice("2", "B", "I cannot tell"), _choice("3", "C", "The answer is C"),
               {"id": "4", "status": "error", "error": "video not found: x.mp4", "groups": {"task": "x"}}]
    summary = aggregate(results, "choice")
    overall = summary["overall"]
    assert (overall["total"], overall["errors"], overall["scored"]) == (4, 1, 3)
    assert overall["accuracy"] == pytest.approx(200 / 3)  # unparsed "2" stays in the denominator
    assert overall["accuracy_strict"] == pytest.approx(100 / 3)
    assert overall["unparsed_rate"] == pytest.approx(100 / 3)
    assert summary["errors"] == [{"id": "4", "error": "video not found: x.mp4"}]


def test_macro_average_is_the_mean_of_group_accuracies():
    results = [_choice("1", "A", "A", "t1"), _choice("2", "A", "A", "t1"), _choice("3", "A", "A", "t1"),
               _choice("4", "A", "B", "t2")]
    micro = aggregate(results, "choice", report_groups=["task"])
    macro = aggregate(results, "choice", "macro", "task", ["task"])
    assert micro["overall"]["accuracy"] == 75.0
    assert macro["overall"]["accuracy"] == 50.0  # (100 + 0) / 2, MLVU's M-Avg
    assert macro["overall"]["accuracy_micro"] == 75.0
    assert macro["groups"]["task"]["t1"]["accuracy"] == 100.0 and macro["groups"]["task"]["t2"]["accuracy"] == 0.0


def test_a_result_in_several_categories_counts_in_each():
    a = {**_choice("1", "A", "A"), "groups": {"categories": ["ER", "Rea"]}}
    b = {**_choice("2", "A", "B"), "groups": {"categories": ["Rea"]}}
    groups = aggregate([a, b], "choice", report_groups=["categories"])["groups"]["categories"]
    assert groups["ER"]["accuracy"] == 100.0 and groups["ER"]["total"] == 1
    assert groups["Rea"]["accuracy"] == 50.0 and groups["Rea"]["total"] == 2


def test_seconds_scoring():
    sample = EvalSample("1", "when?", answer=3.0)
    assert score_reply("seconds", sample, "At 3.5 seconds.") == {"predicted": 3.5, "abs_error": 0.5,
                                                                 "correct_lenient": True}
    far = score_reply("seconds", sample, "At 9 seconds.")
    assert far["abs_error"] == 6.0 and far["correct_lenient"] is False
    none = score_reply("seconds", sample, "no idea")
    assert none == {"predicted": None, "abs_error": None, "correct_lenient": False}
    assert seconds_error((2.0, 4.0), [2.5, 5.0]) == 0.75
    assert seconds_error(3.0, [2.0, 6.0]) == 1.0  # a time against a span: to its midpoint
    results = [{"id": str(i), "status": "ok", **score_reply("seconds", sample, r)}
               for i, r in enumerate(["At 3 s", "At 5 s", "never"])]
    overall = aggregate(results, "seconds")["overall"]
    assert overall["mae_seconds"] == 1.0 and overall["accuracy"] == pytest.approx(100 / 3)
    assert overall["unparsed_rate"] == pytest.approx(100 / 3)
