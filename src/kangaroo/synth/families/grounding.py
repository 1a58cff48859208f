"""Temporal grounding: when does X happen? Answered in seconds (a time or a span)."""

from __future__ import annotations

import random
from collections.abc import Callable

from .. import language as lang_
from ..facts import EPS, Facts
from ..language import format_seconds, say, the
from ..scene import DIRECTIONS, Event, SceneObject
from .family import Built, Task, pick_language, single_answer


def build_grounding(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    scene = f.scene
    choices: list[Callable[[], Built]] = []

    def point(event: Event) -> Built:
        fields = lang_.event_fields(scene, event, lang)
        question = say("when." + event.kind, lang, rng, **fields)
        answer = say("answer.time", lang, rng, t=format_seconds(event.time))
        return single_answer(lang, question, answer, kind=f"when_{event.kind}", times=[event.time],
                       objects=list(event.objects))

    def span(obj: SceneObject, key: str, start: float, end: float, **fields: str) -> Built:
        question = say(key, lang, rng, the=the(obj.colour_at(start), obj.shape, lang), **fields)
        answer = say("answer.span", lang, rng, a=format_seconds(start), b=format_seconds(end))
        return single_answer(lang, question, answer, kind=key.split(".")[1], times=[[start, end]], objects=[obj.id])

    for event in f.events:
        if f.describable(event) and event.time < f.end - EPS:
            choices.append(lambda e=event: point(e))
    for obj in scene.objects:
        if len(obj.colours) == 1 and f.unique_name(obj, obj.colours[0][1]):
            spans = _moving_spans(obj, scene.duration)
            for direction in DIRECTIONS:
                mine = [s for s in spans if s[2] == direction]
                if len(mine) == 1 and mine[0][1] - mine[0][0] >= 0.5:
                    s0, s1, _ = mine[0]
                    choices.append(lambda o=obj, a=s0, b=s1, d=direction: span(
                        o, "when.moving_span", a, b, dir=lang_.direction_phrase(d, lang)))
            end = min(obj.disappear, scene.duration)
            if obj.appear > EPS or end < scene.duration - EPS:
                choices.append(lambda o=obj, a=obj.appear, b=end: span(o, "when.visible_span", a, b))
    if not choices:
        return None
    return rng.choice(choices)()


def _moving_spans(obj: SceneObject, duration: float) -> list[tuple[float, float, str]]:
    """Maximal time spans in which ``obj`` is on screen and moving one way: ``(start, end, dir)``."""
    spans: list[tuple[float, float, str]] = []
    for seg in obj.motion:
        start, end = max(seg.start, obj.appear), min(seg.end, obj.disappear, duration)
        if not seg.moving or end - start <= EPS:
            continue
        direction = str(seg.direction)
        if spans and spans[-1][2] == direction and abs(spans[-1][1] - start) < EPS:
            spans[-1] = (spans[-1][0], end, direction)
        else:
            spans.append((start, end, direction))
    return spans


TASK = Task("grounding", "when does X happen? answered in seconds (a time or a span); meta.times = truth",
            build_grounding)
