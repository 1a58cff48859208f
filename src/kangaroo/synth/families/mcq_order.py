"""Multiple choice: what happens first, right after or just before an event."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import EPS, Facts
from ..language import capitalise, event_clause, say
from ..scene import Event
from .family import Built, Task, multiple_choice, pick_language


def build_mcq_order(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variant = rng.randrange(3)
    times = sorted({round(e.time, 6) for e in f.events})
    candidates: list[tuple[str, Event, Event | None]] = []
    for i, t in enumerate(times):
        here = f.at(t)
        if len(here) != 1 or not f.describable(here[0]):
            continue
        if i == 0:
            candidates.append(("first", here[0], None))
        if i > 0 and len(f.at(times[i - 1])) == 1 and f.describable(f.at(times[i - 1])[0]):
            candidates.append(("after", here[0], f.at(times[i - 1])[0]))
        if i + 1 < len(times) and len(f.at(times[i + 1])) == 1 and f.describable(f.at(times[i + 1])[0]):
            candidates.append(("before", here[0], f.at(times[i + 1])[0]))
    if not candidates:
        return None
    kind, truth_event, anchor = rng.choice(candidates)
    truth = capitalise(event_clause(f.scene, truth_event, lang, rng, variant))
    real = [
        capitalise(event_clause(f.scene, e, lang, rng, variant))
        for e in f.events
        if e is not truth_event and e is not anchor and f.describable(e) and abs(e.time - truth_event.time) > EPS
    ]
    if kind == "first":
        question = say("mcq.first", lang, rng)
        event_times = [truth_event.time]
    else:
        assert anchor is not None
        question = say("mcq." + kind, lang, rng,
                       e=lang_.embedded(event_clause(f.scene, anchor, lang, rng, variant), lang))
        event_times = [anchor.time, truth_event.time]
    fake = f.false_claims(lang, rng, variant)
    return multiple_choice(rng, lang, question, truth, real, fake, kind=f"order_{kind}", times=event_times,
                objects=list(truth_event.objects), max_preferred=2)


TASK = Task("mcq_order", "4-option MCQ: what happens first / right after / just before an event", build_mcq_order,
            scene_kwargs={"num_events": (3, 6)})
