"""What a synthetic scene is: objects, their motion and colours over time, and its events.

Everything is exact and serialisable: positions are normalised to the frame (x to the right,
y downward, both in [0, 1]), times are seconds on the video's clock, and the events list is the
ground truth every task is derived from. `Scene.to_dict` / `Scene.from_dict` round-trip.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "ring")
SHAPE_NAMES_ZH: dict[str, str] = {
    "circle": "圆形", "square": "正方形", "triangle": "三角形", "diamond": "菱形", "star": "星形", "ring": "圆环",
}
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 90, 220), "yellow": (235, 200, 40),
    "purple": (150, 60, 200), "orange": (240, 130, 30), "white": (240, 240, 240), "cyan": (40, 200, 210),
}
COLOUR_NAMES_ZH: dict[str, str] = {
    "red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色",
    "purple": "紫色", "orange": "橙色", "white": "白色", "cyan": "青色",
}
EVENT_KINDS: tuple[str, ...] = ("appear", "disappear", "start_moving", "stop", "change_colour", "collide")
DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")


@dataclass(frozen=True)
class Segment:
    """Straight-line motion from ``(x, y)`` at ``start`` with velocity ``(vx, vy)`` (frames per
    second, normalised) until ``end``."""

    start: float
    end: float
    x: float
    y: float
    vx: float = 0.0
    vy: float = 0.0

    def position(self, t: float) -> tuple[float, float]:
        dt = min(max(t, self.start), self.end) - self.start
        return self.x + self.vx * dt, self.y + self.vy * dt

    @property
    def moving(self) -> bool:
        return self.vx != 0.0 or self.vy != 0.0

    @property
    def direction(self) -> str | None:
        """The dominant direction of motion, or None when still."""
        if not self.moving:
            return None
        if abs(self.vx) >= abs(self.vy):
            return "right" if self.vx > 0 else "left"
        return "down" if self.vy > 0 else "up"


@dataclass
class SceneObject:
    """One shape: visible during ``[appear, disappear)``, its colour changing at the times in
    ``colours`` (``(time, colour)``, the first at ``appear``), moving along ``motion`` (segments
    covering ``[appear, disappear)`` in order)."""

    id: int
    shape: str
    size: float  # radius as a fraction of the frame height
    appear: float
    disappear: float
    colours: list[tuple[float, str]]
    motion: list[Segment]

    def visible_at(self, t: float) -> bool:
        return self.appear <= t < self.disappear

    def colour_at(self, t: float) -> str:
        current = self.colours[0][1]
        for time, colour in self.colours:
            if time <= t:
                current = colour
        return current

    def segment_at(self, t: float) -> Segment:
        for segment in self.motion:
            if segment.start <= t < segment.end:
                return segment
        return self.motion[-1] if t >= self.motion[-1].end else self.motion[0]

    def position_at(self, t: float) -> tuple[float, float]:
        return self.segment_at(t).position(t)

    def name(self, t: float | None = None, language: str = "en") -> str:
        """``"red circle"`` / ``"红色圆形"`` (colour at ``t``, default the first colour)."""
        colour = self.colours[0][1] if t is None else self.colour_at(t)
        if language == "zh":
            return COLOUR_NAMES_ZH[colour] + SHAPE_NAMES_ZH[self.shape]
        return f"{colour} {self.shape}"


@dataclass(frozen=True)
class Event:
    """Something that happens at ``time``: ``kind`` in `EVENT_KINDS`, the objects involved, and
    details (``{"from": "red", "to": "blue"}`` for a colour change, ``{"direction": "left"}``
    for a start of motion, ...)."""

    time: float
    kind: str
    objects: tuple[int, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scene:
    """A whole synthetic video: its size and clock, background, objects, events and knobs.

    Knobs that exercise the curation filters: ``text_overlay`` (``{"text": ..., "coverage":
    fraction of the frame}``), ``static`` (near-static scene), ``cuts`` (times of hard scene cuts:
    the background and palette switch), ``face`` (draw a face-like pattern).
    """

    seed: int
    duration: float
    fps: float
    width: int
    height: int
    background: dict[str, Any]
    objects: list[SceneObject]
    events: list[Event]
    text_overlay: dict[str, Any] | None = None
    static: bool = False
    cuts: list[float] = field(default_factory=list)
    face: bool = False

    @property
    def num_frames(self) -> int:
        return max(1, math.ceil(self.duration * self.fps - 1e-9))

    def frame_times(self) -> list[float]:
        """Presentation time of every frame: ``i / fps``."""
        return [i / self.fps for i in range(self.num_frames)]

    def object(self, object_id: int) -> SceneObject:
        return next(o for o in self.objects if o.id == object_id)

    def visible_at(self, t: float) -> list[SceneObject]:
        return [o for o in self.objects if o.visible_at(t)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        objects = [
            SceneObject(**{**o, "colours": [tuple(c) for c in o["colours"]],
                           "motion": [Segment(**m) for m in o["motion"]]})
            for o in data["objects"]
        ]
        events = [Event(e["time"], e["kind"], tuple(e["objects"]), dict(e["details"])) for e in data["events"]]
        return cls(**{**data, "objects": objects, "events": events})
