"""Needle in a haystack: a long video (1-10 min) with one short needle object; what / when / what colour."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import Facts
from ..language import capitalise, colour_word, format_seconds, indefinite, object_name, say, the
from ..scene import COLOURS
from .family import Built, Task, multiple_choice, pick_language, single_answer


def build_needle(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    assert f.needle is not None
    obj = f.scene.object(f.needle.objects[0])
    colour = obj.colour_at(f.needle.time)
    if not f.unique_name(obj, colour):
        return None
    start, end = obj.appear, min(obj.disappear, f.scene.duration)
    times = [[start, end]]
    choice = rng.choice(["what", "what_mcq", "when", "colour"])
    a = indefinite(colour, obj.shape, lang)
    if choice == "what":
        built = single_answer(lang, say("needle.what", lang, rng), say("answer.object", lang, rng, a=a, A=capitalise(a)),
                        kind="needle_what", times=times, objects=[obj.id])
    elif choice == "what_mcq":
        grid = [object_name(c, s, lang) for c, s in f.absent_pairs(rng, obj.shape, colour)[:3]]
        built = multiple_choice(rng, lang, say("needle.what_mcq", lang, rng), object_name(colour, obj.shape, lang), grid,
                     kind="needle_what", times=times, objects=[obj.id])
    elif choice == "when":
        question = say("needle.when", lang, rng, the=the(colour, obj.shape, lang))
        built = single_answer(lang, question, say("answer.span", lang, rng, a=format_seconds(start), b=format_seconds(end)),
                        kind="needle_when", times=times, objects=[obj.id])
    else:
        if sum(1 for o in f.scene.objects if o.shape == obj.shape) != 1:
            return None
        question = say("needle.colour", lang, rng, shape=lang_.shape_word(obj.shape, lang))
        others = [colour_word(c, lang) for c in COLOURS if c != colour and f.allowed(c, obj.shape)]
        built = multiple_choice(rng, lang, question, colour_word(colour, lang), others, kind="needle_colour", times=times, objects=[obj.id])
    if built is not None:
        built.extra["needle"] = {"object": obj.id, "start": start, "end": end}
    return built


TASK = Task("needle", "long video (1-10 min) with one short needle object; what / when / what colour",
            build_needle, media="needle", duration=0.0, fps=2.0)
