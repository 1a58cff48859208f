"""One-sentence captions: the objects and the first events."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import Facts
from ..language import capitalise, event_clause, say
from .family import Built, Task, pick_language, single_answer


def build_caption_short(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    pairs = [(o.colours[0][1], o.shape) for o in sorted(f.scene.objects, key=lambda o: (o.appear, o.id))]
    if not pairs:
        return None
    objs = lang_.objects_phrase(pairs, lang)
    events = f.events[:2]
    clauses = [event_clause(f.scene, e, lang, rng) for e in events]
    key = ("caption.short.none", "caption.short.one", "caption.short.two")[len(clauses)]
    fields = {"objs": objs, "Objs": capitalise(objs), "bg": lang_.background_phrase(f.scene, lang)}
    fields.update({f"e{i + 1}": c for i, c in enumerate(clauses)})
    caption = capitalise(say(key, lang, rng, **fields))
    prompt = say("prompt.caption_short", lang, rng)
    return single_answer(lang, prompt, caption, kind="caption_short", times=[e.time for e in events])


TASK = Task("caption_short", "one-sentence caption: the objects and the first events", build_caption_short)
