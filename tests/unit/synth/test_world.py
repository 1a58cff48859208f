"""The scene sampler: deterministic, and its events say exactly what changes, and nothing else."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kangaroo.synth.scene import COLOURS, SHAPES, Scene, SceneObject
from kangaroo.synth.world import CONTACT_MARGIN, EVENT_EDGE, EVENT_GAP, needle_scene, sample_scene

SEEDS = range(40)


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [sample_scene(np.random.default_rng(seed)) for seed in SEEDS]


def distance(scene: Scene, a: SceneObject, b: SceneObject, t: float) -> float:
    """Centre distance in pixels."""
    (ax, ay), (bx, by) = a.position_at(t), b.position_at(t)
    return math.hypot((ax - bx) * scene.width, (ay - by) * scene.height)


def reach(scene: Scene, a: SceneObject, b: SceneObject) -> float:
    """Centre distance in pixels at which the two shapes' circles touch."""
    return (a.size + b.size) * scene.height


def observed_changes(scene: Scene) -> list[tuple[float, str, tuple[int, ...], dict[str, str]]]:
    """Every change the objects' timelines hold that is an event (not border or collision bounces)."""
    changes = []
    for obj in scene.objects:
        key = (obj.id,)
        if obj.appear > 0:
            changes.append((obj.appear, "appear", key, {}))
        if obj.disappear < scene.duration:
            changes.append((obj.disappear, "disappear", key, {}))
        for (_, old), (t, new) in itertools.pairwise(obj.colours):
            changes.append((t, "change_colour", key, {"from": old, "to": new}))
        for before, after in itertools.pairwise(obj.motion):
            if not before.moving and after.moving:
                changes.append((after.start, "start_moving", key, {"direction": after.direction}))
            elif before.moving and not after.moving:
                changes.append((after.start, "stop", key, {}))
    return sorted(changes, key=lambda c: c[0])


def test_same_rng_state_gives_the_same_scene_and_it_round_trips() -> None:
    a = sample_scene(np.random.default_rng(7), text_overlay=0.2, cuts=1, face=True)
    b = sample_scene(np.random.default_rng(7), text_overlay=0.2, cuts=1, face=True)
    assert a.to_dict() == b.to_dict()
    assert Scene.from_dict(a.to_dict()) == a
    assert sample_scene(np.random.default_rng(8)).to_dict() != a.to_dict()


def test_counts_follow_the_ranges(scenes: list[Scene]) -> None:
    assert {len(s.objects) for s in scenes} == {2, 3, 4}
    assert {len(s.events) for s in scenes} == {2, 3, 4, 5}
    one = sample_scene(np.random.default_rng(0), num_objects=(1, 1), num_events=(3, 3))
    assert len(one.objects) == 1 and len(one.events) == 3


def test_events_are_sorted_spaced_and_away_from_the_ends(scenes: list[Scene]) -> None:
    for scene in scenes:
        times = [e.time for e in scene.events]
        assert all(EVENT_EDGE <= t <= scene.duration - EVENT_EDGE for t in times)
        assert all(b - a >= EVENT_GAP - 1e-9 for a, b in itertools.pairwise(times))


def test_objects_stay_inside_the_frame_on_contiguous_segments(scenes: list[Scene]) -> None:
    for scene in scenes:
        for obj in scene.objects:
            rx, ry = obj.size * scene.height / scene.width, obj.size
            assert obj.motion[0].start == obj.appear and obj.motion[-1].end == obj.disappear
            assert all(a.end == b.start for a, b in itertools.pairwise(obj.motion))
            for seg in obj.motion:
                for x, y in (seg.position(seg.start), seg.position(seg.end)):
                    assert rx - 1e-9 <= x <= 1 - rx + 1e-9 and ry - 1e-9 <= y <= 1 - ry + 1e-9


def test_events_are_exactly_the_changes_in_the_timelines(scenes: list[Scene]) -> None:
    for scene in scenes:
        stated = [(e.time, e.kind, e.objects, e.details) for e in scene.events if e.kind != "collide"]
        assert stated == observed_changes(scene), scene.seed
        for e in scene.events:
            obj = scene.object(e.objects[0])
            eps = 1e-6
            if e.kind == "appear":
                assert not obj.visible_at(e.time - eps) and obj.visible_at(e.time)
                assert not obj.motion[0].moving  # appears still: no hidden start of motion
            elif e.kind == "disappear":
                assert obj.visible_at(e.time - eps) and not obj.visible_at(e.time)
            elif e.kind == "change_colour":
                assert obj.colour_at(e.time - eps) == e.details["from"] != e.details["to"] == obj.colour_at(e.time)


def test_collisions_touch_at_their_time_and_not_before(scenes: list[Scene]) -> None:
    collisions = [(s, e) for s in scenes for e in s.events if e.kind == "collide"]
    assert len(collisions) >= 5
    for scene, event in collisions:
        a, b = (scene.object(i) for i in event.objects)
        t = event.time
        assert a.visible_at(t) and b.visible_at(t)
        assert distance(scene, a, b, t) == pytest.approx(reach(scene, a, b), abs=1e-6)
        before = np.linspace(max(a.appear, b.appear), t, 200, endpoint=False)
        assert all(distance(scene, a, b, u) > reach(scene, a, b) for u in before)
        assert distance(scene, a, b, t + 0.05) > reach(scene, a, b)  # they bounce apart
        assert a.segment_at(t - 1e-6).moving and a.segment_at(t).moving  # the mover bounces, no hidden stop
        assert not b.segment_at(t - 1e-6).moving and not b.segment_at(t).moving  # the target stays


def collision_windows(scene: Scene) -> dict[frozenset[int], list[tuple[float, float]]]:
    """Per pair: from the mover's start towards the other to 1 s after they touch."""
    windows: dict[frozenset[int], list[tuple[float, float]]] = {}
    for event in scene.events:
        if event.kind == "collide":
            mover = event.objects[0]
            start = max(e.time for e in scene.events if e.kind == "start_moving" and e.objects == (mover,)
                        and e.time < event.time)
            windows.setdefault(frozenset(event.objects), []).append((start, event.time + 1.0))
    return windows


def test_objects_never_touch_except_in_collisions(scenes: list[Scene]) -> None:
    for scene in scenes:
        windows = collision_windows(scene)
        for a, b in itertools.combinations(scene.objects, 2):
            near = windows.get(frozenset((a.id, b.id)), [])
            for t in np.arange(0.0, scene.duration, 0.01):
                if a.visible_at(t) and b.visible_at(t):
                    touching = any(lo <= t <= hi for lo, hi in near)
                    limit = reach(scene, a, b) - 1e-6 if touching else reach(scene, a, b) + CONTACT_MARGIN - 1e-6
                    assert distance(scene, a, b, t) >= limit, (scene.seed, a.id, b.id, t)


def test_allowed_holds_for_every_colour_an_object_ever_has() -> None:
    def no_red_and_no_blue_ring(colour: str, shape: str) -> bool:
        return colour != "red" and (colour, shape) != ("blue", "ring")

    changes = 0
    for seed in range(30):
        scene = sample_scene(np.random.default_rng(seed), allowed=no_red_and_no_blue_ring, num_events=(4, 5))
        for obj in scene.objects:
            changes += len(obj.colours) - 1
            assert all(no_red_and_no_blue_ring(c, obj.shape) for _, c in obj.colours)
    assert changes > 10


def test_names_are_never_shared(scenes: list[Scene]) -> None:
    for scene in scenes:
        names = [(c, o.shape) for o in scene.objects for _, c in o.colours]
        assert len(names) == len(set(names))


def test_static_scene_has_no_motion_and_no_events() -> None:
    for seed in range(5):
        scene = sample_scene(np.random.default_rng(seed), static=True, cuts=1)
        assert scene.static and scene.events == [] and len(scene.cuts) == 1
        assert all(not seg.moving for o in scene.objects for seg in o.motion)
        assert all(o.appear == 0 and o.disappear == scene.duration for o in scene.objects)


def test_cuts_are_recorded_with_one_texture_per_shot() -> None:
    scene = sample_scene(np.random.default_rng(3), cuts=2, num_events=(3, 3))
    assert len(scene.cuts) == 2 and len(scene.background["shots"]) == 3
    times = sorted([*scene.cuts, *(e.time for e in scene.events)])
    assert all(b - a >= EVENT_GAP - 1e-9 for a, b in itertools.pairwise(times))
    kinds = [shot["kind"] for shot in scene.background["shots"]]
    assert all(a != b for a, b in itertools.pairwise(kinds))


@pytest.mark.parametrize("coverage", [0.05, 0.2, 0.4])
def test_text_overlay_covers_about_the_requested_fraction(coverage: float) -> None:
    overlay = sample_scene(np.random.default_rng(1), text_overlay=coverage).text_overlay
    assert overlay is not None and overlay["text"].strip()
    assert overlay["coverage"] == pytest.approx(coverage, abs=0.05)
    assert sample_scene(np.random.default_rng(1)).text_overlay is None


def test_face_is_placed_inside_the_frame() -> None:
    scene = sample_scene(np.random.default_rng(2), face=True)
    face = scene.background["face"]
    assert scene.face and face["height"] / 2 < face["y"] < 1 - face["height"] / 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"duration": 2.0, "num_events": (5, 5)}, "at most"),
        ({"allowed": lambda c, s: s == "circle" and c == "red"}, "pairs are allowed"),
        ({"num_objects": (3, 2)}, "num_objects"),
        ({"text_overlay": 0.95}, "text_overlay"),
    ],
)
def test_impossible_requests_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sample_scene(np.random.default_rng(0), **kwargs)


def test_needle_is_the_only_event_and_is_visible_only_in_its_window() -> None:
    for seed in range(3):
        scene, needle = needle_scene(np.random.default_rng(seed), duration=120.0, needle_duration=1.5)
        assert [e.kind for e in scene.events] == ["appear", "disappear"] and scene.events[0] == needle
        assert 12.0 <= needle.time <= 108.0 and scene.events[1].time == needle.time + 1.5
        obj = scene.object(needle.objects[0])
        shown = [t for t in scene.frame_times() if obj.visible_at(t)]
        assert shown == [needle.time, needle.time + 0.5, needle.time + 1.0]
        others = [o for o in scene.objects if o is not obj]
        assert 2 <= len(others) <= 3
        assert obj.colours[0][1] not in {o.colours[0][1] for o in others}
        assert obj.shape not in {o.shape for o in others}
        assert all(o.visible_at(0) and o.motion[0].moving and len(o.colours) == 1 for o in others)
        assert needle_scene(np.random.default_rng(seed), duration=120.0, needle_duration=1.5)[0] == scene


def test_vocabulary_is_the_scene_module_s() -> None:
    scene = sample_scene(np.random.default_rng(0), num_events=(5, 5))
    assert all(o.shape in SHAPES and all(c in COLOURS for _, c in o.colours) for o in scene.objects)
