"""One word read off the start of the video: the colour of a shape, the shape of a colour, which
side or height an object is at, how many objects there are.

The simplest questions that need the video: the answer is a word the visual tokens of the first
frames already say (`kangaroo.training.world_align` grounds them in exactly these words), so a
small model learns to read its visual tokens here before the other families ask it to reason
over time. Only objects visible from 0 s through the first half second are asked about, and only
by a colour or shape no other such object has; side and height are asked only when the object is
clearly on one side (more than 0.15 of the frame from the middle).
"""

from __future__ import annotations

import random

from ..facts import Facts
from ..language import SIDE_WORDS, colour_word, number_word, say, shape_word, the
from .family import Built, Task, pick_language, single_answer

START = 0.5  # seconds: "at the start" covers the first frames of any sampling
OFF_CENTRE = 0.15  # side / height questions need the object this far from the middle


def build_look(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    shown = [o for o in f.scene.objects if o.visible_at(0.0) and o.visible_at(START)]
    if not shown:
        return single_answer(lang, say("look.count", lang, rng), number_word(0, lang), kind="count_start", times=[0.0])
    colours = {o.id: o.colour_at(0.0) for o in shown if o.colour_at(0.0) == o.colour_at(START)}
    makers = []
    for obj in shown:
        if obj.id in colours and sum(o.shape == obj.shape for o in shown) == 1:
            makers.append(("colour", obj, say("look.colour", lang, rng, shape=shape_word(obj.shape, lang)),
                           colour_word(colours[obj.id], lang)))
        if obj.id in colours and sum(colours.get(o.id) == colours[obj.id] for o in shown) == 1:
            makers.append(("shape", obj, say("look.shape", lang, rng, colour=colour_word(colours[obj.id], lang)),
                           shape_word(obj.shape, lang)))
        if obj.id in colours and f.unique_name(obj, colours[obj.id]):
            x, y = obj.position_at(0.0)
            name = the(colours[obj.id], obj.shape, lang)
            if abs(x - 0.5) > OFF_CENTRE:
                makers.append(("side", obj, say("look.side", lang, rng, the=name),
                               SIDE_WORDS[lang]["left" if x < 0.5 else "right"]))
            if abs(y - 0.5) > OFF_CENTRE:
                makers.append(("height", obj, say("look.height", lang, rng, the=name),
                               SIDE_WORDS[lang]["top" if y < 0.5 else "bottom"]))
    makers.append(("count_start", None, say("look.count", lang, rng), number_word(len(shown), lang)))
    kind, obj, question, answer = rng.choice(makers)
    return single_answer(lang, question, answer, kind=kind, times=[0.0], objects=[] if obj is None else [obj.id])


TASK = Task("look", "one word read off the start: colour of a shape, shape of a colour, side, height, count",
            build_look)
