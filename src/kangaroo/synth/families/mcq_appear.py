"""Multiple choice: which object appears or disappears during the video."""

from __future__ import annotations

import random

from ..facts import EPS, Facts
from ..language import object_name, say
from .family import Built, Task, fillers, multiple_choice, pick_language


def build_mcq_appear(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    candidates = [e for e in f.events if e.kind in ("appear", "disappear") and f.referable(e) and e.time < f.end - EPS]
    if not candidates:
        return None
    event = rng.choice(candidates)
    obj = f.scene.object(event.objects[0])
    colour = f.event_colours(event)[0]
    truth = object_name(colour, obj.shape, lang)
    if event.kind == "appear":
        grid = [object_name(c, s, lang) for c, s in f.absent_pairs(rng, obj.shape, colour)[:3]]
        question = say("mcq.appear", lang, rng)
        return multiple_choice(rng, lang, question, truth, grid, kind="appear", times=[event.time], objects=[obj.id])
    # disappear: objects that stay to the end are plausible wrong answers
    vanishing = set().union(*(f.names[e.objects[0]] for e in f.scene.events if e.kind == "disappear"))
    stayers = [
        object_name(o.colour_at(f.end), o.shape, lang)
        for o in f.scene.objects
        if f.visible_at_end(o) and not (f.names[o.id] & vanishing)
    ]
    question = say("mcq.disappear", lang, rng)
    return multiple_choice(rng, lang, question, truth, stayers, fillers(f, rng, stayers, obj.shape, colour, lang),
                kind="disappear", times=[event.time], objects=[obj.id], max_preferred=2)


TASK = Task("mcq_appear", "4-option MCQ: which object appears / disappears during the video", build_mcq_appear)
