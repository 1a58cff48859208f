"""Multiple choice: the last event, what is still visible, the colour at the end."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..facts import EPS, Facts
from ..language import capitalise, colour_word, event_clause, object_name, say, the
from ..scene import COLOURS
from .family import Built, Task, fillers, first_built, multiple_choice, pick_language


def build_mcq_end(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variant = rng.randrange(3)
    choices: list[Callable[[], Built | None]] = []

    def last_event() -> Built | None:
        if not f.events:
            return None
        last = f.at(f.events[-1].time)
        if len(last) != 1 or not f.describable(last[0]):
            return None
        truth = capitalise(event_clause(f.scene, last[0], lang, rng, variant))
        real = [capitalise(event_clause(f.scene, e, lang, rng, variant)) for e in f.events[:-1] if f.describable(e)]
        fake = f.false_claims(lang, rng, variant)
        return multiple_choice(rng, lang, say("mcq.end_event", lang, rng), truth, real, fake, kind="end_event",
                    times=[last[0].time], objects=list(last[0].objects), max_preferred=2)

    def still_visible() -> Built | None:
        staying = [o for o in f.scene.objects if f.visible_at_end(o) and f.unique_name(o, o.colour_at(f.end))]
        if not staying:
            return None
        obj = rng.choice(staying)
        at_end = set().union(*(f.names[o.id] for o in f.scene.objects if f.visible_at_end(o)))
        gone = [object_name(o.colour_at(o.disappear - EPS), o.shape, lang) for o in f.scene.objects
                if not f.visible_at_end(o) and (o.colour_at(o.disappear - EPS), o.shape) not in at_end]
        absent = fillers(f, rng, gone, obj.shape, obj.colour_at(f.end), lang)
        return multiple_choice(rng, lang, say("mcq.end_visible", lang, rng), object_name(obj.colour_at(f.end), obj.shape, lang),
                    gone, absent, kind="end_visible", times=[f.end], objects=[obj.id], max_preferred=2)

    def end_colour() -> Built | None:
        staying = [o for o in f.scene.objects if f.visible_at_end(o) and f.unique_name(o, o.colours[0][1])]
        if not staying:
            return None
        changed = [o for o in staying if len(o.colours) > 1]
        obj = rng.choice(changed or staying)
        truth_colour = obj.colour_at(f.end)
        earlier = [colour_word(c, lang) for _, c in obj.colours if c != truth_colour]
        others = [colour_word(c, lang) for c in COLOURS if c != truth_colour and f.allowed(c, obj.shape)]
        rng.shuffle(others)
        question = say("mcq.end_colour", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        return multiple_choice(rng, lang, question, colour_word(truth_colour, lang), earlier, others, kind="end_colour",
                    times=[f.end], objects=[obj.id], max_preferred=2)

    choices = [last_event, still_visible, end_colour]
    rng.shuffle(choices)
    return first_built(choices)


TASK = Task("mcq_end", "4-option MCQ: the last event, what is still visible, the colour at the end", build_mcq_end)
