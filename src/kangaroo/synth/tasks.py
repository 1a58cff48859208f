"""The task driver: turn sampled scenes into training / evaluation records.

A task is a question family (`kangaroo.synth.families`). For record ``index`` the driver
samples a scene that fits the split (`splits`) and the `WorldOptions`, lets the family build a
question and its answer from the scene's ground truth (`facts`), writes the video (or image) and
the scene's JSON, and returns a record dict in the schema of `kangaroo.data.records`::

    record = generate("mcq_direction", None, 0, "train", out_dir, seed=7, world=WorldOptions(language="zh"))

`list_tasks()` names them all; `get_task(name)` returns one.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from .facts import Facts
from .families import FAMILIES, Built, Task
from .options import DEFAULT_WORLD, WorldOptions
from .scene import Event, Scene
from .splits import allowed_for, check_scene, held_out_in, needs_held_out, normalise_split, record_seed

MAX_ATTEMPTS = 200  # scenes tried per record before giving up
HELD_OUT_ATTEMPTS = 40  # val/test: scenes tried for one that holds a held-out composition
NEEDLE_DURATION_RANGE = (60.0, 600.0)  # seconds: needle videos when the options give no duration

TASKS: dict[str, Task] = {task.name: task for task in FAMILIES}


def list_tasks() -> list[tuple[str, str]]:
    """``[(name, description), ...]`` of every task, in registry order."""
    return [(t.name, t.description) for t in TASKS.values()]


def get_task(name: str) -> Task:
    """The task called ``name``; raises ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def record_id(task: str, split: str, seed: int, index: int) -> str:
    """``"mcq_count-train-7-000042"``."""
    return f"{task}-{split}-{seed}-{index:06d}"


def check_options(task: str | Task, world: WorldOptions) -> None:
    """Raise ValueError when ``task`` cannot be made with ``world`` (videos need even sides)."""
    spec = task if isinstance(task, Task) else get_task(task)
    width, height = world.size
    if spec.media != "image" and (width % 2 or height % 2):
        raise ValueError(f"videos (H.264) need an even width and height, got {width}x{height}")


def sample_task_scene(
    task: str | Task, rng: random.Random, split: str, world: WorldOptions = DEFAULT_WORLD
) -> tuple[Scene, Built, Event | None]:
    """Sample scenes until one fits ``split`` (`check_scene`; for val/test one holding a
    held-out composition, when found within `HELD_OUT_ATTEMPTS`) and the task can be built from
    it. Returns ``(scene, built, needle_event)``; nothing is written. Raises ValueError when no
    scene in `MAX_ATTEMPTS` works (e.g. a motion task with ``static=True``)."""
    from . import world as world_

    spec = task if isinstance(task, Task) else get_task(task)
    split = normalise_split(split)
    fps = spec.fps if world.fps is None else world.fps
    duration = world.duration
    if spec.media == "needle" and duration is None:
        duration = float(round(rng.uniform(*NEEDLE_DURATION_RANGE)))
    duration = spec.duration if duration is None else duration
    for attempt in range(MAX_ATTEMPTS):
        scene_seed = rng.getrandbits(63)
        needle: Event | None = None
        if spec.media == "needle":
            scene, needle = world_.needle_scene(np.random.default_rng(scene_seed), duration=duration, fps=fps,
                                                size=world.size)
        else:
            scene = world_.sample_scene(
                np.random.default_rng(scene_seed), duration=duration, fps=fps, size=world.size,
                allowed=allowed_for(split), text_overlay=world.text_overlay,
                static=world.static or spec.media == "image", cuts=world.cuts, face=world.face,
                **spec.scene_kwargs,
            )
        if check_scene(scene, split):
            continue
        if needs_held_out(split) and attempt < HELD_OUT_ATTEMPTS and not held_out_in(scene):
            continue
        built = spec.build(Facts(scene, split, needle), rng, world.language)
        if built is not None:
            return scene, built, needle
    raise ValueError(
        f"task {spec.name!r}: no scene in {MAX_ATTEMPTS} attempts fits split {split!r} and the task "
        f"(duration {duration}, static={world.static}); try other knobs"
    )


def generate(
    task: str,
    rng: random.Random | None,
    index: int,
    split: str,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    world: WorldOptions = DEFAULT_WORLD,
    write: bool = True,
    crf: int = 23,
) -> dict[str, Any]:
    """Make record ``index`` of ``task``: sample a scene, build the question, write
    ``out_dir/videos/{id}.mp4`` (``.png`` for images) and ``out_dir/scenes/{id}.json`` (not with
    ``write=False``), and return the record dict (paths relative to ``out_dir``).

    rng: None derives it from the task and ``record_seed(seed, split, index)``, which makes the
    record reproducible. ``world``: how the scene looks (`WorldOptions`). Raises ValueError for
    bad arguments or a task that cannot be built with them.
    """
    spec = get_task(task)
    split = normalise_split(split)
    check_options(spec, world)
    this_seed = record_seed(seed, split, index)
    # the task name is mixed in so that datasets of different tasks made with one seed do not
    # share their scenes
    rng = random.Random(f"{spec.name}/{this_seed}") if rng is None else rng
    scene, built, _ = sample_task_scene(spec, rng, split, world)
    rid = record_id(spec.name, split, seed, index)
    suffix = ".png" if spec.media == "image" else ".mp4"
    video_rel = f"videos/{rid}{suffix}"
    scene_rel = f"scenes/{rid}.json"
    if write:
        root = Path(out_dir)
        if spec.media == "image":
            from .render import write_image  # writes atomically

            write_image(scene, root / video_rel, t=built.extra["image_time"])
        else:
            from .render import write_scene  # deterministic bytes; writes atomically

            write_scene(scene, root / video_rel, crf=crf)
        from kangaroo.io import atomic_write_text

        atomic_write_text(root / scene_rel, json.dumps(scene.to_dict(), sort_keys=True))
    return _record(spec, built, rid, video_rel, scene_rel, scene, split, this_seed, index)


def _record(spec: Task, built: Built, rid: str, video: str, scene_path: str, scene: Scene, split: str,
            seed: int, index: int) -> dict[str, Any]:
    part = "image" if spec.media == "image" else "video"
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(built.turns):
        content: Any = [{"type": part}, {"type": "text", "text": turn.question}] if i == 0 else turn.question
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": turn.answer})
    extra = dict(built.extra)
    language = extra.pop("language_override", built.turns[0].language)
    meta: dict[str, Any] = {
        "task": spec.name,
        "language": language,
        "answer": built.answer,
        "options": built.options,
        "times": [_round_time(t) for t in built.times],
        "split": split,
        "seed": seed,
        "index": index,
        "scene": scene_path,
        "duration": scene.duration,
        "held_out": held_out_in(scene),
        "source": "synth",
    }
    if meta["options"] is None:
        del meta["options"]
    meta.update(extra)
    return {"id": rid, "video": video, "messages": messages, "meta": meta}


def _round_time(t: Any) -> Any:
    if isinstance(t, list | tuple):
        return [_round_time(v) for v in t]
    return round(float(t), 6)


__all__ = [
    "NEEDLE_DURATION_RANGE",
    "TASKS",
    "check_options",
    "generate",
    "get_task",
    "list_tasks",
    "record_id",
    "sample_task_scene",
]
