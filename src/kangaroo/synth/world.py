"""Sample synthetic scenes whose events list is exactly what the renderer shows.

`sample_scene` draws the event times first (at least `EVENT_GAP` apart, none within `EVENT_EDGE`
of either end), then walks through them in order and gives each one an event that can happen at
that moment. A change of motion is kept only if, from then to the end, no two objects ever come
closer than `CONTACT_MARGIN` pixels, except a planned collision: an object starts moving straight
at a still one, touches it exactly at a later event time and bounces off it (the other stays). Objects bounce off
the frame's borders (not an event), so they never leave it; contacts are between the circles of
radius ``size`` (in frame heights) that every shape is drawn inside.

Every object has a name (``"red circle"``) that no other object has at any time of the scene,
colour changes included. `needle_scene` makes a long calm scene with one brief distinctive
object. ``Scene.background`` is ``{"shots": [one texture per shot], "face": {...}}`` (``face``
only when ``scene.face``); the renderer reads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from .options import MAX_TEXT_COVERAGE
from .render import text_font
from .scene import COLOURS, DIRECTIONS, SHAPES, Event, Scene, SceneObject, Segment

EVENT_GAP = 0.5  # seconds between consecutive events (and cuts)
EVENT_EDGE = 0.3  # no event in the first or last EVENT_EDGE seconds
SIZE_RANGE = (0.08, 0.13)  # object radius, fraction of the frame height
SPEED_RANGE = (0.2, 0.45)  # frame heights per second, for objects that start moving
AIM_SPEED_RANGE = (0.1, 0.6)  # frame heights per second, for an object aimed at a collision
MAX_ANGLE = math.radians(30)  # motion stays this close to its named direction
CONTACT_MARGIN = 3.0  # pixels: objects that do not collide stay this far apart
P_MOVING_AT_START = 0.3  # chance that an object visible at t = 0 is already moving
P_LATE = 0.25  # chance that an object (beyond the first) appears later
KIND_WEIGHTS: dict[str, float] = {
    "start_moving": 1.0, "stop": 1.0, "change_colour": 1.0, "disappear": 0.5, "collide": 3.0,
}
TRIES = 6  # candidates per event kind at one slot
MAX_ATTEMPTS = 200  # whole-scene restarts before giving up
CALM_SPEED_RANGE = (0.03, 0.08)  # frame heights per second, objects of a needle scene
NEEDLE_SIZE_RANGE = (0.12, 0.16)
TEXT_HEIGHT = 0.14  # text overlay font size, fraction of the frame height
WORDS: tuple[str, ...] = (
    "SALE", "NEWS", "LIVE", "open", "today", "price", "video", "music", "happy", "world", "OFFER",
    "summer", "city", "train", "coffee", "watch", "share", "bread", "river", "night", "FREE", "sport",
    "game", "stream", "hello", "light", "garden", "market", "travel", "island", "SCORE", "ticket",
)
SKIN_TONES: tuple[tuple[int, int, int], ...] = ((224, 172, 140), (198, 134, 86), (141, 85, 46), (250, 214, 170))
EPS = 1e-9


def sample_scene(
    rng: np.random.Generator,
    *,
    duration: float = 8.0,
    fps: float = 8.0,
    size: tuple[int, int] = (128, 96),
    num_objects: tuple[int, int] = (2, 4),
    num_events: tuple[int, int] = (2, 5),
    allowed: Callable[[str, str], bool] | None = None,
    text_overlay: float = 0.0,
    static: bool = False,
    cuts: int = 0,
    face: bool = False,
) -> Scene:
    """A random scene of ``duration`` seconds at ``fps`` and ``size = (width, height)``.

    ``num_objects`` and ``num_events`` are inclusive ranges. Objects are only ``(colour, shape)``
    pairs with ``allowed(colour, shape)`` true, at any time. ``static`` keeps every object still
    and visible with no events; ``cuts`` hard cuts switch the background texture and palette
    (``scene.cuts``); ``text_overlay`` words cover about that fraction of the frame; ``face``
    draws a face-like pattern behind the objects. The same ``rng`` state gives the same scene;
    ``scene.seed`` is drawn from ``rng`` and seeds every later choice.

    Raises ``ValueError`` when the arguments cannot be satisfied (too few allowed pairs, too
    many events for the duration, ...).
    """
    width, height = size
    lo_obj, hi_obj = num_objects
    lo_ev, hi_ev = num_events
    if width < 16 or height < 16:
        raise ValueError(f"size must be at least 16x16, got {width}x{height}")
    if not (duration > 0 and fps > 0):
        raise ValueError(f"duration and fps must be > 0, got {duration} s at {fps} fps")
    if not 1 <= lo_obj <= hi_obj:
        raise ValueError(f"num_objects must be (lo, hi) with 1 <= lo <= hi, got {num_objects}")
    if not 0 <= lo_ev <= hi_ev:
        raise ValueError(f"num_events must be (lo, hi) with 0 <= lo <= hi, got {num_events}")
    if not 0.0 <= text_overlay <= MAX_TEXT_COVERAGE:
        raise ValueError(f"text_overlay must be in [0, {MAX_TEXT_COVERAGE}], got {text_overlay}")
    if cuts < 0:
        raise ValueError(f"cuts must be >= 0, got {cuts}")
    pairs = [(c, s) for c in COLOURS for s in SHAPES if allowed is None or allowed(c, s)]
    if len(pairs) < lo_obj:
        raise ValueError(f"only {len(pairs)} (colour, shape) pairs are allowed; {lo_obj} objects need distinct ones")
    slots = _slot_capacity(duration)
    if static:
        lo_ev = hi_ev = 0
    if cuts + lo_ev > slots:
        raise ValueError(f"{duration} s holds at most {slots} events and cuts {EVENT_GAP} s apart, "
                         f"asked for {lo_ev} events and {cuts} cuts")

    seed = int(rng.integers(2**63 - 1))
    rng = np.random.default_rng(seed)
    builder = _Builder(rng, width, height, duration, pairs, allowed or _allow_all)
    for _ in range(MAX_ATTEMPTS):
        n_objects = int(rng.integers(lo_obj, min(hi_obj, len(pairs)) + 1))
        n_events = int(rng.integers(lo_ev, min(hi_ev, slots - cuts) + 1))
        built = builder.attempt(n_objects, n_events, cuts, static)
        if built is not None:
            objects, events, cut_times = built
            break
    else:
        raise RuntimeError(f"no valid scene after {MAX_ATTEMPTS} attempts (seed {seed})")

    background: dict[str, Any] = {"shots": _background_shots(rng, cuts + 1)}
    if face:
        background["face"] = _face_spec(rng, width, height)
    overlay = _text_overlay(rng, width, height, text_overlay) if text_overlay > 0 else None
    return Scene(seed=seed, duration=duration, fps=fps, width=width, height=height, background=background,
                 objects=objects, events=events, text_overlay=overlay, static=static, cuts=cut_times, face=face)


def needle_scene(
    rng: np.random.Generator,
    *,
    duration: float,
    fps: float = 2.0,
    size: tuple[int, int] = (128, 96),
    needle_duration: float = 1.0,
) -> tuple[Scene, Event]:
    """A long calm scene (2-3 objects sliding slowly in their own horizontal lanes, no events)
    with one needle: an object whose colour and shape no other object has, visible for
    ``needle_duration`` seconds from a frame time in [10%, 90%] of ``duration``.

    ``scene.events`` holds the needle's appear and disappear events; returns ``(scene, appear)``.
    Raises ``ValueError`` on arguments that leave no room for the needle.
    """
    width, height = size
    if not (duration > 0 and fps > 0 and needle_duration > 0):
        raise ValueError(f"duration, fps and needle_duration must be > 0, got {duration}, {fps}, {needle_duration}")
    first = math.ceil(0.1 * duration * fps - EPS)
    last = math.floor(min(0.9 * duration, duration - needle_duration) * fps + EPS)
    if last < first:
        raise ValueError(f"a {needle_duration} s needle does not fit in [10%, 90%] of {duration} s at {fps} fps")

    seed = int(rng.integers(2**63 - 1))
    rng = np.random.default_rng(seed)
    builder = _Builder(rng, width, height, duration, [], _allow_all)
    for _ in range(MAX_ATTEMPTS):
        built = builder.needle_attempt(first, last, fps, needle_duration)
        if built is not None:
            objects, events = built
            break
    else:
        raise RuntimeError(f"no valid needle scene after {MAX_ATTEMPTS} attempts (seed {seed})")
    scene = Scene(seed=seed, duration=duration, fps=fps, width=width, height=height,
                  background={"shots": _background_shots(rng, 1)}, objects=objects, events=events)
    return scene, events[0]


@dataclass
class _Track:
    """An object under construction: where it starts and when its velocity changes."""

    id: int
    shape: str
    size: float
    colours: list[tuple[float, str]]
    appear: float = 0.0
    disappear: float = math.inf
    x: float = 0.5  # position at appear, normalised
    y: float = 0.5
    controls: list[tuple[float, float, float]] = field(default_factory=list)  # (time, vx, vy) from then on
    locked_until: float = -1.0  # no motion or visibility change before this (a planned collision)

    def velocity_at(self, t: float) -> tuple[float, float]:
        velocity = (0.0, 0.0)
        for time, vx, vy in self.controls:
            if time <= t:
                velocity = (vx, vy)
        return velocity

    def visible_at(self, t: float) -> bool:
        return self.appear <= t < self.disappear

    def free_at(self, t: float) -> bool:
        """Visible and not promised to a planned collision."""
        return self.visible_at(t) and t >= self.locked_until


class _Builder:
    """Builds objects and events for one scene; `attempt` returns None when a try fails."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, duration: float,
                 pairs: list[tuple[str, str]], allowed: Callable[[str, str], bool]) -> None:
        self.rng, self.width, self.height, self.duration = rng, width, height, duration
        self.pairs, self.allowed = pairs, allowed
        self.tracks: list[_Track] = []
        self.planned: dict[tuple[int, int], list[tuple[float, float]]] = {}  # pair -> (aim time, contact time)
        self.used: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ sample_scene

    def attempt(self, n_objects: int, n_events: int, n_cuts: int,
                static: bool) -> tuple[list[SceneObject], list[Event], list[float]] | None:
        rng = self.rng
        self.tracks, self.planned = [], {}
        picks = rng.choice(len(self.pairs), size=n_objects, replace=False)
        self.used = {self.pairs[i] for i in picks}
        tracks = [_Track(k, self.pairs[i][1], self._size(SIZE_RANGE), [(0.0, self.pairs[i][0])])
                  for k, i in enumerate(picks)]

        times = _spaced_times(rng, n_events + n_cuts, EVENT_EDGE, self.duration - EVENT_EDGE, EVENT_GAP)
        is_cut = np.zeros(len(times), dtype=bool)
        is_cut[rng.choice(len(times), size=n_cuts, replace=False)] = True
        cut_times = [float(t) for t in times[is_cut]]
        slots = [float(t) for t in times[~is_cut]]
        n_late = 0 if static else min(int(rng.binomial(n_objects - 1, P_LATE)), n_events)
        late = tracks[n_objects - n_late:]
        appear_slots = set(rng.choice(len(slots), size=n_late, replace=False).tolist())

        for track in tracks[: n_objects - n_late]:
            moving = not static and rng.random() < P_MOVING_AT_START
            if not self._place(track, 0.0, moving):
                return None
        reserved: dict[int, Event] = {}  # slot -> its planned collide event
        events: list[Event] = []
        for i, t in enumerate(slots):
            if i in reserved:
                event = reserved.pop(i)
            elif i in appear_slots:
                track = late.pop(0)
                if not self._place(track, t, moving=False):
                    return None
                event = Event(t, "appear", (track.id,))
            else:
                free = [j for j in range(i + 1, len(slots)) if j not in appear_slots and j not in reserved]
                planned = self._event_at(t, [(j, slots[j]) for j in free])
                if planned is None:
                    return None
                event, collision = planned
                if collision is not None:
                    reserved[collision[0]] = collision[1]
            events.append(event)
        return [self._scene_object(track) for track in self.tracks], events, cut_times

    def _event_at(self, t: float, later: list[tuple[int, float]]) -> tuple[Event, tuple[int, Event] | None] | None:
        """An event at ``t`` (and, for an aimed start, the collision it plans at a later slot)."""
        rng = self.rng
        free = [tr for tr in self.tracks if tr.free_at(t)]
        still = [tr for tr in free if tr.velocity_at(t) == (0.0, 0.0)]
        moving = [tr for tr in free if tr.velocity_at(t) != (0.0, 0.0)]
        recolourable = [tr for tr in self.tracks if tr.visible_at(t) and self._new_colours(tr)]
        possible = {
            "start_moving": bool(still), "stop": bool(moving), "change_colour": bool(recolourable),
            "disappear": len(free) >= 2, "collide": bool(still) and len(free) >= 2 and bool(later),
        }
        kinds = [k for k, ok in possible.items() if ok]
        if not kinds:
            return None
        weights = np.array([KIND_WEIGHTS[k] for k in kinds])
        for k in rng.choice(len(kinds), size=len(kinds), replace=False, p=weights / weights.sum()):
            kind = kinds[k]
            if kind == "change_colour":
                track = recolourable[rng.integers(len(recolourable))]
                options = self._new_colours(track)
                new = options[rng.integers(len(options))]
                old = track.colours[-1][1]
                track.colours.append((t, new))
                self.used.add((new, track.shape))
                return Event(t, kind, (track.id,), {"from": old, "to": new}), None
            if kind == "disappear":
                track = free[rng.integers(len(free))]
                track.disappear = t
                return Event(t, kind, (track.id,)), None
            if kind == "stop":
                for _ in range(TRIES):
                    track = moving[rng.integers(len(moving))]
                    if self._try_control(track, (t, 0.0, 0.0)):
                        return Event(t, kind, (track.id,)), None
            if kind == "start_moving":
                for _ in range(TRIES):
                    track = still[rng.integers(len(still))]
                    velocity = self._random_velocity(track, *self._position(track, t))
                    if velocity is not None and self._try_control(track, (t, *velocity)):
                        return Event(t, kind, (track.id,), {"direction": _direction(*velocity)}), None
            if kind == "collide":
                planned = self._plan_collision(t, still, free, later)
                if planned is not None:
                    return planned
        return None

    def _plan_collision(self, t: float, still: list[_Track], free: list[_Track],
                        later: list[tuple[int, float]]) -> tuple[Event, tuple[int, Event]] | None:
        """Aim a still object at another still one so that they touch at a later slot."""
        rng = self.rng
        pairs = [(a, b) for a in still for b in free if b is not a and b.velocity_at(t) == (0.0, 0.0)]
        for p in rng.permutation(len(pairs))[: 2 * TRIES]:
            a, b = pairs[p]
            for k in rng.permutation(min(len(later), 3)):
                slot, t_hit = later[k]
                aim = self._aim(a, b, t, t_hit - t)
                if aim is None:
                    continue
                vx, vy, ox, oy = aim
                pair = (min(a.id, b.id), max(a.id, b.id))
                self.planned.setdefault(pair, []).append((t, t_hit))
                if self._try_control(a, (t, vx, vy), (t_hit, ox, oy)):
                    a.locked_until = b.locked_until = t_hit
                    start = Event(t, "start_moving", (a.id,), {"direction": _direction(vx, vy)})
                    return start, (slot, Event(t_hit, "collide", (a.id, b.id)))
                self.planned[pair].pop()
        return None

    def _aim(self, a: _Track, b: _Track, t: float,
             travel_time: float) -> tuple[float, float, float, float] | None:
        """Velocities (normalised) before and after ``a`` starts from rest at ``t``, touches still
        ``b`` after ``travel_time`` seconds slightly off-centre and bounces off it; None if that
        motion would be diagonal, too slow or too fast, or would touch a border."""
        w, h = self.width, self.height
        reach = (a.size + b.size) * h
        (ax, ay), (bx, by) = self._position(a, t), self._position(b, t)
        dx, dy = (bx - ax) * w, (by - ay) * h  # pixels
        dist = math.hypot(dx, dy)
        if dist - reach < CONTACT_MARGIN:
            return None
        offset = float(self.rng.uniform(-0.5, 0.5)) * reach  # B's centre from A's line of motion
        heading = math.atan2(dy, dx) - math.asin(offset / dist)
        ux, uy = math.cos(heading), math.sin(heading)
        along = dx * ux + dy * uy
        travel = along - math.sqrt(reach * reach - offset * offset)  # pixels to the contact
        angle = math.atan2(abs(uy), abs(ux))
        speed = travel / travel_time
        if min(angle, math.pi / 2 - angle) > MAX_ANGLE or not (
                AIM_SPEED_RANGE[0] <= speed / h <= AIM_SPEED_RANGE[1]):
            return None
        hx, hy = ax + ux * travel / w, ay + uy * travel / h
        rx, ry = a.size * h / w, a.size
        if not (rx + 1e-6 < hx < 1 - rx - 1e-6 and ry + 1e-6 < hy < 1 - ry - 1e-6):
            return None
        nx, ny = (bx - hx) * w / reach, (by - hy) * h / reach  # contact normal, towards b
        dot = ux * nx + uy * ny
        ox, oy = ux - 2 * dot * nx, uy - 2 * dot * ny  # outgoing: reflected off b
        vx, vy = ux * speed / w, uy * speed / h
        if _direction(vx, vy) != _direction(ux, uy):  # the named direction must be the visible one
            return None
        return vx, vy, ox * speed / w, oy * speed / h

    def _random_velocity(self, track: _Track, x: float, y: float) -> tuple[float, float] | None:
        """A velocity (normalised) within `MAX_ANGLE` of a direction that, from ``(x, y)``, has room
        for at least `EVENT_GAP` seconds of motion before a border."""
        rng, w, h = self.rng, self.width, self.height
        speed = float(rng.uniform(*SPEED_RANGE)) * h  # pixels per second
        r = track.size * h
        x, y = x * w, y * h
        room = {"left": x - r, "right": w - r - x, "up": y - r, "down": h - r - y}
        options = [d for d in DIRECTIONS if room[d] >= speed * EVENT_GAP]
        if not options:
            return None
        direction = options[rng.integers(len(options))]
        base = {"right": 0.0, "down": math.pi / 2, "left": math.pi, "up": -math.pi / 2}[direction]
        angle = base + float(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
        vx, vy = math.cos(angle) * speed / w, math.sin(angle) * speed / h
        return (vx, vy) if _direction(vx, vy) == direction else None

    def _size(self, bounds: tuple[float, float]) -> float:
        """A random radius (fraction of the frame height) that is a whole number of quarter pixels,
        so that scenes of one frame size share their shape masks."""
        quarters = round(float(self.rng.uniform(*bounds)) * self.height * 4)
        return quarters / 4 / self.height

    def _new_colours(self, track: _Track) -> list[str]:
        return [c for c in COLOURS if (c, track.shape) not in self.used and self.allowed(c, track.shape)]

    # ------------------------------------------------------------------ needle_scene

    def needle_attempt(self, first: int, last: int, fps: float,
                       needle_duration: float) -> tuple[list[SceneObject], list[Event]] | None:
        rng, h = self.rng, self.height
        self.tracks, self.planned = [], {}
        n = int(rng.integers(2, 4))
        colours = rng.permutation(list(COLOURS))[: n + 1].tolist()
        shapes = rng.permutation(list(SHAPES))[: n + 1].tolist()
        for k in range(n):
            track = _Track(k, shapes[k], self._size(SIZE_RANGE), [(0.0, colours[k])])
            speed = float(rng.uniform(*CALM_SPEED_RANGE)) * h / self.width
            track.controls = [(0.0, speed if rng.random() < 0.5 else -speed, 0.0)]
            if not self._place(track, 0.0, moving=False):
                return None
        t0 = int(rng.integers(first, last + 1)) / fps
        needle = _Track(n, shapes[n], self._size(NEEDLE_SIZE_RANGE), [(t0, colours[n])],
                        appear=t0, disappear=t0 + needle_duration)
        if not self._place(needle, t0, moving=False):
            return None
        events = [Event(t0, "appear", (n,)), Event(needle.disappear, "disappear", (n,))]
        return [self._scene_object(track) for track in self.tracks], events

    # ------------------------------------------------------------------ motion and contacts

    def _place(self, track: _Track, t: float, moving: bool) -> bool:
        """Put ``track`` at a random spot from ``t`` on (with a random velocity if ``moving``)
        where it never touches another object; False if no spot is found."""
        rng, w, h = self.rng, self.width, self.height
        rx, ry = track.size * h / w, track.size
        track.appear = t
        track.colours[0] = (t, track.colours[0][1])
        self.tracks.append(track)
        controls = list(track.controls)
        for _ in range(4 * TRIES):
            track.x, track.y = float(rng.uniform(rx, 1 - rx)), float(rng.uniform(ry, 1 - ry))
            track.controls = list(controls)
            if moving:
                velocity = self._random_velocity(track, track.x, track.y)
                if velocity is None:
                    continue
                track.controls = [(t, *velocity)]
            if self._clear():
                return True
        self.tracks.remove(track)
        return False

    def _try_control(self, track: _Track, *controls: tuple[float, float, float]) -> bool:
        """Add velocity changes to ``track`` if no unplanned contact follows; say whether it did."""
        before = list(track.controls)
        track.controls = sorted([*before, *controls])
        if self._clear():
            return True
        track.controls = before
        return False

    def _clear(self) -> bool:
        """No two objects ever come closer than `CONTACT_MARGIN` pixels, except planned
        collisions, which touch exactly once."""
        w, h = self.width, self.height
        paths = {tr.id: self._segments(tr) for tr in self.tracks}
        for a, b in combinations(self.tracks, 2):
            reach = (a.size + b.size) * h
            plans = self.planned.get((min(a.id, b.id), max(a.id, b.id)), [])
            for start, end, sa, sb in _pieces(paths[a.id], paths[b.id]):
                touching = any((t0 - EPS <= start and end <= t1 + EPS) or abs(start - t1) < EPS for t0, t1 in plans)
                if _min_distance(sa, sb, start, end, w, h) < (reach - 1e-6 if touching else reach + CONTACT_MARGIN):
                    return False
        return True

    def _position(self, track: _Track, t: float) -> tuple[float, float]:
        segments = self._segments(track)
        return next((s for s in segments if s.start <= t < s.end), segments[-1]).position(t)

    def _segments(self, track: _Track) -> list[Segment]:
        """Straight segments covering ``[appear, disappear)`` (the scene's end for objects that
        stay), velocities set by the controls and reflected at the borders."""
        rx, ry = track.size * self.height / self.width, track.size
        end_of_life = min(track.disappear, self.duration)
        t, x, y, vx, vy = track.appear, track.x, track.y, 0.0, 0.0
        pending = iter(track.controls)
        control = next(pending, None)
        segments: list[Segment] = []
        while t < end_of_life:
            while control is not None and control[0] <= t + EPS:
                _, vx, vy = control
                control = next(pending, None)
            until = end_of_life if control is None else min(end_of_life, control[0])
            hit_x, hit_y = _time_to_wall(x, vx, rx), _time_to_wall(y, vy, ry)
            hit = min(hit_x, hit_y)
            end = min(until, t + hit)
            if end > t:
                segments.append(Segment(t, end, x, y, vx, vy))
                x, y = x + vx * (end - t), y + vy * (end - t)
            if t + hit <= until:  # reached a border: reflect off it
                if hit_x <= hit_y:
                    x, vx = (1 - rx if vx > 0 else rx), -vx
                if hit_y <= hit_x:
                    y, vy = (1 - ry if vy > 0 else ry), -vy
            t = max(t, end)
        return segments

    def _scene_object(self, track: _Track) -> SceneObject:
        disappear = min(track.disappear, self.duration)
        return SceneObject(id=track.id, shape=track.shape, size=track.size, appear=track.appear,
                           disappear=disappear, colours=list(track.colours), motion=self._segments(track))


def _allow_all(colour: str, shape: str) -> bool:
    return True


def _slot_capacity(duration: float) -> int:
    """How many times `EVENT_GAP` apart fit inside the edges."""
    span = duration - 2 * EVENT_EDGE
    return 0 if span < 0 else math.floor(span / EVENT_GAP + EPS) + 1


def _spaced_times(rng: np.random.Generator, count: int, lo: float, hi: float, gap: float) -> np.ndarray:
    """``count`` sorted uniform times in ``[lo, hi]``, consecutive ones at least ``gap`` apart."""
    slack = (hi - lo) - (count - 1) * gap
    return lo + np.sort(rng.uniform(0.0, max(slack, 0.0), count)) + gap * np.arange(count)


def _direction(vx: float, vy: float) -> str:
    direction = Segment(0.0, 0.0, 0.0, 0.0, vx, vy).direction
    assert direction is not None
    return direction


def _time_to_wall(p: float, v: float, r: float) -> float:
    """Seconds until a coordinate ``p`` moving at ``v`` reaches ``r`` or ``1 - r``."""
    if v > 0:
        return max(0.0, (1 - r - p) / v)
    if v < 0:
        return max(0.0, (p - r) / -v)
    return math.inf


def _pieces(a: list[Segment], b: list[Segment]) -> Iterator[tuple[float, float, Segment, Segment]]:
    """The time intervals where both objects exist, each with the segment each one is on."""
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if start < end:
            yield start, end, a[i], b[j]
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1


def _min_distance(a: Segment, b: Segment, start: float, end: float, width: int, height: int) -> float:
    """Smallest centre distance in pixels between two linear motions over ``[start, end]``."""
    (ax, ay), (bx, by) = a.position(start), b.position(start)
    px, py = (ax - bx) * width, (ay - by) * height
    ux, uy = (a.vx - b.vx) * width, (a.vy - b.vy) * height
    speed2 = ux * ux + uy * uy
    s = 0.0 if speed2 == 0 else min(max(-(px * ux + py * uy) / speed2, 0.0), end - start)
    return math.hypot(px + ux * s, py + uy * s)


def _background_shots(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    """One texture per shot, each a different kind and brightness band from the one before."""
    shots: list[dict[str, Any]] = []
    kinds = ("gradient", "checker", "noise")
    dark = bool(rng.random() < 0.5)
    kind = ""
    for _ in range(count):
        choices = [k for k in kinds if k != kind]
        kind = choices[rng.integers(len(choices))]
        lo, hi = (15, 55) if dark else (65, 110)  # well below every object colour's strongest channel
        spec: dict[str, Any] = {"kind": kind, "colours": rng.integers(lo, hi + 1, size=(2, 3)).tolist()}
        if kind == "gradient":
            spec["angle"] = float(rng.uniform(0.0, 360.0))
        elif kind == "checker":
            spec["cell"] = int(rng.integers(8, 17))
        else:
            spec["seed"] = int(rng.integers(2**31))
            spec["cell"] = int(rng.integers(6, 17))
        shots.append(spec)
        dark = not dark
    return shots


def _face_spec(rng: np.random.Generator, width: int, height: int) -> dict[str, Any]:
    """A face-like oval: centre (normalised), height (fraction of the frame height), skin colour."""
    face_h = float(rng.uniform(0.55, 0.75))
    half_w = 0.39 * face_h * height / width  # the oval is 0.78 as wide as it is tall
    return {
        "x": float(rng.uniform(half_w + 0.02, 1 - half_w - 0.02)),
        "y": float(rng.uniform(face_h / 2 + 0.02, 1 - face_h / 2 - 0.02)),
        "height": face_h,
        "skin": list(SKIN_TONES[rng.integers(len(SKIN_TONES))]),
    }


def _text_overlay(rng: np.random.Generator, width: int, height: int, coverage: float) -> dict[str, Any]:
    """Lines of random words whose boxes cover about ``coverage`` of the frame.

    Returns ``{"text", "lines": [{"text", "x", "y"}], "font_size", "boxes": [[x0, y0, x1, y1]],
    "coverage"}``: pixel positions (the renderer draws each line at ``(x, y)``), each line's box,
    and the measured coverage (the boxes' union over the frame area).
    """
    font_size = max(8, round(TEXT_HEIGHT * height))
    font = text_font(font_size)
    margin, line_h = 2, font_size + 4
    target = coverage * width * height

    def box_of(words: list[str]) -> tuple[int, int, int, int]:
        return font.getbbox(" ".join(words), stroke_width=1)

    def area_of(words: list[str]) -> int:
        x0, y0, x1, y1 = box_of(words)
        return (x1 - x0) * (y1 - y0)

    rows = max(1, (height - 2 * margin) // line_h)
    needed = min(rows, math.ceil(target / ((width - 2 * margin) * line_h)))
    first_row = int(rng.integers(0, rows - needed + 1))
    lines: list[dict[str, Any]] = []
    boxes: list[list[int]] = []
    area = 0
    for row in range(first_row, first_row + rows):
        if area >= target:
            break
        words: list[str] = []
        while True:  # add words while the line fits and gets the total closer to the target
            longer = [*words, str(WORDS[rng.integers(len(WORDS))])]
            x0, _, x1, _ = box_of(longer)
            if x1 - x0 > width - 2 * margin:
                break
            if words and area + area_of(longer) - target > target - area - area_of(words):
                break
            words = longer
            if area + area_of(words) >= target:
                break
        if not words:
            break
        x0, y0, x1, y1 = box_of(words)
        x = int(rng.integers(margin, max(margin, width - margin - (x1 - x0)) + 1)) - x0
        y = margin + (row % rows) * line_h - y0
        lines.append({"text": " ".join(words), "x": x, "y": y})
        boxes.append([x + x0, y + y0, min(width, x + x1), min(height, y + y1)])
        area += (boxes[-1][2] - boxes[-1][0]) * (boxes[-1][3] - boxes[-1][1])
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0):y1, max(0, x0):x1] = True
    return {"text": "\n".join(line["text"] for line in lines), "lines": lines, "font_size": font_size,
            "boxes": boxes, "coverage": float(mask.mean())}
