"""Multiple choice: which way an object starts (or is) moving."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import Facts
from ..language import say, the, time_phrase
from ..scene import DIRECTIONS
from .family import Built, Task, multiple_choice, pick_language, when_qualifier


def build_mcq_direction(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    options = lang_.DIRECTION_OPTION[lang]
    starts = [e for e in f.events if e.kind == "start_moving" and f.referable(e)]
    if starts:
        event = rng.choice(starts)
        obj = f.scene.object(event.objects[0])
        direction = str(event.details["direction"])
        when = when_qualifier(f.of(obj), event, lang)
        question = say("mcq.direction", lang, rng, the=the(obj.colour_at(event.time), obj.shape, lang), when=when)
        times = [event.time]
    else:  # objects that move from the start: ask about a moment of a moving segment
        moments = []
        for obj in f.scene.objects:
            for seg in obj.motion:
                length = min(seg.end, obj.disappear, f.end) - max(seg.start, obj.appear)
                if seg.moving and length >= 0.5:
                    t = round((max(seg.start, obj.appear) + min(seg.end, obj.disappear, f.end)) / 2, 1)
                    if obj.visible_at(t) and obj.segment_at(t) == seg and f.unique_name(obj, obj.colour_at(t)):
                        moments.append((obj, seg, t))
        if not moments:
            return None
        obj, seg, t = rng.choice(moments)
        direction = str(seg.direction)
        question = say("mcq.moving_direction", lang, rng, the=the(obj.colour_at(t), obj.shape, lang),
                       time=time_phrase(t, lang))
        times = [t]
    truth = options[direction]
    return multiple_choice(rng, lang, question, truth, [options[d] for d in DIRECTIONS if d != direction],
                kind="direction", times=times, objects=[obj.id])


TASK = Task("mcq_direction", "4-option MCQ: which way an object starts (or is) moving", build_mcq_direction)
