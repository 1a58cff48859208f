"""Render a task's prompt for one sample, after its frames are sampled (subtitles are the lines
shown at the sampled frames' times)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .samples import EvalSample
from .task import Prompt

_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class RenderedPrompt:
    """The texts a backend receives: ``system``, ``user`` (after the video), ``assistant_prefix``."""

    system: str
    user: str
    assistant_prefix: str


def option_lines(prompt: Prompt, options: list[str]) -> str:
    """The options, one line each: ``"(A) red\\n(B) blue"`` with the default option format."""
    return "\n".join(prompt.option.format(letter=chr(65 + i), text=text) for i, text in enumerate(options))


def letters_phrase(count: int) -> str:
    """``"A, B, C or D"`` for 4 options."""
    letters = [chr(65 + i) for i in range(count)]
    return letters[0] if count == 1 else f"{', '.join(letters[:-1])} or {letters[-1]}"


def subtitle_text(sample: EvalSample, timestamps: np.ndarray, fallback: str) -> str:
    """The distinct subtitle lines shown at ``timestamps`` (markup tags removed), or ``fallback``."""
    if sample.subtitles is None:
        return fallback
    lines = [_TAG.sub("", line).strip() for line in sample.subtitles.to_prompt(timestamps).split("\n")]
    text = "\n".join(dict.fromkeys(line for line in lines if line))
    return text or fallback


def render_prompt(prompt: Prompt, sample: EvalSample, timestamps: np.ndarray) -> RenderedPrompt:
    """Fill the prompt's templates from ``sample`` and the sampled frames' ``timestamps`` (seconds)."""
    duration = sample.extra.get("duration")
    fields = {
        "question": sample.question,
        "options": option_lines(prompt, sample.options),
        "subtitles": subtitle_text(sample, timestamps, prompt.no_subtitles),
        "letters": letters_phrase(len(sample.options)) if sample.options else "",
        "duration": f"{float(duration):.0f}" if duration is not None else "",
    }
    return RenderedPrompt(prompt.system.format_map(fields), prompt.user.format_map(fields), prompt.assistant_prefix)
