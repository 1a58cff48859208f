"""The multiple-choice families cannot be answered from the option texts alone."""

from __future__ import annotations

import random

import pytest

from kangaroo.synth.audit import ChoiceQuestion, blind_accuracy
from kangaroo.synth.options import WorldOptions
from kangaroo.synth.tasks import sample_task_scene

CHOICE_FAMILIES = ["mcq_direction", "mcq_count", "mcq_order", "mcq_colour_change", "mcq_appear", "mcq_end"]
PER_FAMILY = 120
MIN_KIND = 20  # question kinds rarer than this in the sample are too noisy to judge
CEILING = 0.45  # 4 options: chance is 0.25; the old near-the-truth distractors gave 0.77-0.85


def _questions(task: str, language: str, split: str) -> list[ChoiceQuestion]:
    rng = random.Random(f"audit/{task}/{language}/{split}")
    out = []
    for _ in range(PER_FAMILY):
        _, built, _ = sample_task_scene(task, rng, split, WorldOptions(language=language))
        out.append(ChoiceQuestion(str(built.extra["question_type"]), tuple(built.options), str(built.answer)))
    return out


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("task", CHOICE_FAMILIES)
def test_no_option_text_heuristic_beats_chance_by_much(task: str, language: str) -> None:
    scores = blind_accuracy(_questions(task, language, "train" if language == "en" else "test"))
    judged = {kind: row for kind, row in scores.items() if row["n"] >= MIN_KIND}
    assert judged, scores
    for kind, row in judged.items():
        for heuristic, accuracy in row.items():
            if heuristic != "n":
                assert accuracy <= CEILING, f"{task}/{kind} ({language}): '{heuristic}' is right {accuracy:.0%} blind"


def test_blind_accuracy_finds_a_truth_surrounded_by_its_neighbours() -> None:
    # every distractor shares a word with the truth: the old appear/end questions
    leaky = [ChoiceQuestion("appear", ("red ring", "blue ring", "red star", "green square"), "A"),
             ChoiceQuestion("appear", ("cyan star", "cyan circle", "white circle", "cyan ring"), "B")]
    row = blind_accuracy(leaky)["appear"]
    assert row["n"] == 2 and row["most_shared_words"] == 1.0 and row["fewest_shared_words"] == 0.0
    # ties are a random pick: four equally long options
    tie = blind_accuracy([ChoiceQuestion("count", ("1", "2", "3", "4"), "C")])["count"]
    assert tie["longest"] == pytest.approx(0.25) and tie["shortest"] == pytest.approx(0.25)
