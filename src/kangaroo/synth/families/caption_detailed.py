"""Detailed captions: every event in order with its time, the start, the end and the knobs."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import EPS, Facts
from ..language import capitalise, event_clause, say, the, time_phrase
from .family import Built, Task, pick_language, single_answer


def detailed_caption(f: Facts, rng: random.Random, lang: str) -> str:
    """Every event in order with its time, the objects at the start and the end, and the knobs."""
    scene = f.scene
    parts: list[str] = []
    start = [(o.colour_at(0.0), o.shape) for o in scene.visible_at(0.0)]
    if start:
        objs = lang_.objects_phrase(start, lang)
        parts.append(capitalise(say("caption.start", lang, rng, objs=objs, be="is" if len(start) == 1 else "are",
                                    bg=lang_.background_phrase(scene, lang))))
        for obj in scene.visible_at(0.0):
            segment = obj.segment_at(0.0)
            if segment.moving and f.unique_name(obj, obj.colour_at(0.0)):
                the_ = the(obj.colour_at(0.0), obj.shape, lang)
                parts.append(
                    say("caption.moving_from_start", lang, rng, the=the_, The=capitalise(the_),
                        dir=lang_.direction_phrase(str(segment.direction), lang))
                )
    else:
        parts.append(say("caption.start_empty", lang, rng))
    moments: dict[float, list[str]] = {}
    for event in f.events:
        moments.setdefault(round(event.time, 6), []).append(event_clause(scene, event, lang, rng))
    cut_times = {round(t, 6) for t in scene.cuts if EPS < t <= f.end}
    for t in sorted(set(moments) | cut_times):
        if t in moments:
            when = time_phrase(t, lang)
            parts.append(say("caption.events_at", lang, rng, time=when, Time=capitalise(when),
                             es=lang_.join_clauses(moments[t], lang)))
        if t in cut_times:
            when = time_phrase(t, lang)
            parts.append(say("caption.cut", lang, rng, time=when, Time=capitalise(when)))
    end = [(o.colour_at(f.end), o.shape) for o in scene.visible_at(f.end)]
    if end:
        parts.append(capitalise(say("caption.end", lang, rng, objs=lang_.objects_phrase(end, lang),
                                    be="is" if len(end) == 1 else "are")))
    else:
        parts.append(say("caption.end_empty", lang, rng))
    if scene.static:
        parts.append(say("caption.static", lang, rng))
    if scene.text_overlay and scene.text_overlay.get("text"):
        parts.append(say("caption.text", lang, rng, text=" ".join(str(scene.text_overlay["text"]).split())))
    if scene.face:
        parts.append(say("caption.face", lang, rng))
    return (" " if lang == "en" else "").join(parts)


def build_caption_detailed(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    if not f.scene.objects:
        return None
    caption = detailed_caption(f, rng, lang)
    prompt = say("prompt.caption_detailed", lang, rng)
    return single_answer(lang, prompt, caption, kind="caption_detailed", times=[e.time for e in f.events])


TASK = Task("caption_detailed", "every event in order with its time, the start and the end", build_caption_detailed,
            scene_kwargs={"num_events": (3, 6)})
