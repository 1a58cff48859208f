"""Train / validation / test splits of the synthetic world: held-out seeds and held-out
compositions, so that generalisation can be measured.

Seeds. Record ``i`` of a dataset made with seed ``s`` uses the seed
``SPLIT_SEED_OFFSETS[split] + s * 2**32 + i`` (`record_seed`): the three splits live in disjoint
ranges of 2**62 seeds, so no two records of different splits (or of different dataset seeds or
indices) ever share a seed.

Held-out compositions never occur in a train scene, and val/test scenes are sampled so that
each holds at least one where the task allows it (`needs_held_out`):

- colour-shape pairs (`HELD_OUT_PAIRS`): six pairs, each colour and each shape used once. An
  object is never that colour-shape pair in train, at any time (its first colour or any colour it
  changes to). Train *text* never names them either: distractor options are drawn with
  `allowed_for`.
- event combinations (`HELD_OUT_EVENTS`):
  ``("change_colour", "orange")``: an object turns orange;
  ``("disappear", "white")``: a white object disappears;
  ``("change_colour->collide", "*")``: an object changes colour and later collides.

`scene_compositions` lists what a scene holds; `check_scene(scene, split)` says which held-out
ones break the split (only train has rules).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from .scene import COLOURS, SHAPES, Scene

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_ALIASES: dict[str, str] = {"validation": "val", "valid": "val", "dev": "val"}
SPLIT_SEED_OFFSETS: dict[str, int] = {"train": 0, "val": 1 << 62, "test": 2 << 62}
MAX_DATASET_SEED = 1 << 30  # dataset seeds are 0 <= seed < 2**30
MAX_RECORDS = 1 << 32  # record indices are 0 <= index < 2**32

HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("red", "star"),
    ("green", "triangle"),
    ("blue", "ring"),
    ("yellow", "diamond"),
    ("purple", "circle"),
    ("cyan", "square"),
})
CHANGE_THEN_COLLIDE = "change_colour->collide"
HELD_OUT_EVENTS: frozenset[tuple[str, str]] = frozenset({
    ("change_colour", "orange"),
    ("disappear", "white"),
    (CHANGE_THEN_COLLIDE, "*"),
})


def normalise_split(split: str) -> str:
    """``"validation"`` -> ``"val"``; raises ValueError for an unknown split."""
    name = SPLIT_ALIASES.get(split, split)
    if name not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return name


def record_seed(seed: int, split: str, index: int) -> int:
    """The seed of record ``index`` of a dataset made with ``seed`` in ``split`` (disjoint ranges
    per split). Raises ValueError when ``seed`` or ``index`` is out of range."""
    if not 0 <= seed < MAX_DATASET_SEED:
        raise ValueError(f"seed must be in [0, {MAX_DATASET_SEED}), got {seed}")
    if not 0 <= index < MAX_RECORDS:
        raise ValueError(f"record index must be in [0, {MAX_RECORDS}), got {index}")
    return SPLIT_SEED_OFFSETS[normalise_split(split)] + seed * MAX_RECORDS + index


def split_of_seed(value: int) -> str:
    """Which split a record seed (`record_seed`) belongs to."""
    for name in reversed(SPLITS):
        if value >= SPLIT_SEED_OFFSETS[name]:
            return name
    raise ValueError(f"record seeds are non-negative, got {value}")


def allowed_for(split: str) -> Callable[[str, str], bool]:
    """``allowed(colour, shape)``: may an object be this colour-shape pair in ``split``?

    Train forbids `HELD_OUT_PAIRS`; val and test allow every pair.
    """
    if normalise_split(split) == "train":
        return _train_allowed
    return _all_allowed


def _train_allowed(colour: str, shape: str) -> bool:
    return (colour, shape) not in HELD_OUT_PAIRS


def _all_allowed(colour: str, shape: str) -> bool:
    return colour in COLOURS and shape in SHAPES


def scene_compositions(scene: Scene) -> dict[str, set[tuple[str, str]]]:
    """What a scene composes: ``{"pairs": {(colour, shape), ...}, "events": {(kind, key), ...}}``.

    Pairs cover every colour each object takes. Event keys: ``("change_colour", to)``,
    ``("disappear", colour when it disappears)``, ``(kind, "*")`` for other kinds, and
    ``("change_colour->collide", "*")`` when an object changes colour and later collides.
    """
    pairs = {(colour, obj.shape) for obj in scene.objects for _, colour in obj.colours}
    events: set[tuple[str, str]] = set()
    changed_at: dict[int, float] = {}
    for event in sorted(scene.events, key=lambda e: e.time):
        obj = scene.object(event.objects[0])
        if event.kind == "change_colour":
            events.add(("change_colour", str(event.details["to"])))
            changed_at.setdefault(obj.id, event.time)
        elif event.kind == "disappear":
            events.add(("disappear", obj.colour_at(event.time)))
        else:
            events.add((event.kind, "*"))
        if event.kind == "collide" and any(
            oid in changed_at and changed_at[oid] < event.time for oid in event.objects
        ):
            events.add((CHANGE_THEN_COLLIDE, "*"))
    return {"pairs": pairs, "events": events}


def held_out_in(scene: Scene) -> list[str]:
    """The held-out compositions a scene holds, as sorted strings (``"pair:red star"``,
    ``"event:change_colour orange"``)."""
    found = scene_compositions(scene)
    names = [f"pair:{c} {s}" for c, s in found["pairs"] & HELD_OUT_PAIRS]
    names += [f"event:{k} {v}" for k, v in found["events"] & HELD_OUT_EVENTS]
    return sorted(names)


def held_out_for(scene: Scene, objects: Iterable[int]) -> list[str]:
    """The held-out compositions (as `held_out_in` names them) that involve the objects with these
    ids: their colour-shape pairs and the events they start."""
    ids = set(objects)
    part = dataclasses.replace(scene, objects=[o for o in scene.objects if o.id in ids],
                               events=[e for e in scene.events if e.objects[0] in ids])
    return held_out_in(part)


def check_scene(scene: Scene, split: str) -> list[str]:
    """The held-out compositions that make ``scene`` unfit for ``split``: all of them for train,
    none for val and test. Empty means fit."""
    return held_out_in(scene) if normalise_split(split) == "train" else []


def needs_held_out(split: str) -> bool:
    """Whether scenes of ``split`` should hold at least one held-out composition (val, test)."""
    return normalise_split(split) != "train"
