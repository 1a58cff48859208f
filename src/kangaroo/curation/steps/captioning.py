"""Video caption generation (the paper's section III-C): frame captions, then an LLM summary.

For each clip ``[start, end)``:

1. the clip is divided into ``segments`` (5) equal segments and one random time is drawn inside
   each: ``t_i = start + (i + u_i) * (end - start) / segments`` with ``u_0, u_1, ...`` the
   successive ``rng.random()`` of ``rng = random.Random(f"{seed}:{record id}")``, so a rerun, or
   another shard order, picks the same frames;
2. the frame a player shows at each ``t_i`` is decoded (exact seek) and described by the frame
   captioner with the frame prompt of the clip's language;
3. one summarizer, drawn per clip with ``random.Random(f"{seed}:{record id}:summarizer").choice``
   among ``summarizers`` (the paper alternates two LLMs so that no single model's habits dominate
   the dataset), merges the frame captions, listed in time order with their times from the clip's
   start, into one video caption with the summary prompt of the language.

The record then holds ``messages`` (a describe-the-video instruction and the caption) and
``meta.captioning`` (``frame_times`` on the video's clock, ``shown_times`` (the decoded frames'
own timestamps), ``frame_captions``, ``frame_captioner``, ``summarizer``, ``language``), and
``meta.language``.

Failures never lose a record: a backend that fails for a clip (an endpoint still failing after its
retries, a torch error such as out of memory) drops it with reason ``caption_failed`` and the error
as detail, into the exclusion file, and the step goes on with the next clip; a run into a fresh
output directory tries those clips again. A configuration error (`CaptionerError`: a model that
cannot load, a text-only model as frame captioner) stops the run instead. An empty caption (or only empty frame captions) drops the clip with reason
``caption_empty``; a video that cannot be decoded is quarantined. Frame captions that are empty
are left out of the summary prompt (and kept, empty, in ``meta.captioning``).

Clips are captioned ``max_workers`` at a time (default: the frame captioner's ``concurrency``);
each captioner also bounds its own calls in flight. Records come out in input order, and the
executor's ``ctx`` is only called from the thread iterating the step.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..captioners import FrameCaptioner, Summarizer, make_captioner
from .base import COST_MODEL, Record, StepContext, set_measure

LANGUAGES = ("en", "zh", "auto")
FRAME_WINDOW = 2e-6  # seconds: a frame is decoded as the 1-frame clip [t, t + FRAME_WINDOW)

# Prompts per language. "summary" is formatted with {frames} (one "[1.2s] caption" line per frame,
# in time order), {count} (frames) and {duration} (the clip's length in seconds).
DEFAULT_PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "frame": ("Describe this image in detail: the setting, the people, animals and objects in it, "
                  "what they are doing, and any clearly visible text."),
        "summary": (
            "Below are descriptions of {count} frames taken in time order from a {duration:.1f}-second "
            "video; each starts with the frame's time from the start of the video.\n\n{frames}\n\n"
            "Write one coherent, detailed description of the whole video: the setting, the main people, "
            "animals or objects, what they do, and how things change over time. Merge details that repeat "
            "instead of describing the frames one by one, do not mention frames, images or timestamps, and "
            "do not add anything the descriptions do not support. Answer with the description only."
        ),
        "instruction": "Describe this video in detail.",
    },
    "zh": {
        "frame": "请详细描述这张图片的内容：场景、其中的人物、动物和物体、他们正在做什么，以及清晰可见的文字。",
        "summary": (
            "以下是按时间顺序从一段时长{duration:.1f}秒的视频中抽取的{count}帧画面的描述，"
            "每条开头是该帧距视频开始的时间。\n\n{frames}\n\n"
            "请把它们整合成一段连贯、详细的视频描述：场景、主要的人物、动物或物体、他们的动作，"
            "以及随时间发生的变化。合并重复的内容，不要逐帧罗列，不要提及帧、图片或时间戳，"
            "也不要添加描述中没有依据的内容。只输出视频描述。"
        ),
        "instruction": "请详细描述这段视频。",
    },
}
PROMPT_KEYS = ("frame", "summary", "instruction")

_CAPTIONERS: dict[tuple[int, str], Any] = {}  # (process, spec) -> captioner


def _backend_errors() -> tuple[type[BaseException], ...]:
    """What a backend raises when it fails for one clip (the clip is dropped, the run goes on):
    `EndpointError` (an endpoint refused the request or kept failing) and ``RuntimeError`` (torch:
    out of memory, ...). A `CaptionerError` (a model that cannot load, a text-only model asked to
    caption frames) is a configuration error, not a clip's: it stops the run."""
    from kangaroo.inference.openai_client import EndpointError

    return (EndpointError, RuntimeError)


@dataclass
class _Outcome:
    """What captioning one record gave, applied to the record by the iterating thread."""

    kind: str  # "kept" | "drop" | "quarantine"
    reason: str = ""
    detail: str = ""
    caption: str = ""
    instruction: str = ""
    captioning: dict[str, Any] = field(default_factory=dict)


class CaptioningStep:
    """Caption each clip from ``segments`` random frames and an LLM summary (see the module docstring).

    frame_captioner: a `FrameCaptioner` (`kangaroo.curation.captioners`), or a spec mapping for
                     `make_captioner` (``{"backend": "openai", "base_url": ..., "model": ...}``), as
                     a pipeline YAML gives it; identical specs share one captioner.
    summarizers:     one or more `Summarizer` (or specs); one is drawn per clip (seeded).
    segments:        frames per clip, one random frame per equal segment (the paper: 5).
    seed:            with the record id, fixes the frames and the summarizer of every clip.
    language:        ``en``, ``zh``, or ``auto`` (the record's ``meta.language``: ``zh`` gives
                     Chinese, anything else English).
    prompts:         overrides of `DEFAULT_PROMPTS`, e.g. ``{"en": {"summary": "..."}}``; keys
                     ``frame``, ``summary`` (with ``{frames}``; ``{count}``, ``{duration}`` optional)
                     and ``instruction`` (the user turn of the stored conversation).
    max_workers:     clips captioned at once (default: the frame captioner's ``concurrency``).
    """

    name = "captioning"
    cost = COST_MODEL

    def __init__(self, frame_captioner: FrameCaptioner | Mapping[str, Any],
                 summarizers: Sequence[Summarizer | Mapping[str, Any]] | Mapping[str, Any], segments: int = 5,
                 seed: int = 0, language: str = "en", prompts: Mapping[str, Mapping[str, str]] | None = None,
                 max_workers: int | None = None) -> None:
        def build(item: Any) -> Any:
            if not isinstance(item, Mapping):
                return item
            # identical specs share one captioner per process: its model loads once, not once per
            # shard (the executor builds the step again for every shard)
            key = (os.getpid(), json.dumps(item, sort_keys=True, default=str))
            if key not in _CAPTIONERS:
                _CAPTIONERS[key] = make_captioner(item)
            return _CAPTIONERS[key]

        frame_captioner = build(frame_captioner)
        if not callable(getattr(frame_captioner, "caption", None)):
            raise ValueError(f"frame_captioner must have caption(image, prompt), got {frame_captioner!r}")
        if isinstance(summarizers, Mapping) or not isinstance(summarizers, Sequence):
            summarizers = [summarizers]
        summarizers = [build(s) for s in summarizers]
        if not summarizers or not all(callable(getattr(s, "summarize", None)) for s in summarizers):
            raise ValueError("summarizers must be a non-empty list of objects with summarize(prompt)")
        if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
            raise ValueError(f"segments must be an integer >= 1, got {segments!r}")
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        if max_workers is None:
            max_workers = max(1, int(getattr(frame_captioner, "concurrency", 1)))
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
        self.frame_captioner, self.summarizers = frame_captioner, summarizers
        self.segments, self.seed, self.language, self.max_workers = segments, seed, language, max_workers
        self.prompts = _merge_prompts(prompts)

    # --- per clip ------------------------------------------------------------------------------

    def frame_times(self, record: Record, start: float, end: float) -> list[float]:
        """One seeded random time in each of the ``segments`` equal segments of ``[start, end)``."""
        rng = random.Random(f"{self.seed}:{record.get('id')}")
        width = (end - start) / self.segments
        last = math.nextafter(end, -math.inf) if end > start else start
        return [min(start + (i + rng.random()) * width, last) for i in range(self.segments)]

    def pick_summarizer(self, record: Record) -> Summarizer:
        """The clip's summarizer: a seeded draw among ``summarizers``."""
        return random.Random(f"{self.seed}:{record.get('id')}:summarizer").choice(self.summarizers)

    def language_of(self, record: Record) -> str:
        """``en`` or ``zh`` for this record."""
        if self.language != "auto":
            return self.language
        return "zh" if (record.get("meta") or {}).get("language") == "zh" else "en"

    def summary_prompt(self, language: str, times: Sequence[float], captions: Sequence[str], start: float,
                       end: float) -> str:
        """The summary prompt listing the non-empty frame captions in time order with their times."""
        lines = [f"[{t - start:.1f}s] {c}" for t, c in sorted(zip(times, captions, strict=True)) if c]
        return self.prompts[language]["summary"].format(frames="\n".join(lines), count=len(lines),
                                                        duration=max(end - start, 0.0))

    def _frame_captions(self, frames: list[Any], prompt: str) -> list[str]:
        """One caption per frame: in one batch when the captioner can (``caption_frames``)."""
        batched = getattr(self.frame_captioner, "caption_frames", None)
        if batched is not None:
            return list(batched(frames, prompt))
        return [self.frame_captioner.caption(frame, prompt) for frame in frames]

    def _caption(self, record: Record) -> _Outcome:
        from kangaroo.video import VideoError

        language = self.language_of(record)
        prompts = self.prompts[language]
        try:
            start, end = _clip_range(record)
            times = self.frame_times(record, start, end)
            frames, shown = zip(*(_frame_at(record["video"], t) for t in times), strict=True)
        except VideoError as exc:
            return _Outcome("quarantine", detail=f"{type(exc).__name__}: {exc}")
        summarizer = self.pick_summarizer(record)
        info: dict[str, Any] = {"frame_times": times, "shown_times": list(shown), "frame_captions": [],
                                "frame_captioner": _name(self.frame_captioner), "summarizer": _name(summarizer),
                                "language": language}
        try:
            info["frame_captions"] = [c.strip() for c in self._frame_captions(list(frames), prompts["frame"])]
            if not any(info["frame_captions"]):
                return _Outcome("drop", "caption_empty", "every frame caption is empty", captioning=info)
            prompt = self.summary_prompt(language, times, info["frame_captions"], start, end)
            caption = summarizer.summarize(prompt).strip()
        except _backend_errors() as exc:
            return _Outcome("drop", "caption_failed", f"{type(exc).__name__}: {exc}", captioning=info)
        if not caption:
            return _Outcome("drop", "caption_empty", f"{info['summarizer']} gave an empty summary", captioning=info)
        return _Outcome("kept", caption=caption, instruction=prompts["instruction"], captioning=info)

    # --- the step ------------------------------------------------------------------------------

    def run(self, records: Iterator[Record], ctx: StepContext) -> Iterator[Record]:
        pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="captioning")
        pending: deque[tuple[Record, Future[_Outcome]]] = deque()
        try:
            for record in records:
                pending.append((record, pool.submit(self._caption, record)))
                if len(pending) >= 2 * self.max_workers:
                    yield from self._apply(*pending.popleft(), ctx)
            while pending:
                yield from self._apply(*pending.popleft(), ctx)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _apply(self, record: Record, future: Future[_Outcome], ctx: StepContext) -> Iterator[Record]:
        outcome = future.result()
        if outcome.kind == "quarantine":
            ctx.quarantine(record, outcome.detail)
            return
        meta = record.setdefault("meta", {})
        meta["captioning"] = outcome.captioning
        if outcome.kind == "drop":
            ctx.drop(record, outcome.reason, None, detail=outcome.detail)
            return
        record["messages"] = [
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": outcome.instruction}]},
            {"role": "assistant", "content": outcome.caption},
        ]
        meta["language"] = outcome.captioning["language"]
        set_measure(record, "caption_chars", len(outcome.caption))
        ctx.measured("caption_chars", float(len(outcome.caption)))
        yield record


def _name(captioner: Any) -> str:
    return str(getattr(captioner, "name", type(captioner).__name__))


def _merge_prompts(prompts: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    merged = {lang: dict(texts) for lang, texts in DEFAULT_PROMPTS.items()}
    for lang, texts in (prompts or {}).items():
        if lang not in merged:
            raise ValueError(f"prompts: unknown language {lang!r}; use en or zh")
        unknown = sorted(set(texts) - set(PROMPT_KEYS))
        if unknown:
            raise ValueError(f"prompts[{lang!r}]: unknown key(s) {unknown}; known: {', '.join(PROMPT_KEYS)}")
        for key, text in texts.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"prompts[{lang!r}][{key!r}] must be a non-empty string")
            merged[lang][key] = text
    for lang, texts in merged.items():
        if "{frames}" not in texts["summary"]:
            raise ValueError(f"prompts[{lang!r}]['summary'] must contain {{frames}} (the frame captions)")
        try:
            texts["summary"].format(frames="", count=0, duration=0.0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"prompts[{lang!r}]['summary']: only {{frames}}, {{count}} and {{duration}} may be "
                             f"used (write {{{{ and }}}} for braces): {exc!r}") from None
    return merged


def _clip_range(record: Record) -> tuple[float, float]:
    """The record's clip bounds as seconds on the video's clock (the video's own ends when absent)."""
    from kangaroo.video import InvalidSamplingError, probe
    from kangaroo.video.sampling import resolve_bounds

    start, end = record.get("start"), record.get("end")
    duration = 0.0
    if start is None or end is None:
        info = probe(record["video"], scan=False)
        duration = info.duration if info.duration and info.duration > 0 else probe(record["video"]).duration
    else:
        duration = float(end)  # only checked against itself: the decoder checks the video's length
    try:
        return resolve_bounds(float(duration or 0.0), start, end)
    except ValueError as exc:
        raise InvalidSamplingError(record["video"], str(exc)) from None


def _frame_at(video: str, time: float) -> tuple[np.ndarray, float]:
    """The frame a player shows at ``time`` (uint8 ``(H, W, 3)``) and its own timestamp."""
    from kangaroo.video import FrameSampling, load_video

    clip = load_video(video, FrameSampling(num_frames=1), start=time, end=time + FRAME_WINDOW, seek="exact")
    return clip.frames[0], float(clip.timestamps[0])
