"""Open questions with a one-sentence answer (colour, direction, next event, count, ...)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from .. import language as lang_
from ..facts import Facts
from ..language import (
    capitalise,
    colour_word,
    event_clause,
    indefinite,
    say,
    sentence,
    state_clause,
    the,
    time_phrase,
)
from ..scene import Event, SceneObject
from .family import Built, Task, first_built, pick_language, single_answer, when_qualifier


def _describe_object(f: Facts, obj: SceneObject, lang: str, rng: random.Random, variant: int) -> str | None:
    """``"It starts moving to the left at 1 second, then it stops moving at 3 seconds."``"""
    steps = []
    for event in f.of(obj):
        if event.objects[0] != obj.id:  # the second object of a collision: say it from its side
            event = Event(event.time, event.kind, (obj.id, *[o for o in event.objects if o != obj.id]), event.details)
        claim = state_clause(f.scene, event, lang, rng, variant)
        when = time_phrase(event.time, lang)
        steps.append(f"{claim} {when}" if lang == "en" else f"{when}，{claim}")
    if not steps:
        return None
    if lang == "zh":
        return "；然后".join(steps) + "。"
    return sentence(", then ".join(steps), "en")


def _open_variants(f: Facts, rng: random.Random, lang: str, variant: int) -> list[Callable[[], Built | None]]:
    scene = f.scene

    def colour_to(event: Event) -> Built:
        obj = scene.object(event.objects[0])
        question = say("open.colour_to", lang, rng, the=the(str(event.details["from"]), obj.shape, lang))
        if when_qualifier(f.of(obj), event, lang):
            question = say("mcq.colour_to", lang, rng, 0, the=the(str(event.details["from"]), obj.shape, lang),
                           when=when_qualifier(f.of(obj), event, lang))
        answer = say("answer.colour_to", lang, rng, to=colour_word(str(event.details["to"]), lang))
        return single_answer(lang, question, answer, kind="colour_to", times=[event.time], objects=[obj.id])

    def direction(event: Event) -> Built:
        obj = scene.object(event.objects[0])
        question = say("open.direction", lang, rng, the=the(obj.colour_at(event.time), obj.shape, lang),
                       when=when_qualifier(f.of(obj), event, lang))
        answer = say("answer.direction", lang, rng, dir=lang_.direction_phrase(str(event.details["direction"]), lang))
        return single_answer(lang, question, answer, kind="direction", times=[event.time], objects=[obj.id])

    def after(anchor: Event, nxt: Event) -> Built:
        question = say("open.after", lang, rng, e=lang_.embedded(event_clause(scene, anchor, lang, rng, variant), lang))
        answer = sentence(event_clause(scene, nxt, lang, rng), lang)
        return single_answer(lang, question, answer, kind="after", times=[anchor.time, nxt.time], objects=list(nxt.objects))

    def count_total() -> Built:
        n = len(scene.objects)
        answer = say("answer.count_one", lang, rng) if n == 1 else say(
            "answer.count", lang, rng, n=n if lang == "zh" else lang_.number_word(n, "en"),
            N=capitalise(lang_.number_word(n, "en")))
        return single_answer(lang, say("open.count_total", lang, rng), answer, kind="count", times=[])

    def appear(event: Event) -> Built:
        obj = scene.object(event.objects[0])
        colour = obj.colour_at(event.time)
        a = indefinite(colour, obj.shape, lang)
        answer = say("answer.object", lang, rng, a=a, A=capitalise(a))
        return single_answer(lang, say("open.appear", lang, rng), answer, kind="appear", times=[event.time], objects=[obj.id])

    def end_colour(obj: SceneObject) -> Built:
        c = colour_word(obj.colour_at(f.end), lang)
        question = say("open.end_colour", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        return single_answer(lang, question, say("answer.end_colour", lang, rng, c=c, C=capitalise(c)),
                       kind="end_colour", times=[f.end], objects=[obj.id])

    def describe(obj: SceneObject) -> Built | None:
        text = _describe_object(f, obj, lang, rng, variant)
        if text is None:
            return None
        question = say("open.describe_object", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        return single_answer(lang, question, text, kind="describe_object", times=[e.time for e in f.of(obj)],
                       objects=[obj.id])

    out: list[Callable[[], Built | None]] = [count_total]
    for e in f.events:
        if not f.referable(e):
            continue
        if e.kind == "change_colour":
            out.append(lambda e=e: colour_to(e))
        if e.kind == "start_moving":
            out.append(lambda e=e: direction(e))
    appears = [e for e in f.events if e.kind == "appear"]
    if len(appears) == 1 and f.referable(appears[0]):
        out.append(lambda: appear(appears[0]))
    times = sorted({round(e.time, 6) for e in f.events})
    for t0, t1 in itertools.pairwise(times):
        a, b = f.at(t0), f.at(t1)
        if len(a) == 1 and len(b) == 1 and f.describable(a[0]) and f.referable(b[0]):
            out.append(lambda a=a[0], b=b[0]: after(a, b))
    for obj in scene.objects:
        if f.unique_name(obj, obj.colours[0][1]):
            if f.visible_at_end(obj) and len(obj.colours) > 1:
                out.append(lambda o=obj: end_colour(o))
            out.append(lambda o=obj: describe(o))
    return out


def build_open_qa(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variants = _open_variants(f, rng, lang, rng.randrange(3))
    # count_total is always possible; prefer the others when there are any
    if len(variants) > 1 and rng.random() < 0.85:
        variants = variants[1:]
    rng.shuffle(variants)
    return first_built(variants)


TASK = Task("open_qa", "open question with a one-sentence answer (colour, direction, next event, count, ...)",
            build_open_qa)
