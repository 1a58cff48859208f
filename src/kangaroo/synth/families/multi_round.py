"""Conversations of 2-4 turns about one object; follow-ups refer back; may switch language."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import EPS, Facts
from ..language import capitalise, colour_word, event_clause, format_seconds, say, sentence, state_clause
from ..scene import Event
from .family import Built, Task, Turn, pick_language


def _turn_languages(spec: str, n: int, rng: random.Random) -> list[str]:
    """One language per turn; ``"mixed"`` switches at least once."""
    if spec != "mixed":
        return [pick_language(spec, rng)] * n
    langs = [rng.choice(lang_.LANGUAGES)]
    for _ in range(n - 1):
        langs.append(langs[-1] if rng.random() < 0.5 else ("zh" if langs[-1] == "en" else "en"))
    if n > 1 and len(set(langs)) == 1:
        k = rng.randrange(1, n)
        langs[k:] = ["zh" if langs[0] == "en" else "en"] * (n - k)
    return langs


def build_multi_round(f: Facts, rng: random.Random, spec: str) -> Built | None:
    """2-4 turns about one object: an opener names it through an event, each follow-up refers
    back ("it", "that") to the object or to the event of an earlier turn."""
    scene = f.scene
    n_turns = rng.randint(2, 4)
    langs = _turn_languages(spec, n_turns, rng)
    variant = rng.randrange(3)
    openers = []
    changes = [e for e in f.events if e.kind == "change_colour"]
    if len(changes) == 1 and f.referable(changes[0]):
        openers.append(("which_changes", changes[0]))
    if f.events and len(f.at(f.events[0].time)) == 1 and f.referable(f.events[0]):
        openers.append(("first_event", f.events[0]))
    if not openers:
        return None
    opener, event = rng.choice(openers)
    obj = scene.object(event.objects[0])
    lang = langs[0]
    question = say(f"turn.{opener}", lang, rng)
    answer = sentence(event_clause(scene, event, lang, rng, variant), lang)
    turns = [Turn(lang, question, answer, kind=opener)]
    times = [event.time]
    ref_event: Event | None = event
    ref_turn = 0
    asked: set[str] = set()
    while len(turns) < n_turns:
        lang = langs[len(turns)]
        options = []
        if ref_event is not None and ref_event.kind == "change_colour" and "colour_before" not in asked:
            options.append("colour_before")
        if ref_event is not None and f"when@{ref_event.time}" not in asked:
            options.append("when")
        if ref_event is not None:
            options.append("next")
        if "visible_end" not in asked:
            options.append("visible_end")
        if f.visible_at_end(obj) and "end_colour" not in asked:
            options.append("end_colour")
        if not options:
            break
        kind = rng.choice(options)
        question = say(f"follow.{kind}", lang, rng)
        refers_to = ref_turn
        if kind == "colour_before":
            assert ref_event is not None
            answer = say("answer.colour_from", lang, rng, **{"from": colour_word(str(ref_event.details["from"]), lang)})
            asked.add(kind)
        elif kind == "when":
            assert ref_event is not None
            answer = say("answer.time", lang, rng, t=format_seconds(ref_event.time))
            asked.add(f"when@{ref_event.time}")
            times.append(ref_event.time)
        elif kind == "next":
            assert ref_event is not None
            later = [e for e in f.of(obj) if e.time > ref_event.time + EPS]
            nxt = [e for e in later if abs(e.time - later[0].time) < EPS] if later else []
            if len(nxt) > 1:
                ref_event = None
                continue
            if not nxt:
                answer = say("answer.nothing_after", lang, rng)
                ref_event = None
            else:
                step = nxt[0]
                if step.objects[0] != obj.id:
                    step = Event(step.time, step.kind, (obj.id, *[o for o in step.objects if o != obj.id]), step.details)
                answer = sentence(state_clause(scene, step, lang, rng, variant), lang)
                ref_event = step
                times.append(step.time)
        elif kind == "visible_end":
            if f.visible_at_end(obj):
                answer = say("answer.visible_end_yes", lang, rng)
            else:
                answer = say("answer.visible_end_no", lang, rng, t=format_seconds(obj.disappear))
                times.append(obj.disappear)
            asked.add(kind)
            refers_to = 0
        else:  # end_colour
            c = colour_word(obj.colour_at(f.end), lang)
            answer = say("answer.end_colour", lang, rng, c=c, C=capitalise(c))
            asked.add(kind)
            refers_to = 0
        turns.append(Turn(lang, question, answer, kind=kind, refers_to=refers_to))
        if kind == "next":
            ref_turn = len(turns) - 1
    if len(turns) < 2:
        return None
    used = {t.language for t in turns}
    return Built(
        turns,
        answer=turns[-1].answer,
        times=sorted(set(times)),
        extra={"turns": [{"language": t.language, "kind": t.kind, "refers_to": t.refers_to} for t in turns],
               "objects": [obj.id],
               "language_override": "mixed" if len(used) > 1 else turns[0].language},
    )


TASK = Task("multi_round", "2-4 turn conversation about one object; follow-ups refer back; may switch language",
            build_multi_round, scene_kwargs={"num_events": (3, 6)})
