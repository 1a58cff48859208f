"""Task generators: turn sampled scenes into training / evaluation records.

Every task samples a scene (`kangaroo.synth.world`) that fits the split (`splits`), derives a
question and its answer from the scene's ground truth (objects, motion, events), writes the
video (or image) and the scene's JSON, and returns a record dict in the schema of
`kangaroo.data.records`::

    record = generate("mcq_direction", None, 0, "train", out_dir, seed=7, language="zh")

`list_tasks()` names them all. Answers are never random: a multiple-choice truth is read off the
scene, and each distractor is checked to be false in it (another direction, a colour the object
never has, an event that never happens, an object that is not there). Objects are named by
colour and shape; a question only names an object whose name no other object ever has.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import language as lang_
from .language import (
    capitalise,
    colour_word,
    event_clause,
    format_options,
    format_seconds,
    indefinite,
    object_name,
    option_answer,
    say,
    sentence,
    state_clause,
    the,
    time_phrase,
)
from .scene import COLOURS, DIRECTIONS, EVENT_KINDS, SHAPES, Event, Scene, SceneObject
from .splits import (
    HELD_OUT_EVENTS,
    allowed_for,
    check_scene,
    held_out_in,
    needs_held_out,
    normalise_split,
    record_seed,
)

EPS = 1e-6
MAX_ATTEMPTS = 200  # scenes tried per record before giving up
HELD_OUT_ATTEMPTS = 40  # val/test: scenes tried for one that holds a held-out composition
LETTERS = "ABCD"


@dataclass
class Turn:
    """One question and its answer, in ``language``; ``refers_to`` is the index of the earlier
    turn it refers back to (multi-round)."""

    language: str
    question: str
    answer: str
    kind: str = ""
    refers_to: int | None = None


@dataclass
class Built:
    """What a task derives from a scene: the turns and the meta fields."""

    turns: list[Turn]
    answer: Any
    options: list[str] | None = None
    times: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class Facts:
    """Ground-truth look-ups over a scene shared by the builders.

    ``events``: the observable events (``0 < time <= end``) in time order; ``end``: the time of
    the last frame.
    """

    def __init__(self, scene: Scene, split: str, needle: Event | None = None) -> None:
        self.scene = scene
        self.split = split
        self.allowed = allowed_for(split)
        self.held_out_events = HELD_OUT_EVENTS if split == "train" else frozenset()
        self.needle = needle
        self.end = scene.frame_times()[-1]
        self.events = sorted(
            (e for e in scene.events if EPS < e.time <= self.end + EPS),
            key=lambda e: (e.time, EVENT_KINDS.index(e.kind), e.objects),
        )
        self.names = {o.id: {(c, o.shape) for _, c in o.colours} for o in scene.objects}
        self.all_names = set().union(*self.names.values()) if self.names else set()
        keys = [self.key(e) for e in self.events]
        self._key_counts = {k: keys.count(k) for k in keys}

    # -- names ------------------------------------------------------------------------------
    def unique_name(self, obj: SceneObject, colour: str) -> bool:
        """No other object is ever ``colour`` + ``obj.shape``."""
        return all((colour, obj.shape) not in names for oid, names in self.names.items() if oid != obj.id)

    def event_colours(self, event: Event) -> list[str]:
        """The colour of each object of ``event`` as it happens (before a colour change)."""
        first = self.scene.object(event.objects[0])
        colours = [lang_.event_colour(first, event)]
        colours += [self.scene.object(o).colour_at(event.time) for o in event.objects[1:]]
        return colours

    def referable(self, event: Event) -> bool:
        """Every object of ``event`` has a name no other object ever has."""
        return all(
            self.unique_name(self.scene.object(o), c) for o, c in zip(event.objects, self.event_colours(event), strict=True)
        )

    def key(self, event: Event) -> tuple[Any, ...]:
        """What a description of the event says (names, kind, details), without the time."""
        names = tuple((c, self.scene.object(o).shape) for o, c in zip(event.objects, self.event_colours(event), strict=True))
        if event.kind == "collide":
            names = tuple(sorted(names))
        details = tuple(sorted((k, str(v)) for k, v in event.details.items()))
        return (event.kind, names, details)

    def describable(self, event: Event) -> bool:
        """Referable, and no other event would be described the same way."""
        return self.referable(event) and self._key_counts[self.key(event)] == 1

    def at(self, t: float) -> list[Event]:
        return [e for e in self.events if abs(e.time - t) < EPS]

    def of(self, obj: SceneObject) -> list[Event]:
        """Events that involve ``obj``, in time order."""
        return [e for e in self.events if obj.id in e.objects]

    def visible_at_end(self, obj: SceneObject) -> bool:
        return obj.visible_at(self.end)

    def mid_time(self, obj: SceneObject) -> float:
        """A time when ``obj`` is visible (the middle of its life on screen)."""
        return (obj.appear + min(obj.disappear, self.scene.duration)) / 2

    def absent_pairs(self, rng: random.Random, shape: str | None = None,
                     colour: str | None = None) -> list[tuple[str, str]]:
        """Colour-shape pairs no object ever is, allowed in this split, shuffled; those sharing
        ``shape`` or ``colour`` first (plausible distractors)."""
        pairs = [(c, s) for s in SHAPES for c in COLOURS if (c, s) not in self.all_names and self.allowed(c, s)]
        near = [p for p in pairs if p[1] == shape or p[0] == colour]
        far = [p for p in pairs if p not in near]
        rng.shuffle(near)
        rng.shuffle(far)
        return near + far

    def turns_held_out(self, colour: str) -> bool:
        """Turning ``colour`` is a held-out event of this split (never said in train text)."""
        return ("change_colour", colour) in self.held_out_events

    # -- false claims -------------------------------------------------------------------------
    def false_claims(
        self, lang: str, rng: random.Random, variant: int, *, obj: SceneObject | None = None, form: str = "event"
    ) -> list[str]:
        """Descriptions of things that never happen in the scene: colours an object never
        takes, directions it never moves in, a stop / disappearance / collision that never
        occurs, objects that never appear. ``form="state"`` says them about ``obj`` as "it".

        Ordered for variety: one claim of each kind in turn (kinds and claims shuffled), so the
        first few make distractors that do not share a form."""
        claims: list[tuple[str, str]] = []
        for subject in [obj] if obj is not None else self.scene.objects:
            colour = subject.colour_at(self.mid_time(subject))
            if form == "event" and not self.unique_name(subject, colour):
                continue
            fields = {"the": the(colour, subject.shape, lang), "a": indefinite(colour, subject.shape, lang)}
            mine = self.of(subject)
            prefix = "state." if form == "state" else "event."

            def claim(kind: str, _fields: dict[str, str] = fields, _prefix: str = prefix, **extra: str) -> None:
                claims.append((kind, capitalise(say(_prefix + kind, lang, rng, variant, **_fields, **extra))))

            colours = {c for _, c in subject.colours}
            for c in COLOURS:
                if c not in colours and self.allowed(c, subject.shape) and not self.turns_held_out(c):
                    claim("change_colour", **{"from": colour_word(colour, lang), "to": colour_word(c, lang)})
            moved = {seg.direction for seg in subject.motion} | {
                e.details.get("direction") for e in mine if e.kind == "start_moving"
            }
            for d in DIRECTIONS:
                if d not in moved:
                    claim("start_moving", dir=lang_.direction_phrase(d, lang))
            if not any(e.kind == "stop" for e in mine) and not any(
                a.moving and a.end < min(subject.disappear, self.scene.duration) - EPS for a in subject.motion
            ):
                claim("stop")
            if (subject.disappear >= self.scene.duration - EPS and not any(e.kind == "disappear" for e in mine)
                    and ("disappear", colour) not in self.held_out_events):
                claim("disappear")
            for other in self.scene.objects:
                if other.id == subject.id or any(e.kind == "collide" and other.id in e.objects for e in mine):
                    continue
                other_colour = other.colour_at(self.mid_time(other))
                if self.unique_name(other, other_colour):
                    claim("collide", the2=the(other_colour, other.shape, lang))
        if form == "event":
            for c, s in self.absent_pairs(rng)[:6]:
                claims.append(("appear", capitalise(say("event.appear", lang, rng, variant, a=indefinite(c, s, lang)))))
        groups: dict[str, list[str]] = {}
        for kind, text in claims:
            groups.setdefault(kind, []).append(text)
        queues = list(groups.values())
        rng.shuffle(queues)
        for queue in queues:
            rng.shuffle(queue)
        ordered = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
        return list(dict.fromkeys(ordered))


def pick_language(spec: str, rng: random.Random) -> str:
    """``"en"`` / ``"zh"``, or one of them at random for ``"mixed"``."""
    if spec == "mixed":
        return rng.choice(lang_.LANGUAGES)
    if spec not in lang_.LANGUAGES:
        raise ValueError(f"unknown language {spec!r}; expected en, zh or mixed")
    return spec


def _mcq(
    rng: random.Random,
    lang: str,
    question: str,
    truth: str,
    preferred: Sequence[str],
    fallback: Sequence[str] = (),
    *,
    kind: str,
    times: list[Any],
    objects: Sequence[int] = (),
    max_preferred: int = 3,
) -> Built | None:
    """A 4-option question: the truth plus 3 distractors (up to ``max_preferred`` drawn at
    random from ``preferred``, the rest the first of ``fallback`` in its order, then of the
    other ``preferred``), shuffled. None when there are too few."""
    pool = [d for d in dict.fromkeys(preferred) if d != truth]
    chosen = rng.sample(pool, min(max_preferred, len(pool), 3))
    rest = [d for d in dict.fromkeys([*fallback, *pool]) if d != truth and d not in chosen]
    if len(chosen) + len(rest) < 3:
        return None
    chosen += rest[: 3 - len(chosen)]
    options = [truth, *chosen]
    rng.shuffle(options)
    letter = LETTERS[options.index(truth)]
    prompt = format_options(question, options, lang, rng)
    return Built(
        [Turn(lang, prompt, option_answer(letter, truth), kind=kind)],
        answer=letter,
        options=options,
        times=times,
        extra={"answer_text": truth, "question_type": kind, "objects": list(objects)},
    )


def _when(obj_events: Sequence[Event], event: Event, lang: str) -> str:
    """``""`` when the object has one event of this kind, else ``" at 3 seconds"`` / ``"在第3秒"``."""
    if sum(1 for e in obj_events if e.kind == event.kind) == 1:
        return ""
    return (" " + time_phrase(event.time, "en")) if lang == "en" else time_phrase(event.time, "zh")


def _single(lang: str, question: str, answer: str, *, kind: str, times: list[Any], objects: Sequence[int] = (),
            **extra: Any) -> Built:
    return Built([Turn(lang, question, answer, kind=kind)], answer=answer, times=times,
                 extra={"question_type": kind, "objects": list(objects), **extra})


# ---------------------------------------------------------------------------------------------
# captions


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
    return _single(lang, prompt, caption, kind="caption_short", times=[e.time for e in events])


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
    return _single(lang, prompt, caption, kind="caption_detailed", times=[e.time for e in f.events])


def image_caption(f: Facts, rng: random.Random, lang: str, t: float) -> str:
    """The objects visible at ``t``, each with where it is in the frame when that is clear."""
    items = []
    for obj in sorted(f.scene.visible_at(t), key=lambda o: (o.position_at(t)[1], o.position_at(t)[0])):
        a = indefinite(obj.colour_at(t), obj.shape, lang)
        cell = lang_.region(*obj.position_at(t))
        if lang == "zh":
            items.append(f"{lang_.region_phrase(cell, 'zh')}有{a}" if cell else f"画面中有{a}")
        else:
            items.append(f"{a} {lang_.region_phrase(cell, 'en')}" if cell else a)
    if not items:
        bg = lang_.background_phrase(f.scene, lang, t)
        return say("image.empty", lang, rng, bg=bg, bg_bare=bg.removeprefix("a "))
    objs = "，".join(items) if lang == "zh" else lang_.join_list(items, "en")
    return capitalise(say("image.caption", lang, rng, objs=objs, Objs=capitalise(objs)))


def build_image_caption(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    times = [t for t in f.scene.frame_times() if f.scene.visible_at(t)]
    if not times:
        return None
    t = rng.choice(times)
    caption = image_caption(f, rng, lang, t)
    prompt = say("prompt.image_caption", lang, rng)
    return _single(lang, prompt, caption, kind="image_caption", times=[t], image_time=t)


# ---------------------------------------------------------------------------------------------
# multiple choice


def build_mcq_direction(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    options = lang_.DIRECTION_OPTION[lang]
    starts = [e for e in f.events if e.kind == "start_moving" and f.referable(e)]
    if starts:
        event = rng.choice(starts)
        obj = f.scene.object(event.objects[0])
        direction = str(event.details["direction"])
        when = _when(f.of(obj), event, lang)
        question = say("mcq.direction", lang, rng, the=the(obj.colour_at(event.time), obj.shape, lang), when=when)
        times = [event.time]
    else:  # objects that move from the start: ask about a moment of a moving segment
        moments = []
        for obj in f.scene.objects:
            for seg in obj.motion:
                length = min(seg.end, obj.disappear, f.end) - max(seg.start, obj.appear)
                if seg.moving and length >= 0.5:
                    t = round((max(seg.start, obj.appear) + min(seg.end, obj.disappear, f.end)) / 2, 1)
                    if obj.visible_at(t) and obj.segment_at(t) == seg and f.unique_name(obj, obj.colour_at(t)):
                        moments.append((obj, seg, t))
        if not moments:
            return None
        obj, seg, t = rng.choice(moments)
        direction = str(seg.direction)
        question = say("mcq.moving_direction", lang, rng, the=the(obj.colour_at(t), obj.shape, lang),
                       time=time_phrase(t, lang))
        times = [t]
    truth = options[direction]
    return _mcq(rng, lang, question, truth, [options[d] for d in DIRECTIONS if d != direction],
                kind="direction", times=times, objects=[obj.id])


def _count_distractors(n: int) -> list[str]:
    return [str(k) for k in range(max(0, n - 2), n + 4) if k != n]


def build_mcq_count(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variants: list[tuple[str, str, int, list[Any], list[int]]] = [
        ("count_total", say("mcq.count_total", lang, rng), len(f.scene.objects), [], [])
    ]
    changes = [e.time for e in f.events if e.kind in ("appear", "disappear")]
    quiet = [t for t in f.scene.frame_times() if all(abs(t - c) >= 0.5 for c in changes) and t > 0]
    if quiet:
        t = round(rng.choice(quiet), 2)
        variants.append(("count_visible", say("mcq.count_visible", lang, rng, time=time_phrase(t, lang)),
                         len(f.scene.visible_at(t)), [t], []))
    changers = [o for o in f.scene.objects if f.unique_name(o, o.colours[0][1])]
    if changers:
        obj = rng.choice(changers)
        times = [e.time for e in f.of(obj) if e.kind == "change_colour"]
        question = say("mcq.count_colour_changes", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        variants.append(("count_colour_changes", question, len(times), times, [obj.id]))
    collisions = [e.time for e in f.scene.events if e.kind == "collide"]
    if collisions:
        variants.append(("count_collisions", say("mcq.count_collisions", lang, rng), len(collisions), collisions, []))
    kind, question, n, times, objects = rng.choice(variants)
    return _mcq(rng, lang, question, str(n), _count_distractors(n), kind=kind, times=times, objects=objects)


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
    return _mcq(rng, lang, question, truth, real, fake, kind=f"order_{kind}", times=event_times,
                objects=list(truth_event.objects), max_preferred=2)


def build_mcq_colour_change(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    variant = rng.randrange(3)
    changes = [e for e in f.events if e.kind == "change_colour" and f.referable(e)]

    def colour_to(event: Event) -> Built | None:
        obj = f.scene.object(event.objects[0])
        to, frm = str(event.details["to"]), str(event.details["from"])
        question = say("mcq.colour_to", lang, rng, the=the(frm, obj.shape, lang), when=_when(f.of(obj), event, lang))
        others = [colour_word(c, lang) for c in COLOURS
                  if c not in (to, frm) and f.allowed(c, obj.shape) and not f.turns_held_out(c)]
        return _mcq(rng, lang, question, colour_word(to, lang), others, kind="colour_to", times=[event.time],
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
        return _mcq(rng, lang, question, colour_word(frm, lang), others, kind="colour_from", times=[event.time],
                    objects=[obj.id])

    def state(event: Event) -> Built | None:
        obj = f.scene.object(event.objects[0])
        if len([e for e in f.at(event.time) if obj.id in e.objects]) != 1:
            return None
        question = say("mcq.state", lang, rng, the=the(f.event_colours(event)[0], obj.shape, lang),
                       time=time_phrase(event.time, lang))
        truth = capitalise(state_clause(f.scene, event, lang, rng, variant))
        fake = f.false_claims(lang, rng, variant, obj=obj, form="state")
        return _mcq(rng, lang, question, truth, (), fake, kind="state_change", times=[event.time],
                    objects=[obj.id])

    groups: list[list[Callable[[], Built | None]]] = [
        [lambda e=event: colour_to(e) for event in changes],
        [lambda e=event: colour_from(e) for event in changes],
        [lambda e=event: state(e) for event in f.events
         if event.kind in ("change_colour", "start_moving", "stop", "disappear") and f.referable(event)],
    ]
    rng.shuffle(groups)  # each kind of question as likely as the others
    for group in groups:
        rng.shuffle(group)
        for make in group:
            built = make()
            if built is not None:
                return built
    return None


def build_mcq_appear(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    candidates = [e for e in f.events if e.kind in ("appear", "disappear") and f.referable(e) and e.time < f.end - EPS]
    if not candidates:
        return None
    event = rng.choice(candidates)
    obj = f.scene.object(event.objects[0])
    colour = f.event_colours(event)[0]
    truth = object_name(colour, obj.shape, lang)
    absent = [object_name(c, s, lang) for c, s in f.absent_pairs(rng, obj.shape, colour)[:8]]
    if event.kind == "appear":
        question = say("mcq.appear", lang, rng)
        return _mcq(rng, lang, question, truth, absent, kind="appear", times=[event.time], objects=[obj.id])
    # disappear: objects that stay to the end are plausible wrong answers
    vanishing = set().union(*(f.names[e.objects[0]] for e in f.scene.events if e.kind == "disappear"))
    stayers = [
        object_name(o.colour_at(f.end), o.shape, lang)
        for o in f.scene.objects
        if f.visible_at_end(o) and not (f.names[o.id] & vanishing)
    ]
    question = say("mcq.disappear", lang, rng)
    return _mcq(rng, lang, question, truth, stayers, absent, kind="disappear", times=[event.time],
                objects=[obj.id], max_preferred=2)


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
        return _mcq(rng, lang, say("mcq.end_event", lang, rng), truth, real, fake, kind="end_event",
                    times=[last[0].time], objects=list(last[0].objects), max_preferred=2)

    def still_visible() -> Built | None:
        staying = [o for o in f.scene.objects if f.visible_at_end(o) and f.unique_name(o, o.colour_at(f.end))]
        if not staying:
            return None
        obj = rng.choice(staying)
        at_end = set().union(*(f.names[o.id] for o in f.scene.objects if f.visible_at_end(o)))
        gone = [object_name(o.colour_at(o.disappear - EPS), o.shape, lang) for o in f.scene.objects
                if not f.visible_at_end(o) and (o.colour_at(o.disappear - EPS), o.shape) not in at_end]
        absent = [object_name(c, s, lang) for c, s in f.absent_pairs(rng, obj.shape, obj.colour_at(f.end))[:8]]
        return _mcq(rng, lang, say("mcq.end_visible", lang, rng), object_name(obj.colour_at(f.end), obj.shape, lang),
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
        return _mcq(rng, lang, question, colour_word(truth_colour, lang), earlier, others, kind="end_colour",
                    times=[f.end], objects=[obj.id], max_preferred=2)

    choices = [last_event, still_visible, end_colour]
    rng.shuffle(choices)
    for choice in choices:
        built = choice()
        if built is not None:
            return built
    return None


# ---------------------------------------------------------------------------------------------
# open questions and conversations


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
        if _when(f.of(obj), event, lang):
            question = say("mcq.colour_to", lang, rng, 0, the=the(str(event.details["from"]), obj.shape, lang),
                           when=_when(f.of(obj), event, lang))
        answer = say("answer.colour_to", lang, rng, to=colour_word(str(event.details["to"]), lang))
        return _single(lang, question, answer, kind="colour_to", times=[event.time], objects=[obj.id])

    def direction(event: Event) -> Built:
        obj = scene.object(event.objects[0])
        question = say("open.direction", lang, rng, the=the(obj.colour_at(event.time), obj.shape, lang),
                       when=_when(f.of(obj), event, lang))
        answer = say("answer.direction", lang, rng, dir=lang_.direction_phrase(str(event.details["direction"]), lang))
        return _single(lang, question, answer, kind="direction", times=[event.time], objects=[obj.id])

    def after(anchor: Event, nxt: Event) -> Built:
        question = say("open.after", lang, rng, e=lang_.embedded(event_clause(scene, anchor, lang, rng, variant), lang))
        answer = sentence(event_clause(scene, nxt, lang, rng), lang)
        return _single(lang, question, answer, kind="after", times=[anchor.time, nxt.time], objects=list(nxt.objects))

    def count_total() -> Built:
        n = len(scene.objects)
        answer = say("answer.count_one", lang, rng) if n == 1 else say(
            "answer.count", lang, rng, n=n if lang == "zh" else lang_.number_word(n, "en"),
            N=capitalise(lang_.number_word(n, "en")))
        return _single(lang, say("open.count_total", lang, rng), answer, kind="count", times=[])

    def appear(event: Event) -> Built:
        obj = scene.object(event.objects[0])
        colour = obj.colour_at(event.time)
        a = indefinite(colour, obj.shape, lang)
        answer = say("answer.object", lang, rng, a=a, A=capitalise(a))
        return _single(lang, say("open.appear", lang, rng), answer, kind="appear", times=[event.time], objects=[obj.id])

    def end_colour(obj: SceneObject) -> Built:
        c = colour_word(obj.colour_at(f.end), lang)
        question = say("open.end_colour", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        return _single(lang, question, say("answer.end_colour", lang, rng, c=c, C=capitalise(c)),
                       kind="end_colour", times=[f.end], objects=[obj.id])

    def describe(obj: SceneObject) -> Built | None:
        text = _describe_object(f, obj, lang, rng, variant)
        if text is None:
            return None
        question = say("open.describe_object", lang, rng, the=the(obj.colours[0][1], obj.shape, lang))
        return _single(lang, question, text, kind="describe_object", times=[e.time for e in f.of(obj)],
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
    for make in variants:
        built = make()
        if built is not None:
            return built
    return None


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


# ---------------------------------------------------------------------------------------------
# grounding and needle


def build_grounding(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    scene = f.scene
    choices: list[Callable[[], Built]] = []

    def point(event: Event) -> Built:
        fields = lang_.event_fields(scene, event, lang)
        question = say("when." + event.kind, lang, rng, **fields)
        answer = say("answer.time", lang, rng, t=format_seconds(event.time))
        return _single(lang, question, answer, kind=f"when_{event.kind}", times=[event.time],
                       objects=list(event.objects))

    def span(obj: SceneObject, key: str, start: float, end: float, **fields: str) -> Built:
        question = say(key, lang, rng, the=the(obj.colour_at(start), obj.shape, lang), **fields)
        answer = say("answer.span", lang, rng, a=format_seconds(start), b=format_seconds(end))
        return _single(lang, question, answer, kind=key.split(".")[1], times=[[start, end]], objects=[obj.id])

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
        built = _single(lang, say("needle.what", lang, rng), say("answer.object", lang, rng, a=a, A=capitalise(a)),
                        kind="needle_what", times=times, objects=[obj.id])
    elif choice == "what_mcq":
        absent = [object_name(c, s, lang) for c, s in f.absent_pairs(rng, obj.shape, colour)[:8]]
        built = _mcq(rng, lang, say("needle.what_mcq", lang, rng), object_name(colour, obj.shape, lang), absent,
                     kind="needle_what", times=times, objects=[obj.id])
    elif choice == "when":
        question = say("needle.when", lang, rng, the=the(colour, obj.shape, lang))
        built = _single(lang, question, say("answer.span", lang, rng, a=format_seconds(start), b=format_seconds(end)),
                        kind="needle_when", times=times, objects=[obj.id])
    else:
        if sum(1 for o in f.scene.objects if o.shape == obj.shape) != 1:
            return None
        question = say("needle.colour", lang, rng, shape=lang_.shape_word(obj.shape, lang))
        others = [colour_word(c, lang) for c in COLOURS if c != colour and f.allowed(c, obj.shape)]
        built = _mcq(rng, lang, question, colour_word(colour, lang), others, kind="needle_colour", times=times, objects=[obj.id])
    if built is not None:
        built.extra["needle"] = {"object": obj.id, "start": start, "end": end}
    return built


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Task:
    """A named generator: how its scenes are sampled and how a record is built from one.

    ``media``: ``"video"``, ``"image"`` (a 1-frame PNG) or ``"needle"`` (a long video with one
    short needle event). ``scene_kwargs`` go to `world.sample_scene`.
    """

    name: str
    description: str
    build: Callable[[Facts, random.Random, str], Built | None]
    media: str = "video"
    duration: float = 8.0
    fps: float = 8.0
    scene_kwargs: dict[str, Any] = field(default_factory=dict)

    def generate(self, rng: random.Random | None, index: int, split: str, out_dir: str | os.PathLike[str],
                 **kwargs: Any) -> dict[str, Any]:
        """See `generate`."""
        return generate(self.name, rng, index, split, out_dir, **kwargs)


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("caption_short", "one-sentence caption: the objects and the first events", build_caption_short),
        Task("caption_detailed", "every event in order with its time, the start and the end", build_caption_detailed,
             scene_kwargs={"num_events": (3, 6)}),
        Task("mcq_direction", "4-option MCQ: which way an object starts (or is) moving", build_mcq_direction),
        Task("mcq_count", "4-option MCQ: how many objects / visible at t / colour changes / collisions",
             build_mcq_count),
        Task("mcq_order", "4-option MCQ: what happens first / right after / just before an event", build_mcq_order,
             scene_kwargs={"num_events": (3, 6)}),
        Task("mcq_colour_change", "4-option MCQ: what colour an object turns, was, or what happens to it at t",
             build_mcq_colour_change),
        Task("mcq_appear", "4-option MCQ: which object appears / disappears during the video", build_mcq_appear),
        Task("mcq_end", "4-option MCQ: the last event, what is still visible, the colour at the end", build_mcq_end),
        Task("open_qa", "open question with a one-sentence answer (colour, direction, next event, count, ...)",
             build_open_qa),
        Task("multi_round", "2-4 turn conversation about one object; follow-ups refer back; may switch language",
             build_multi_round, scene_kwargs={"num_events": (3, 6)}),
        Task("grounding", "when does X happen? answered in seconds (a time or a span); meta.times = truth",
             build_grounding),
        Task("needle", "long video (1-10 min) with one short needle object; what / when / what colour",
             build_needle, media="needle", duration=0.0, fps=2.0),
        Task("image_caption", "1-frame PNG with a caption of the objects and where they are", build_image_caption,
             media="image", duration=1.0, fps=8.0),
    ]
}
NEEDLE_DURATION_RANGE = (60.0, 600.0)


def list_tasks() -> list[tuple[str, str]]:
    """``[(name, description), ...]`` of every task, in registry order."""
    return [(t.name, t.description) for t in TASKS.values()]


def get_task(name: str) -> Task:
    """The task called ``name``; raises ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def record_id(task: str, split: str, seed: int, index: int) -> str:
    """``"mcq_count-train-7-000042"``."""
    return f"{task}-{split}-{seed}-{index:06d}"


def sample_task_scene(
    task: str | Task,
    rng: random.Random,
    split: str,
    *,
    language: str = "en",
    size: tuple[int, int] = (128, 96),
    duration: float | None = None,
    fps: float | None = None,
    text_overlay: float = 0.0,
    static: bool = False,
    cuts: int = 0,
    face: bool = False,
) -> tuple[Scene, Built, Event | None]:
    """Sample scenes until one fits ``split`` (`check_scene`; for val/test one holding a
    held-out composition, when found within `HELD_OUT_ATTEMPTS`) and the task can be built from
    it. Returns ``(scene, built, needle_event)``; nothing is written. Raises ValueError when no
    scene in `MAX_ATTEMPTS` works (e.g. a motion task with ``static=True``)."""
    from . import world

    spec = task if isinstance(task, Task) else get_task(task)
    split = normalise_split(split)
    fps = spec.fps if fps is None else fps
    if spec.media == "needle" and duration is None:
        duration = float(round(rng.uniform(*NEEDLE_DURATION_RANGE)))
    duration = spec.duration if duration is None else duration
    if duration <= 0 or fps <= 0:
        raise ValueError(f"duration and fps must be positive, got {duration} and {fps}")
    for attempt in range(MAX_ATTEMPTS):
        scene_seed = rng.getrandbits(63)
        needle: Event | None = None
        if spec.media == "needle":
            scene, needle = world.needle_scene(np.random.default_rng(scene_seed), duration=duration, fps=fps, size=size)
        else:
            scene = world.sample_scene(
                np.random.default_rng(scene_seed), duration=duration, fps=fps, size=size, allowed=allowed_for(split),
                text_overlay=text_overlay, static=static or spec.media == "image", cuts=cuts, face=face,
                **spec.scene_kwargs,
            )
        if check_scene(scene, split):
            continue
        if needs_held_out(split) and attempt < HELD_OUT_ATTEMPTS and not held_out_in(scene):
            continue
        built = spec.build(Facts(scene, split, needle), rng, language)
        if built is not None:
            return scene, built, needle
    raise ValueError(
        f"task {spec.name!r}: no scene in {MAX_ATTEMPTS} attempts fits split {split!r} and the task "
        f"(duration {duration}, static={static}); try other knobs"
    )


def generate(
    task: str,
    rng: random.Random | None,
    index: int,
    split: str,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    language: str = "en",
    size: tuple[int, int] = (128, 96),
    duration: float | None = None,
    fps: float | None = None,
    text_overlay: float = 0.0,
    static: bool = False,
    cuts: int = 0,
    face: bool = False,
    write: bool = True,
    crf: int = 23,
) -> dict[str, Any]:
    """Make record ``index`` of ``task``: sample a scene, build the question, write
    ``out_dir/videos/{id}.mp4`` (``.png`` for images) and ``out_dir/scenes/{id}.json`` (not with
    ``write=False``), and return the record dict (paths relative to ``out_dir``).

    rng: None derives it from the task and ``record_seed(seed, split, index)``, which makes the
    record reproducible. language: ``en``, ``zh`` or ``mixed`` (random per record; multi_round switches
    within the conversation). Knobs go to the world: ``text_overlay`` (fraction of the frame
    covered by text), ``static``, ``cuts`` (hard cuts), ``face``. Raises ValueError for bad
    arguments or a task that cannot be built with them.
    """
    spec = get_task(task)
    split = normalise_split(split)
    if language not in lang_.LANGUAGE_CHOICES:
        raise ValueError(f"unknown language {language!r}; expected en, zh or mixed")
    if not (len(size) == 2 and all(isinstance(v, int) and v >= 16 for v in size)):
        raise ValueError(f"size must be (width, height) of at least 16 pixels each, got {size!r}")
    if spec.media != "image" and (size[0] % 2 or size[1] % 2):
        raise ValueError(f"videos (H.264) need an even width and height, got {size[0]}x{size[1]}")
    if cuts < 0:
        raise ValueError(f"cuts must be >= 0, got {cuts}")
    this_seed = record_seed(seed, split, index)
    # the task name is mixed in so that datasets of different tasks made with one seed do not
    # share their scenes
    rng = random.Random(f"{spec.name}/{this_seed}") if rng is None else rng
    scene, built, _ = sample_task_scene(
        spec, rng, split, language=language, size=size, duration=duration, fps=fps,
        text_overlay=text_overlay, static=static, cuts=cuts, face=face,
    )
    rid = record_id(spec.name, split, seed, index)
    suffix = ".png" if spec.media == "image" else ".mp4"
    video_rel = f"videos/{rid}{suffix}"
    scene_rel = f"scenes/{rid}.json"
    if write:
        root = Path(out_dir)
        if spec.media == "image":
            from .render import write_image  # writes atomically

            write_image(scene, root / video_rel, t=built.extra["image_time"])
        else:
            from .render import write_scene  # deterministic bytes; writes atomically

            write_scene(scene, root / video_rel, crf=crf)
        from kangaroo.io import atomic_write_text

        atomic_write_text(root / scene_rel, json.dumps(scene.to_dict(), sort_keys=True))
    return _record(spec, built, rid, video_rel, scene_rel, scene, split, this_seed, index)


def _record(spec: Task, built: Built, rid: str, video: str, scene_path: str, scene: Scene, split: str,
            seed: int, index: int) -> dict[str, Any]:
    part = "image" if spec.media == "image" else "video"
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(built.turns):
        content: Any = [{"type": part}, {"type": "text", "text": turn.question}] if i == 0 else turn.question
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": turn.answer})
    extra = dict(built.extra)
    language = extra.pop("language_override", built.turns[0].language)
    meta: dict[str, Any] = {
        "task": spec.name,
        "language": language,
        "answer": built.answer,
        "options": built.options,
        "times": [_round_time(t) for t in built.times],
        "split": split,
        "seed": seed,
        "index": index,
        "scene": scene_path,
        "duration": scene.duration,
        "held_out": held_out_in(scene),
        "source": "synth",
    }
    if meta["options"] is None:
        del meta["options"]
    meta.update(extra)
    return {"id": rid, "video": video, "messages": messages, "meta": meta}


def _round_time(t: Any) -> Any:
    if isinstance(t, list | tuple):
        return [_round_time(v) for v in t]
    return round(float(t), 6)


__all__ = [
    "NEEDLE_DURATION_RANGE",
    "TASKS",
    "Built",
    "Facts",
    "Task",
    "Turn",
    "detailed_caption",
    "generate",
    "get_task",
    "image_caption",
    "list_tasks",
    "record_id",
    "sample_task_scene",
]
