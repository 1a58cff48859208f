"""Multiple choice: how many objects, visible at t, colour changes or collisions."""

from __future__ import annotations

import random
from typing import Any

from ..facts import Facts
from ..language import say, the, time_phrase
from .family import Built, Task, multiple_choice, pick_language


def _count_distractors(n: int) -> list[str]:
    return [str(k) for k in range(max(0, n - 2), n + 4) if k != n]


def build_mcq_count(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variants: list[tuple[str, str, int, list[Any], list[int]]] = [
        ("count_total", say("mcq.count_total", lang, rng), len(f.scene.objects), [], [])
    ]
    changes = [e.time for e in f.events if e.kind in ("appear", "disappear")]
    quiet = [t for t in f.scene.frame_times() if all(abs(t - c) >= 0.5 for c in changes) and t > 0]
    if quiet:
        t = round(rng.choice(quiet), 2)
        variants.append(("count_visible", say("mcq.count_visible", lang, rng, time=time_phrase(t, lang)),
                         len(f.scene.visible_at(t)), [t], []))
    changers = [o for o in f.scene.objects if f.unique_name(o, o.colours[0][1])]
    if changers:
        obj = rng.choice(changers)
        times = [e.time for e in f.of(obj) if e.kind == "change_colour"]
        question = say("mcq.count_colour_changes", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        variants.append(("count_colour_changes", question, len(times), times, [obj.id]))
    collisions = [e.time for e in f.scene.events if e.kind == "collide"]
    if collisions:
        variants.append(("count_collisions", say("mcq.count_collisions", lang, rng), len(collisions), collisions, []))
    kind, question, n, times, objects = rng.choice(variants)
    return multiple_choice(rng, lang, question, str(n), _count_distractors(n), kind=kind, times=times, objects=objects)


TASK = Task("mcq_count", "4-option MCQ: how many objects / visible at t / colour changes / collisions",
            build_mcq_count)
