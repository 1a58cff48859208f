"""Task generators: valid records, deterministic, and every answer agrees with the scene's ground
truth (checked from the scene's objects and motion, and on decoded frames)."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kangaroo.data.validate import check_record
from kangaroo.synth import language as lang_
from kangaroo.synth.families import Built
from kangaroo.synth.options import WorldOptions
from kangaroo.synth.render import RING_INNER
from kangaroo.synth.scene import COLOURS, DIRECTIONS, Scene, SceneObject
from kangaroo.synth.tasks import TASKS, generate, list_tasks, sample_task_scene
from kangaroo.video import load_video

EXPECTED_TASKS = {
    "caption_short", "caption_detailed", "mcq_direction", "mcq_count", "mcq_order", "mcq_colour_change",
    "mcq_appear", "mcq_end", "open_qa", "multi_round", "grounding", "needle", "image_caption", "look",
    "mcq_follow_up",
}
MCQ_TASKS = sorted(name for name in EXPECTED_TASKS if name.startswith("mcq_"))
CJK = re.compile(r"[\u4e00-\u9fff]")
SMALL = WorldOptions(size=(64, 48), duration=3.0)
MIXED = WorldOptions(size=(64, 48), duration=3.0, language="mixed")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def texts(record: dict) -> list[str]:
    out = []
    for message in record["messages"]:
        content = message["content"]
        out.append(content if isinstance(content, str) else "".join(p.get("text", "") for p in content))
    return out


def name(obj: SceneObject, colour: str) -> str:
    return lang_.object_name(colour, obj.shape, "en")


def ever_named(scene: Scene, text: str) -> list[SceneObject]:
    """Objects that are ever called ``text`` ("red circle")."""
    return [o for o in scene.objects if any(name(o, c) == text for _, c in o.colours)]


def seen_direction(scene: Scene, obj: SceneObject, t: float) -> str:
    """Which way the object's centre goes over 0.1 s after ``t`` (pixels, dominant axis)."""
    (x0, y0), (x1, y1) = obj.position_at(t + 0.01), obj.position_at(t + 0.11)
    dx, dy = (x1 - x0) * scene.width, (y1 - y0) * scene.height
    assert math.hypot(dx, dy) > 0.5, "the object moves"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


# --------------------------------------------------------------------------------- registry


def test_list_tasks_names_every_task_with_a_description() -> None:
    listed = dict(list_tasks())
    assert set(listed) == EXPECTED_TASKS == set(TASKS)
    assert all(description for description in listed.values())


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_task_makes_a_valid_record_in_both_languages(language: str) -> None:
    for task in sorted(EXPECTED_TASKS):
        for index in range(3):
            world = WorldOptions(language=language, size=(64, 48), duration=30.0 if task == "needle" else 3.0)
            record = generate(task, None, index, "train", "unused", seed=1, world=world, write=False)
            problems = [p for p in check_record(record) if p[0] == "error"]
            assert problems == [], (task, problems)
            meta = record["meta"]
            assert meta["task"] == task and meta["split"] == "train" and meta["language"] == language
            assert record["video"] == f"videos/{record['id']}" + (".png" if task == "image_caption" else ".mp4")
            for k, text in enumerate(texts(record)):
                if language == "en":
                    assert not CJK.search(text), (task, text)
                elif k % 2 == 0 or "options" not in meta:  # an MCQ answer may be "3"
                    assert CJK.search(text), (task, text)
            if "options" in meta:
                assert len(meta["options"]) == 4 and len(set(meta["options"])) == 4
                assert meta["options"]["ABCD".index(meta["answer"])] == meta["answer_text"]
                assert record["messages"][-1]["content"] == meta["answer_text"]  # the text, no letter


def test_mixed_language_picks_per_record() -> None:
    languages = {
        generate("caption_short", None, i, "train", "unused", world=MIXED, write=False)["meta"]["language"]
        for i in range(12)
    }
    assert languages == {"en", "zh"}


def test_bad_arguments_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        generate("mcq_colour", None, 0, "train", "unused", write=False)
    with pytest.raises(ValueError, match="split"):
        generate("caption_short", None, 0, "holdout", "unused", write=False)
    with pytest.raises(ValueError, match="no scene"):  # nothing moves in a static scene
        generate("mcq_direction", None, 0, "train", "unused", world=replace(SMALL, static=True), write=False)


# --------------------------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_records_and_video_bytes(tmp_path: Path) -> None:
    a = generate("mcq_order", None, 3, "val", tmp_path / "a", seed=9, world=MIXED)
    b = generate("mcq_order", None, 3, "val", tmp_path / "b", seed=9, world=MIXED)
    assert a == b
    assert (tmp_path / "a" / a["video"]).read_bytes() == (tmp_path / "b" / b["video"]).read_bytes()
    assert (tmp_path / "a" / a["meta"]["scene"]).read_text() == (tmp_path / "b" / b["meta"]["scene"]).read_text()
    frames_a = load_video(tmp_path / "a" / a["video"]).frames
    assert np.array_equal(frames_a, load_video(tmp_path / "b" / b["video"]).frames)
    other = generate("mcq_order", None, 3, "val", tmp_path / "c", seed=10, world=MIXED)
    assert other["meta"]["seed"] != a["meta"]["seed"]
    assert other["messages"] != a["messages"] or other["meta"]["scene"] != a["meta"]["scene"]


# --------------------------------------------------------------------------------- MCQ truth


def check_mcq(scene: Scene, built: Built) -> None:
    """The answer option's claim holds in the scene, and the distractors' claims do not."""
    meta = built.extra
    truth, options = meta["answer_text"], built.options
    assert options is not None and len(options) == 4 and len(set(options)) == 4 and truth in options
    assert built.answer == "ABCD"[options.index(truth)]
    distractors = [o for o in options if o != truth]
    kind = meta["question_type"]
    question = built.turns[-1].question  # the last turn: a follow-up MCQ comes after a first exchange
    obj = scene.object(meta["objects"][0]) if meta["objects"] else None
    end = scene.frame_times()[-1]
    events = sorted(scene.events, key=lambda e: e.time)
    if kind == "direction":
        assert obj is not None
        t = built.times[0]
        assert name(obj, obj.colour_at(t)) in question
        assert truth == seen_direction(scene, obj, t)
        assert sorted(options) == sorted(DIRECTIONS)
    elif kind == "count_total":
        assert int(truth) == len(scene.objects)
    elif kind == "count_visible":
        assert int(truth) == len(scene.visible_at(built.times[0]))
    elif kind == "count_colour_changes":
        assert obj is not None and name(obj, obj.colours[0][1]) in question
        assert int(truth) == len(obj.colours) - 1
    elif kind == "count_collisions":
        assert int(truth) == sum(e.kind == "collide" for e in scene.events)
    elif kind in ("colour_to", "colour_from"):
        assert obj is not None
        t = built.times[0]
        before, after = obj.colour_at(t - 1e-3), obj.colour_at(t + 1e-3)
        assert before != after
        if kind == "colour_to":
            assert name(obj, before) in question and truth == after
        else:
            assert obj.shape in question and after in question and truth == before
        assert all(d in COLOURS for d in distractors) and truth not in distractors
    elif kind == "state_change":
        assert obj is not None
        t = built.times[0]
        mine = [e for e in scene.events if obj.id in e.objects and e.objects[0] == obj.id]
        here = [e for e in mine if abs(e.time - t) < 1e-6]
        assert len(here) == 1
        said = {lang_.capitalise(lang_.state_clause(scene, e, "en", random.Random(0), v)) for e in mine for v in range(3)}
        assert truth in said
        assert not set(distractors) & said
    elif kind == "appear":
        assert obj is not None
        t = built.times[0]
        assert not obj.visible_at(t - 0.05) and obj.visible_at(t + 0.05)
        assert truth == name(obj, obj.colour_at(t))
        assert all(ever_named(scene, d) == [] for d in distractors)
    elif kind == "disappear":
        assert obj is not None
        t = built.times[0]
        assert obj.visible_at(t - 0.05) and not obj.visible_at(t + 0.05)
        assert truth == name(obj, obj.colour_at(t - 0.05))
        for d in distractors:  # never there, or there until the end
            assert all(o.visible_at(end) for o in ever_named(scene, d))
    elif kind == "end_visible":
        assert obj is not None and obj.visible_at(end) and truth == name(obj, obj.colour_at(end))
        for d in distractors:
            assert not any(o.visible_at(end) and o.colour_at(end) == d.split()[0] for o in ever_named(scene, d))
    elif kind == "end_colour":
        assert obj is not None and name(obj, obj.colours[0][1]) in question
        assert truth == obj.colour_at(end) and truth not in distractors
    elif kind in ("end_event", "order_first", "order_after", "order_before"):
        t = built.times[-1]
        (event,) = [e for e in events if abs(e.time - t) < 1e-6]
        for oid in event.objects:
            o = scene.object(oid)
            assert name(o, lang_.event_colour(o, event) if oid == event.objects[0] else o.colour_at(t)) in truth.lower()
        said = {lang_.capitalise(lang_.event_clause(scene, event, "en", random.Random(0), v)) for v in range(3)}
        assert truth in said and not set(distractors) & said
        if kind == "end_event":
            assert event is events[-1]
        elif kind == "order_first":
            assert event is events[0]
        else:
            anchor = built.times[0]
            lo, hi = sorted((anchor, t))
            assert (t > anchor) == (kind == "order_after")
            assert not [e for e in events if lo + 1e-6 < e.time < hi - 1e-6], "nothing happens in between"
    else:
        raise AssertionError(f"unchecked question type {kind}")


@pytest.mark.parametrize("task", MCQ_TASKS)
def test_mcq_answers_hold_in_the_ground_truth(task: str) -> None:
    rng = random.Random(task)
    kinds = set()
    for i in range(40):
        split = ("train", "val", "test")[i % 3]
        scene, built, _ = sample_task_scene(task, rng, split, WorldOptions(duration=6.0))
        check_mcq(scene, built)
        kinds.add(built.extra["question_type"])
    assert len(kinds) >= (1 if task == "mcq_direction" else 2), kinds


def test_train_text_never_names_a_held_out_composition() -> None:
    """Not even as a wrong option: no held-out colour-shape pair, nothing turning orange."""
    from kangaroo.synth.splits import HELD_OUT_PAIRS

    names = [lang_.object_name(c, s, lang) for c, s in HELD_OUT_PAIRS for lang in ("en", "zh")]
    turning_orange = re.compile(r"(turns|changes to|to) orange|变成了?橙色")
    for task in ["mcq_appear", "mcq_colour_change", "mcq_order", "mcq_end", "open_qa", "caption_detailed"]:
        for index in range(15):
            record = generate(task, None, index, "train", "unused", seed=2, world=MIXED, write=False)
            for text in texts(record):
                assert not [n for n in names if n in text.lower()], (task, text)
                assert not turning_orange.search(text), (task, text)


# --------------------------------------------------------------------------------- pixels


def patch_colour(frame: np.ndarray, scene: Scene, obj: SceneObject, t: float) -> np.ndarray:
    """Mean RGB of a 3x3 patch inside ``obj`` at ``t`` (on the band of a ring)."""
    x, y = obj.position_at(t)
    cx, cy = x * scene.width, y * scene.height
    if obj.shape == "ring":
        cx += (1 + RING_INNER) / 2 * obj.size * scene.height
    i, j = math.floor(cy), math.floor(cx)
    return frame[i - 1 : i + 2, j - 1 : j + 2].reshape(-1, 3).astype(float).mean(axis=0)


def nearest_colour(rgb: np.ndarray, limit: float = 60.0) -> str | None:
    """The palette colour closest to ``rgb``, or None when none is within ``limit``."""
    distances = {c: float(np.linalg.norm(rgb - np.array(v))) for c, v in COLOURS.items()}
    best = min(distances, key=distances.__getitem__)
    return best if distances[best] < limit else None


def frame_at(clip, t: float, *, before: bool) -> tuple[np.ndarray, float]:
    """The last decoded frame shown before ``t`` - 0.02, or the first at or after ``t`` + 0.02."""
    ts = clip.timestamps
    k = int(np.nonzero(ts < t - 0.02)[0][-1]) if before else int(np.nonzero(ts >= t + 0.02)[0][0])
    return clip.frames[k], float(ts[k])


def test_grounding_times_match_what_the_decoded_video_shows(tmp_path: Path) -> None:
    """Find records about colour changes and (dis)appearances, then check the video around the
    time the answer states."""
    wanted = {"when_change_colour", "when_appear", "when_disappear"}
    found: dict[str, int] = {}
    world = WorldOptions(size=(128, 96), duration=4.0)
    for index in range(200):
        record = generate("grounding", None, index, "train", tmp_path, seed=4, world=world, write=False)
        kind = record["meta"]["question_type"]
        if kind in wanted and kind not in found:
            found[kind] = index
        if len(found) == len(wanted):
            break
    assert set(found) == wanted
    for kind, index in found.items():
        record = generate("grounding", None, index, "train", tmp_path, seed=4, world=world)
        scene = Scene.from_dict(json.loads((tmp_path / record["meta"]["scene"]).read_text()))
        stated = float(NUMBER.findall(record["messages"][1]["content"])[-1])
        assert stated == pytest.approx(record["meta"]["times"][0], abs=0.006)
        obj = scene.object(record["meta"]["objects"][0])
        clip = load_video(tmp_path / record["video"])
        before, t0 = frame_at(clip, stated, before=True)
        after, t1 = frame_at(clip, stated, before=False)
        seen_before = nearest_colour(patch_colour(before, scene, obj, t0))
        seen_after = nearest_colour(patch_colour(after, scene, obj, t1))
        if kind == "when_change_colour":
            (event,) = [e for e in scene.events if e.kind == "change_colour" and abs(e.time - stated) < 0.01]
            assert (seen_before, seen_after) == (event.details["from"], event.details["to"])
        elif kind == "when_appear":
            assert seen_before != obj.colour_at(t1) and seen_after == obj.colour_at(t1)
        else:
            assert seen_before == obj.colour_at(t0) and seen_after != obj.colour_at(t0)


def test_needle_is_visible_only_in_its_window(tmp_path: Path) -> None:
    record = generate("needle", None, 0, "test", tmp_path, seed=2, world=WorldOptions(size=(128, 96), duration=20.0))
    meta = record["meta"]
    assert record["meta"]["duration"] == 20.0
    (start, end), = meta["times"]
    scene = Scene.from_dict(json.loads((tmp_path / meta["scene"]).read_text()))
    needle = scene.object(meta["objects"][0])
    colour = needle.colours[0][1]
    assert (needle.appear, needle.disappear) == (start, end) and end - start == pytest.approx(1.0)
    # the answer is the needle (or its time / colour), and no other object shares its name
    answer = record["messages"][1]["content"]
    assert colour in answer or lang_.format_seconds(start) in answer
    assert ever_named(scene, name(needle, colour)) == [needle]
    clip = load_video(tmp_path / record["video"])
    assert clip.frames.shape[0] == 40
    for frame, t in zip(clip.frames, clip.timestamps, strict=True):
        seen = nearest_colour(patch_colour(frame, scene, needle, float(t)))
        assert (seen == colour) == (start <= t < end), t


def test_image_caption_names_what_the_png_shows(tmp_path: Path) -> None:
    for index in range(3):
        record = generate("image_caption", None, index, "train", tmp_path, seed=1, world=WorldOptions(size=(128, 96)))
        assert record["video"].endswith(".png")
        assert record["messages"][0]["content"][0] == {"type": "image"}
        scene = Scene.from_dict(json.loads((tmp_path / record["meta"]["scene"]).read_text()))
        t = record["meta"]["image_time"]
        clip = load_video(tmp_path / record["video"])
        assert clip.frames.shape[0] == 1
        caption = record["messages"][1]["content"].lower()
        visible = scene.visible_at(t)
        assert visible
        for obj in visible:
            assert name(obj, obj.colour_at(t)) in caption
            assert nearest_colour(patch_colour(clip.frames[0], scene, obj, t)) == obj.colour_at(t)


# --------------------------------------------------------------------------------- conversations


def test_multi_round_alternates_roles_and_refers_back() -> None:
    follow_ups = {kind: set(lang_.TEMPLATES[f"follow.{kind}"]["en"] + lang_.TEMPLATES[f"follow.{kind}"]["zh"])
                  for kind in ("colour_before", "when", "next", "visible_end", "end_colour")}
    rng = random.Random(1)
    switched = 0
    for _ in range(20):
        scene, built, _ = sample_task_scene("multi_round", rng, "train", replace(MIXED, duration=6.0))
        turns = built.extra["turns"]
        assert 2 <= len(built.turns) <= 4 and len(turns) == len(built.turns)
        obj = scene.object(built.extra["objects"][0])
        end = scene.frame_times()[-1]
        for k, turn in enumerate(built.turns[1:], start=1):
            assert turn.question in follow_ups[turn.kind]
            assert turns[k]["refers_to"] is not None and 0 <= turns[k]["refers_to"] < k
            if turn.kind == "end_colour":
                assert lang_.colour_word(obj.colour_at(end), turn.language) in turn.answer.lower()
            if turn.kind == "visible_end":
                assert turn.answer.startswith(("Yes", "是")) == obj.visible_at(end)
        languages = {t.language for t in built.turns}
        switched += len(languages) > 1
        assert built.extra["language_override"] == ("mixed" if len(languages) > 1 else built.turns[0].language)
    assert switched == 20, "mixed conversations switch language"
    record = generate("multi_round", None, 0, "train", "unused", world=MIXED, write=False)
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["user", "assistant"] * (len(roles) // 2) and len(roles) >= 4
    assert record["meta"]["language"] == "mixed"
    assert isinstance(record["messages"][0]["content"], list) and isinstance(record["messages"][2]["content"], str)


def test_a_follow_up_mcq_comes_after_a_first_exchange_from_another_family() -> None:
    rng = random.Random(2)
    openers, families = set(), set()
    for _ in range(40):
        scene, built, _ = sample_task_scene("mcq_follow_up", rng, "train", replace(SMALL, duration=6.0))
        assert len(built.turns) == 2 and built.turns[1].refers_to is None
        check_mcq(scene, built)  # the second turn's answer holds in the scene
        assert built.extra["family"].startswith("mcq_") and built.extra["opener"] in ("caption_short", "open_qa", "look")
        openers.add(built.extra["opener"])
        families.add(built.extra["family"])
    assert openers == {"caption_short", "open_qa", "look"} and len(families) == 6
    switched = 0
    for _ in range(40):
        _, built, _ = sample_task_scene("mcq_follow_up", rng, "train", replace(MIXED, duration=6.0))
        switched += built.turns[0].language != built.turns[1].language
    assert 5 <= switched <= 35  # "mixed" draws each turn's language
    record = generate("mcq_follow_up", None, 0, "train", "unused", world=MIXED, write=False)
    assert [m["role"] for m in record["messages"]] == ["user", "assistant", "user", "assistant"]
    assert isinstance(record["messages"][0]["content"], list) and isinstance(record["messages"][2]["content"], str)
    assert record["messages"][3]["content"] == record["meta"]["answer_text"]


def test_detailed_caption_tells_every_event_with_its_time_and_the_knobs() -> None:
    rng = random.Random(2)
    for _ in range(5):
        scene, built, _ = sample_task_scene("caption_detailed", rng, "train",
                                            WorldOptions(duration=6.0, text_overlay=0.1, cuts=1, face=True))
        caption = built.turns[0].answer
        for event in scene.events:
            assert f"{lang_.format_seconds(event.time)} second" in caption
        assert scene.text_overlay is not None
        assert " ".join(scene.text_overlay["text"].split()) in caption and "\n" not in caption
        assert "cut" in caption and "face" in caption


@pytest.mark.parametrize("language", ["en", "zh"])
def test_look_answers_are_read_off_the_first_frame(language: str) -> None:
    """Every "look" answer is true of the scene at 0 s: the colour of the only shape of its kind,
    the shape of the only object of its colour, the side / height of a clearly placed object, the
    number of objects shown."""
    from kangaroo.synth.language import SIDE_WORDS, colour_word, number_word, shape_word

    kinds = set()
    for index in range(60):
        scene, built, _ = sample_task_scene("look", random.Random(index), "train", WorldOptions(language=language))
        kind, answer = built.extra["question_type"], built.turns[0].answer
        kinds.add(kind)
        shown = [o for o in scene.objects if o.visible_at(0.0) and o.visible_at(0.5)]
        if kind == "count_start":
            assert answer == number_word(len(shown), language)
            continue
        (obj,) = [o for o in shown if o.id == built.extra["objects"][0]]
        x, y = obj.position_at(0.0)
        expected = {"colour": colour_word(obj.colour_at(0.0), language), "shape": shape_word(obj.shape, language),
                    "side": SIDE_WORDS[language]["left" if x < 0.5 else "right"],
                    "height": SIDE_WORDS[language]["top" if y < 0.5 else "bottom"]}[kind]
        assert answer == expected, (kind, built.turns[0].question)
    assert kinds == {"colour", "shape", "side", "height", "count_start"}
