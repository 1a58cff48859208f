"""Multiple choice: what colour an object turns, was, or what happens to it at t."""

from __future__ import annotations

import random
from collections.abc import Callable

from .. import language as lang_
from ..facts import Facts
from ..language import capitalise, colour_word, say, state_clause, the, time_phrase
from ..scene import COLOURS, Event
from .family import Built, Task, first_built, multiple_choice, pick_language, when_qualifier


def build_mcq_colour_change(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variant = rng.randrange(3)
    changes = [e for e in f.events if e.kind == "change_colour" and f.referable(e)]

    def colour_to(event: Event) -> Built | None:
        obj = f.scene.object(event.objects[0])
        to, frm = str(event.details["to"]), str(event.details["from"])
        question = say("mcq.colour_to", lang, rng, the=the(frm, obj.shape, lang), when=when_qualifier(f.of(obj), event, lang))
        others = [colour_word(c, lang) for c in COLOURS
                  if c not in (to, frm) and f.allowed(c, obj.shape) and not f.turns_held_out(c)]
        return multiple_choice(rng, lang, question, colour_word(to, lang), others, kind="colour_to", times=[event.time],
                    objects=[obj.id])

    def colour_from(event: Event) -> Built | None:
        obj = f.scene.object(event.objects[0])
        to, frm = str(event.details["to"]), str(event.details["from"])
        same = [e for e in f.scene.events if e.kind == "change_colour" and e.details.get("to") == to
                and f.scene.object(e.objects[0]).shape == obj.shape]
        if len(same) != 1:
            return None
        question = say("mcq.colour_from", lang, rng, shape=lang_.shape_word(obj.shape, lang), to=colour_word(to, lang))
        others = [colour_word(c, lang) for c in COLOURS if c not in (to, frm) and f.allowed(c, obj.shape)]
        return multiple_choice(rng, lang, question, colour_word(frm, lang), others, kind="colour_from", times=[event.time],
                    objects=[obj.id])

    def state(event: Event) -> Built | None:
        obj = f.scene.object(event.objects[0])
        if len([e for e in f.at(event.time) if obj.id in e.objects]) != 1:
            return None
        question = say("mcq.state", lang, rng, the=the(f.event_colours(event)[0], obj.shape, lang),
                       time=time_phrase(event.time, lang))
        truth = capitalise(state_clause(f.scene, event, lang, rng, variant))
        fake = f.false_claims(lang, rng, variant, obj=obj, form="state")
        return multiple_choice(rng, lang, question, truth, (), fake, kind="state_change", times=[event.time],
                    objects=[obj.id])

    groups: list[list[Callable[[], Built | None]]] = [
        [lambda e=event: colour_to(e) for event in changes],
        [lambda e=event: colour_from(e) for event in changes],
        [lambda e=event: state(e) for event in f.events
         if event.kind in ("change_colour", "start_moving", "stop", "disappear") and f.referable(event)],
    ]
    rng.shuffle(groups)  # each kind of question as likely as the others

    def in_random_order(group: list[Callable[[], Built | None]]) -> list[Callable[[], Built | None]]:
        rng.shuffle(group)  # lazily, as each group is reached: the same draws as before
        return group

    return first_built(make for group in groups for make in in_random_order(group))


TASK = Task("mcq_colour_change", "4-option MCQ: what colour an object turns, was, or what happens to it at t",
            build_mcq_colour_change)
