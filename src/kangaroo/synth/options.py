"""`WorldOptions`: the knobs of the synthetic world a dataset is generated with.

One frozen value, the only place these options are declared and checked; the task driver
(`kangaroo.synth.tasks`), `generate_dataset`, the training recipe's ``data.synth`` entries
(``world: {...}``), the eval ``synth`` format and ``kangaroo synth`` all take it::

    WorldOptions(language="mixed", size=(64, 48), duration=4.0, cuts=1)
    WorldOptions.from_dict({"size": [64, 48], "text_overlay": 0.2}).to_dict()

Bad values raise `WorldOptionsError` (a ValueError) naming the option.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .language import LANGUAGE_CHOICES

MIN_SIDE = 16  # pixels: the smallest frame width / height
MAX_TEXT_COVERAGE = 0.8  # the largest fraction of the frame overlaid text may cover


class WorldOptionsError(ValueError):
    """A world option that cannot be used; ``option`` names it (``"size"``, ``"language"``, ...)."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        self.problem = problem
        super().__init__(f"{option}: {problem}")


@dataclass(frozen=True)
class WorldOptions:
    """How the scenes of a synthetic dataset look (every record of a dataset shares them)."""

    language: str = "en"  # en | zh | mixed (random per record; multi_round switches within a conversation)
    size: tuple[int, int] = (128, 96)  # frame (width, height) in pixels; videos need even sides (H.264)
    duration: float | None = None  # seconds per video (None: the task's; needle: 60-600 at random)
    fps: float | None = None  # video frame rate (None: the task's: 8, needle 2)
    text_overlay: float = 0.0  # fraction of the frame covered by overlaid words (0 to MAX_TEXT_COVERAGE)
    static: bool = False  # near-static scenes: nothing moves, no events
    cuts: int = 0  # hard scene cuts per video (background texture and palette switch)
    face: bool = False  # draw a face-like pattern behind the objects

    def __post_init__(self) -> None:
        if self.language not in LANGUAGE_CHOICES:
            raise WorldOptionsError("language", f"{self.language!r} is not one of {', '.join(LANGUAGE_CHOICES)}")
        size = self.size
        if not (isinstance(size, tuple | list) and len(size) == 2 and all(_is_int(v) and v >= MIN_SIDE for v in size)):
            raise WorldOptionsError("size", f"expected [width, height], each an integer >= {MIN_SIDE}, got {size!r}")
        object.__setattr__(self, "size", tuple(size))  # a list (YAML, JSON) becomes the tuple
        for name, unit in (("duration", "seconds"), ("fps", "frames per second")):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value > 0):
                raise WorldOptionsError(name, f"expected a positive number of {unit} or null, got {value!r}")
        if not (_is_number(self.text_overlay) and 0.0 <= self.text_overlay <= MAX_TEXT_COVERAGE):
            raise WorldOptionsError("text_overlay",
                                    f"expected a fraction in [0, {MAX_TEXT_COVERAGE}], got {self.text_overlay!r}")
        for name in ("static", "face"):
            if not isinstance(getattr(self, name), bool):
                raise WorldOptionsError(name, f"expected true or false, got {getattr(self, name)!r}")
        if not (_is_int(self.cuts) and self.cuts >= 0):
            raise WorldOptionsError("cuts", f"expected an integer >= 0, got {self.cuts!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON / YAML values (``size`` as a list); `from_dict` reads it back."""
        data = dataclasses.asdict(self)
        data["size"] = list(self.size)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorldOptions:
        """Options from a mapping of some of the fields (the rest keep their defaults); raises
        `WorldOptionsError` for an unknown key or a bad value."""
        if not isinstance(data, Mapping):
            raise WorldOptionsError("options", f"expected a mapping, got {data!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise WorldOptionsError(str(key), f"unknown option; the world has {', '.join(names)}")
        return cls(**data)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


DEFAULT_WORLD = WorldOptions()  # the options a call without ``world=`` uses
