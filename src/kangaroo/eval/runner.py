"""Run one task on one backend: frames -> prompt -> reply -> score, appended as each batch finishes.

Layout under ``out_dir``::

    <task>/frames_<N>/manifest.json          model, task, prompt, sampling, extraction, versions
                                             (N: the most frames a clip gets, FrameSampling.most_frames)
    <task>/frames_<N>/predictions.jsonl      one result per sample (``.shard-I-of-K`` when sharded)
    <task>/frames_<N>/metrics.json           aggregated, once every shard is complete
    <task>/frames_<N>-<control>/...          the same with a video control (blank, shuffled)

Resumable: a rerun reads what is there (a torn last line is dropped), skips finished samples
and retries only backend failures. Sharded: shard ``I`` of ``K`` takes every K-th sample; the
shard that completes last merges all of them (torchrun sets ``RANK``/``WORLD_SIZE``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kangaroo.io import atomic_write_json, flush_to_disk

from .backends.base import Backend, GenerationRequest
from .formats import find_data_root, read_samples
from .prompting import render_prompt
from .samples import EvalSample
from .scoring import aggregate, score_reply
from .task import TaskConfig
from .video_control import apply_video_control, check_control

if TYPE_CHECKING:
    from kangaroo.video.sampling import FrameSampling

ProgressCallback = Callable[[int, int], None]
EXTRACTION_RULES = {
    "choice": {"strict": "kangaroo.eval.strict_choice: the reply's first word, without brackets and "
                         "punctuation, is an option letter (the official MVBench / Video-MME rule), or the "
                         "reply ends with the one letter it names in brackets ('<option text> (B)')",
               "lenient": "kangaroo.eval.extract_choice: what strict reads, else answer cues, verdicts, other "
                          "cues, bracketed letters, bare letters in short replies, then the option's text; "
                          "None when no option or several are named"},
    "keywords": {"lenient": "kangaroo.eval.keyword_recall: the share of the reference answer's keywords (the "
                            "world's colours, shapes, directions, numbers) the reply names; correct when it "
                            "names all of them"},
    "seconds": {"lenient": "kangaroo.eval.extract_seconds: the first time or span in seconds; correct when "
                           "within 1 s of the truth (span: mean error of both ends)"},
}


class EvalSettingsError(ValueError):
    """Results already in the output folder were made with other settings (model, prompt, ...)."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: every ``count``-th sample starting at ``index``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"bad shard {self.index}/{self.count}: need 0 <= index < count")

    @classmethod
    def from_env(cls) -> Shard:
        """From torchrun's ``RANK`` and ``WORLD_SIZE`` (one shard when unset)."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))

    @property
    def suffix(self) -> str:
        return "" if self.count == 1 else f".shard-{self.index}-of-{self.count}"


@dataclass
class TaskRun:
    """Where one task's results live and what they were made with."""

    task: TaskConfig
    folder: Path
    sampling: FrameSampling  # the task's, with --frames applied
    prompt_name: str
    video_control: str | None = None  # blank | shuffled: every sample's video replaced
    follow_up: str | None = None  # each question asked after this one and the model's own reply

    @property
    def frames(self) -> int:
        """The most frames a clip gets (the ``N`` of ``frames_<N>``)."""
        frames = self.sampling.most_frames
        assert frames is not None  # a TaskConfig's frames are bounded, and with_frames keeps them so
        return frames

    @property
    def metrics_path(self) -> Path:
        return self.folder / "metrics.json"

    def predictions_path(self, shard: Shard) -> Path:
        return self.folder / f"predictions{shard.suffix}.jsonl"

    def done_marker(self, shard: Shard) -> Path:
        return self.folder / f".complete{shard.suffix}"


def run_task(
    backend: Backend,
    task: TaskConfig,
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    frames: int | None = None,
    prompt: str | None = None,
    limit: int | None = None,
    shard: Shard | None = None,
    progress: ProgressCallback | None = None,
    video_control: str | None = None,
    follow_up: str | None = None,
) -> dict[str, Any] | None:
    """Evaluate ``backend`` on ``task``; returns the merged metrics, or None while other shards
    are unfinished. ``data_dir`` is the benchmark's folder or a folder above it (`find_data_root`;
    the manifest records the folder used). ``frames`` replaces the task's frame count (`FrameSampling.with_frames`: the
    count of uniform sampling, the cap of fps and dynamic sampling). ``video_control`` (``blank`` or
    ``shuffled``, see `kangaroo.eval.video_control`) replaces every sample's video; its results go to
    their own folder. ``follow_up`` (a question, e.g. "What happens in the video?") asks each
    question as the second turn of a conversation about its video, after ``follow_up`` and the
    model's own reply to it (results in their own folder, ``-followup``). Raises
    `BenchmarkDataError` for unreadable annotations, `VideoControlError` for a control that cannot
    apply, and `EvalSettingsError` when ``out_dir`` holds results made with other settings or
    ``follow_up`` is blank."""
    shard = shard or Shard()
    sampling = task.frames if frames is None else task.frames.with_frames(int(frames))
    prompt_name = prompt or task.prompt
    prompt_spec = task.prompt_variant(prompt_name)
    if follow_up is not None and not follow_up.strip():
        raise EvalSettingsError("the follow-up's first question is empty")
    suffix = ("" if video_control is None else f"-{check_control(video_control)}") + ("-followup" if follow_up else "")
    run = TaskRun(task, Path(out_dir) / task.name / f"frames_{sampling.most_frames}{suffix}", sampling, prompt_name,
                  video_control, follow_up)
    data_dir = find_data_root(task.format, data_dir, task.data)
    samples = _select(read_samples(task.format, data_dir, task.data, task.subtitles), limit)
    if video_control is not None:
        samples = apply_video_control(samples, video_control, Path(out_dir) / ".video-control")
    manifest = _manifest(backend, run, data_dir, limit, len(samples), shard.count)
    _claim_folder(run, manifest)

    mine = samples[shard.index :: shard.count]
    loader = _RecentVideos(backend, sampling)
    path = run.predictions_path(shard)
    finished = _finished_results(path)
    pending = [s for s in mine if s.id not in finished]
    done = len(mine) - len(pending)
    if progress is not None:
        progress(done, len(mine))
    run.done_marker(shard).unlink(missing_ok=True)
    with path.open("a", encoding="utf-8", newline="\n") as out:
        for batch in _batches(pending, backend.batch_size):
            for result in _run_batch(backend, loader, task, prompt_spec, run.frames, batch, follow_up):
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
            flush_to_disk(out)
            done += len(batch)
            if progress is not None:
                progress(done, len(mine))
    atomic_write_json(run.done_marker(shard), {"samples": len(mine)}, indent=None)
    return merge_shards(run, samples, shard.count)


def _select(samples: list[EvalSample], limit: int | None) -> list[EvalSample]:
    if limit is None:
        return samples
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return samples[:limit]


def _batches(samples: Sequence[EvalSample], size: int) -> Iterator[list[EvalSample]]:
    for start in range(0, len(samples), size):
        yield list(samples[start : start + size])


class _RecentVideos:
    """``backend.load_video`` with the last few clips kept: benchmarks ask several questions about
    one video in a row (Video-MME: 3), which then decode once."""

    def __init__(self, backend: Backend, sampling: FrameSampling, keep: int = 8) -> None:
        self.backend, self.sampling, self.keep = backend, sampling, keep
        self._recent: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    def load(self, sample: EvalSample) -> tuple[Any, Any]:
        key = sample.clip
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        loaded = self.backend.load_video(sample, self.sampling)
        self._recent[key] = loaded
        if len(self._recent) > self.keep:
            self._recent.popitem(last=False)
        return loaded


def _run_batch(backend: Backend, loader: _RecentVideos, task: TaskConfig, prompt_spec: Any, frames: int,
               batch: list[EvalSample], follow_up: str | None = None) -> list[dict[str, Any]]:
    """Results for a batch, in order: loading errors and backend errors are results too. With
    ``follow_up``, the model first answers it about each clip (once per clip), and each question
    follows that exchange."""
    from kangaroo.video import VideoError

    results: dict[str, dict[str, Any]] = {}
    requests: list[GenerationRequest] = []
    for sample in batch:
        base = _base_result(sample, frames)
        if sample.error is not None:
            results[sample.id] = {**base, "status": "error", "error_kind": "data", "error": sample.error}
            continue
        try:
            video, timestamps = loader.load(sample)
        except (VideoError, OSError, ValueError) as exc:
            results[sample.id] = {**base, "status": "error", "error_kind": "video",
                                  "error": f"{type(exc).__name__}: {exc}"}
            continue
        rendered = render_prompt(prompt_spec, sample, timestamps)
        results[sample.id] = {**base, "timestamps": [round(float(t), 3) for t in timestamps]}
        requests.append(GenerationRequest(sample, video, rendered.system, rendered.user,
                                          rendered.assistant_prefix, task.max_new_tokens))
    if requests:
        try:
            if follow_up:
                _open_conversations(backend, requests, follow_up)
                for request in requests:
                    (question, reply), = request.history
                    results[request.sample.id]["follow_up"] = {"user": question, "reply": reply}
            replies = backend.generate(requests)
        except Exception as exc:  # one failed batch (an endpoint down, out of memory) must not end the run
            for request in requests:
                results[request.sample.id].update(status="error", error_kind="backend",
                                                  error=f"{type(exc).__name__}: {exc}")
        else:
            for request, reply in zip(requests, replies, strict=True):
                results[request.sample.id].update(
                    status="ok", prefix=request.assistant_prefix, reply=reply,
                    **score_reply(task.scoring, request.sample, reply))
    return [results[s.id] for s in batch]


FOLLOW_UP_TOKENS = 64  # budget of the model's reply to the conversation's first question


def _open_conversations(backend: Backend, requests: list[GenerationRequest], first: str) -> None:
    """Ask ``first`` about each request's clip (once per clip, as the task's system message
    says) and make that exchange the request's history."""
    openers: dict[tuple[Any, ...], GenerationRequest] = {}
    for request in requests:
        openers.setdefault((*request.sample.clip, request.system),
                           GenerationRequest(request.sample, request.video, request.system, first,
                                             max_new_tokens=FOLLOW_UP_TOKENS))
    replies = dict(zip(openers, backend.generate(list(openers.values())), strict=True))
    for request in requests:
        request.history = ((first, replies[(*request.sample.clip, request.system)].strip()),)


def _base_result(sample: EvalSample, frames: int) -> dict[str, Any]:
    groups: dict[str, Any] = dict(sample.groups)
    if "categories" in sample.extra:  # a question in several categories (LVBench)
        groups["categories"] = list(sample.extra["categories"])
    return {"id": sample.id, "frames": frames, "answer": sample.answer, "options": sample.options,
            "groups": groups, "question": sample.question}


def _finished_results(path: Path) -> dict[str, dict[str, Any]]:
    """Results already written (a torn last line is cut off); backend failures are retried."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with path.open("r+b") as f:
            f.truncate(len(complete))
    finished = {}
    for line in complete.decode("utf-8").splitlines():
        if line.strip():
            result = json.loads(line)
            if result.get("error_kind") != "backend":
                finished[result["id"]] = result
    return finished


def read_results(run: TaskRun, shard_count: int) -> list[dict[str, Any]]:
    """Every shard's results, the last written result winning for a sample written twice."""
    results: dict[str, dict[str, Any]] = {}
    for index in range(shard_count):
        path = run.predictions_path(Shard(index, shard_count))
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    result = json.loads(line)
                    results[result["id"]] = result
    return list(results.values())


def merge_shards(run: TaskRun, samples: list[EvalSample], shard_count: int) -> dict[str, Any] | None:
    """Aggregate all shards into ``metrics.json`` once each has its completion marker; else None."""
    if not all(run.done_marker(Shard(i, shard_count)).exists() for i in range(shard_count)):
        return None
    by_id = {r["id"]: r for r in read_results(run, shard_count)}
    ordered = [by_id[s.id] for s in samples if s.id in by_id]
    task = run.task
    metrics = aggregate(ordered, task.scoring, task.average, task.average_over, task.report_groups)
    metrics.update(task=task.name, title=task.title, frames=run.frames, prompt=run.prompt_name,
                   scoring=task.scoring, video_control=run.video_control, follow_up=run.follow_up, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write_json(run.metrics_path, metrics)
    if task.submission:
        answers = {r["id"]: ord(r["lenient"]) - 65 for r in ordered if r.get("lenient")}
        atomic_write_json(run.folder / "submission.json", answers, indent=1)
    return metrics


def _manifest(backend: Backend, run: TaskRun, data_dir: Any, limit: int | None, count: int,
              shards: int) -> dict[str, Any]:
    import torch
    import transformers

    from kangaroo import __version__

    task = run.task
    source = Path(task.source)
    return {
        "model": {"name": backend.name, **backend.describe()},
        "task": {"name": task.name, "title": task.title, "format": task.format, "file": str(source),
                 "file_sha256": hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else None,
                 "data_dir": os.fspath(Path(data_dir).expanduser().resolve()), "data": task.data},
        "frames": run.frames, "sampling": run.sampling.to_dict(), "video_control": run.video_control,
        "follow_up": run.follow_up,
        "prompt": {"name": run.prompt_name, **vars(task.prompt_variant(run.prompt_name))},
        "generation": {"decoding": "greedy", "max_new_tokens": task.max_new_tokens},
        "extraction": EXTRACTION_RULES[task.scoring], "limit": limit, "samples": count, "shards": shards,
        "versions": {"kangaroo": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
    }


_SETTINGS = ("model", "task", "frames", "sampling", "video_control", "follow_up", "prompt", "generation", "limit",
             "shards")


def _claim_folder(run: TaskRun, manifest: dict[str, Any]) -> None:
    """Write the manifest, or check that the one there describes the same evaluation."""
    run.folder.mkdir(parents=True, exist_ok=True)
    path = run.folder / "manifest.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        changed = [k for k in _SETTINGS if _comparable(old.get(k), k) != _comparable(manifest.get(k), k)]
        if changed:
            raise EvalSettingsError(
                f"{run.folder} holds results made with other settings ({', '.join(changed)} differ); "
                "choose another --out, or delete the folder to start over")
        manifest["started"] = old.get("started")
    else:
        manifest["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write_json(path, manifest, default=str)


def _comparable(value: Any, key: str) -> Any:
    if key == "model" and isinstance(value, dict):  # where it ran does not change the answers
        return {k: v for k, v in value.items() if k not in ("device", "batch_size", "concurrency")}
    return json.loads(json.dumps(value, default=str))
