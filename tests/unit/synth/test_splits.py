"""Split policy: disjoint seeds per split, held-out compositions kept out of train and put into
val / test."""

from __future__ import annotations

import random

import pytest

from kangaroo.synth.options import WorldOptions
from kangaroo.synth.scene import COLOURS, SHAPES, Event, Scene, SceneObject, Segment
from kangaroo.synth.splits import (
    CHANGE_THEN_COLLIDE,
    HELD_OUT_EVENTS,
    HELD_OUT_PAIRS,
    SPLITS,
    allowed_for,
    check_scene,
    held_out_for,
    held_out_in,
    normalise_split,
    record_seed,
    scene_compositions,
    split_of_seed,
)
from kangaroo.synth.tasks import sample_task_scene


def _obj(oid: int, shape: str, colours: list[tuple[float, str]], appear: float = 0.0, disappear: float = 4.0,
         x: float = 0.5) -> SceneObject:
    return SceneObject(oid, shape, 0.1, appear, disappear, colours, [Segment(appear, disappear, x, 0.5)])


def _scene(objects: list[SceneObject], events: list[Event]) -> Scene:
    return Scene(seed=0, duration=4.0, fps=8.0, width=64, height=48, background={"shots": []},
                 objects=objects, events=events)


def test_record_seeds_never_overlap_between_splits() -> None:
    seeds = {split: {record_seed(s, split, i) for s in (0, 1, 7, 2**30 - 1) for i in (0, 1, 5, 2**32 - 1)}
             for split in SPLITS}
    assert all(len(v) == 16 for v in seeds.values())
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["test"] and not seeds["val"] & seeds["test"]
    for split, values in seeds.items():
        assert {split_of_seed(v) for v in values} == {split}


def test_record_seed_checks_ranges_and_split_names() -> None:
    assert normalise_split("validation") == "val"
    with pytest.raises(ValueError, match="split"):
        record_seed(0, "holdout", 0)
    with pytest.raises(ValueError, match="seed"):
        record_seed(-1, "train", 0)
    with pytest.raises(ValueError, match="index"):
        record_seed(0, "train", 2**32)


def test_allowed_for_train_excludes_exactly_the_held_out_pairs() -> None:
    assert len(HELD_OUT_PAIRS) == 6
    assert len({c for c, _ in HELD_OUT_PAIRS}) == 6 and len({s for _, s in HELD_OUT_PAIRS}) == 6
    train, val, test = allowed_for("train"), allowed_for("val"), allowed_for("test")
    for colour in COLOURS:
        for shape in SHAPES:
            assert train(colour, shape) == ((colour, shape) not in HELD_OUT_PAIRS)
            assert val(colour, shape) and test(colour, shape)


def test_scene_compositions_find_pairs_over_time_and_event_combinations() -> None:
    a = _obj(0, "circle", [(0.0, "white"), (1.0, "orange")], x=0.3)
    b = _obj(1, "star", [(0.0, "red")], disappear=3.0, x=0.7)
    events = [
        Event(1.0, "change_colour", (0,), {"from": "white", "to": "orange"}),
        Event(2.0, "collide", (0, 1)),
        Event(3.0, "disappear", (1,)),
    ]
    found = scene_compositions(_scene([a, b], events))
    assert found["pairs"] == {("white", "circle"), ("orange", "circle"), ("red", "star")}
    assert ("change_colour", "orange") in found["events"]
    assert (CHANGE_THEN_COLLIDE, "*") in found["events"]
    assert ("disappear", "red") in found["events"]
    assert held_out_in(_scene([a, b], events)) == [
        "event:change_colour orange", "event:change_colour->collide *", "pair:red star",
    ]


def test_collide_before_the_colour_change_is_not_the_held_out_combination() -> None:
    a = _obj(0, "circle", [(0.0, "white"), (3.0, "green")], x=0.3)
    b = _obj(1, "square", [(0.0, "blue")], x=0.7)
    events = [Event(1.0, "collide", (0, 1)), Event(3.0, "change_colour", (0,), {"from": "white", "to": "green"})]
    scene = _scene([a, b], events)
    assert held_out_in(scene) == []
    assert check_scene(scene, "train") == []


def test_check_scene_rejects_held_out_compositions_in_train_only() -> None:
    white = _obj(0, "square", [(0.0, "white")], disappear=2.0)
    scene = _scene([white], [Event(2.0, "disappear", (0,))])
    assert ("disappear", "white") in HELD_OUT_EVENTS
    assert check_scene(scene, "train") == ["event:disappear white"]
    assert check_scene(scene, "val") == [] and check_scene(scene, "test") == []


@pytest.mark.parametrize("task", ["mcq_colour_change", "caption_detailed"])
def test_sampled_train_scenes_hold_no_held_out_composition(task: str) -> None:
    rng = random.Random(11)
    for _ in range(25):
        scene, _, _ = sample_task_scene(task, rng, "train", WorldOptions(size=(64, 48), duration=4.0))
        assert held_out_in(scene) == []


@pytest.mark.parametrize("split", ["val", "test"])
def test_sampled_val_and_test_scenes_hold_held_out_compositions(split: str) -> None:
    rng = random.Random(5)
    seen: set[str] = set()
    for _ in range(20):
        scene, _, _ = sample_task_scene("caption_short", rng, split, WorldOptions(size=(64, 48), duration=4.0))
        found = held_out_in(scene)
        assert found, "every val/test scene holds at least one held-out composition"
        seen.update(found)
    assert any(name.startswith("pair:") for name in seen)
    assert any(name.startswith("event:") for name in seen)


def test_held_out_for_names_only_what_the_asked_objects_compose() -> None:
    colour, shape = sorted(HELD_OUT_PAIRS)[0]
    seen_shape = next(s for s in SHAPES if (colour, s) not in HELD_OUT_PAIRS and s != shape)
    held = _obj(0, shape, [(0.0, colour)])
    seen = _obj(1, seen_shape, [(0.0, colour)], x=0.2)
    scene = _scene([held, seen], [])
    assert held_out_for(scene, [0]) == [f"pair:{colour} {shape}"] == held_out_in(scene)
    assert held_out_for(scene, [1]) == [] and held_out_for(scene, []) == []
