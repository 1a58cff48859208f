"""Scene-fact queries: the ground truth a question family reads off a scene.

`Facts` wraps a sampled `Scene` for one split: its observable events in time order, which
objects have a name no other object ever has, how an event would be described, and the false
claims (things that never happen) that distractors are drawn from. Nothing here is random
except where an ``rng`` is passed in.
"""

from __future__ import annotations

import random
from typing import Any

from . import language as lang_
from .language import capitalise, colour_word, indefinite, say, the
from .scene import COLOURS, DIRECTIONS, EVENT_KINDS, SHAPES, Event, Scene, SceneObject
from .splits import HELD_OUT_EVENTS, allowed_for

EPS = 1e-6  # seconds: two times closer than this are the same moment


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
        """Colour-shape pairs no object ever is, allowed in this split, shuffled.

        Given the truth's ``colour`` and ``shape``, the first three complete a 2x2 grid with it
        when the split allows one -- (other colour, shape), (colour, other shape), (other colour,
        other shape) -- so every option shares exactly one word with two others and the truth
        cannot be told from the distractors by the words they share (a blind reader that picks
        the option most like the others would otherwise be right most of the time)."""
        pairs = [(c, s) for s in SHAPES for c in COLOURS if (c, s) not in self.all_names and self.allowed(c, s)]
        rng.shuffle(pairs)
        if shape is None or colour is None:
            return pairs
        absent = set(pairs)
        grids = [[(c, shape), (colour, s), (c, s)] for c in COLOURS for s in SHAPES
                 if c != colour and s != shape and {(c, shape), (colour, s), (c, s)} <= absent]
        if not grids:
            return pairs
        grid = rng.choice(grids)
        return grid + [p for p in pairs if p not in grid]

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
