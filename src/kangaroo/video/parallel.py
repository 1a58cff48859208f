"""Decoding a load's targets with several decoders at once, one GOP at a time each.

A GOP (a keyframe and the frames up to the next one) decodes without the others, so the targets
of different GOPs can be decoded at the same time by separate decoders, each on its own open
container. PyAV releases the GIL while FFmpeg demuxes, decodes and scales, so plain threads run
in parallel, and each decoder still drops the non-reference frames no target needs. FFmpeg's
frame threading inside one decoder, where each frame waits for the frames it refers to, stays
the way when the targets lie in one GOP, there is no keyframe index, or the GOPs' work cannot be
shared out evenly.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
from collections.abc import Iterator

import av
import numpy as np

from .container import (
    DecodeCancelled,
    FrameSink,
    TargetDecoder,
    Timeline,
    indexed_keyframes,
    keyframe_seek_points,
    open_container,
    video_stream,
)

# FFmpeg's frame threading on n threads is taken to decode about this many times n as fast as one
# thread (an estimate, below linear: each frame waits for the rows it refers to).
FRAME_THREADING_GAIN = 0.75


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def target_runs(targets: np.ndarray, keyframes: np.ndarray | None, seek: str) -> list[tuple[int, int]]:
    """Split sorted target ticks into ``[start, stop)`` index runs that a decoder handles on its
    own: for ``exact`` the targets after the same keyframe, for ``keyframe`` the targets that share
    their nearest keyframe. Without a keyframe index, one run."""
    if keyframes is None or len(keyframes) == 0 or len(targets) == 0:
        return [(0, len(targets))]
    if seek == "keyframe":
        labels = keyframe_seek_points(targets, keyframes)
    else:
        labels = np.searchsorted(keyframes, targets, side="right")
    bounds = [0, *(np.flatnonzero(np.diff(labels)) + 1).tolist(), len(targets)]
    return list(itertools.pairwise(bounds))


def run_costs(targets: np.ndarray, runs: list[tuple[int, int]], keyframes: np.ndarray | None, seek: str,
              first_pts: int) -> list[float]:
    """Estimated work of each run: for ``exact`` the ticks from the keyframe before it to its last
    target (what a decoder runs through), for ``keyframe`` one keyframe each."""
    if seek == "keyframe" or keyframes is None or len(keyframes) == 0:
        return [1.0] * len(runs)
    starts = np.array([targets[a] for a, _ in runs])
    after = np.searchsorted(keyframes, starts, side="right")
    anchors = np.where(after > 0, keyframes[np.maximum(after - 1, 0)], first_pts)
    ends = np.array([targets[b - 1] for _, b in runs])
    return (np.maximum(ends - anchors, 0) + 1).astype(np.float64).tolist()


def makespan(costs: list[float], decoders: int) -> float:
    """How long ``decoders`` take when each takes the next run, in order, as soon as it is free."""
    free = [0.0] * decoders
    for cost in costs:
        heapq.heapreplace(free, free[0] + cost)
    return max(free)


def plan_threads(threads: int, costs: list[float], frame_threaded: bool) -> tuple[int, int]:
    """``(decoders, FFmpeg threads per decoder)`` for ``threads`` threads in all (0: one per
    available CPU) and independent runs of targets with estimated ``costs``.

    Several decoders when sharing the runs beats one decoder on all threads: with FFmpeg frame
    threading (``frame_threaded``) that one decodes about `FRAME_THREADING_GAIN` x n times as fast
    as one thread, so runs that cannot be shared out evenly (one long GOP and a short one) stay
    with it. One decoder keeps ``threads`` as asked (0 lets FFmpeg choose)."""
    total = threads or available_cpus()
    decoders = min(total, len(costs))
    if decoders <= 1:
        return 1, threads
    each = total // decoders
    gain = (lambda n: max(1.0, FRAME_THREADING_GAIN * n)) if frame_threaded else (lambda n: 1.0)
    shared = sum(costs) / makespan(costs, decoders) * gain(each)
    return (decoders, each) if shared >= gain(total) else (1, threads)


def decode_targets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    timeline: Timeline,
    path: str,
    deadline: float | None,
    threads: int,
    seek: str,
    targets: np.ndarray,
    sink: FrameSink,
) -> None:
    """Call ``sink(i, frame)`` for every sorted target tick ``targets[i]`` with its frame (the one
    shown for ``seek="exact"``, the nearest keyframe for ``"keyframe"``).

    With more than one thread and targets in several GOPs, the GOPs go to several decoders, each
    on its own thread and container (this one's included), so ``sink`` may be called from several
    threads at once, never twice for the same ``i``. The first error stops the other decoders and
    is raised.
    """
    keyframes = indexed_keyframes(stream, timeline.first_pts)
    runs = target_runs(targets, keyframes, seek)
    costs = run_costs(targets, runs, keyframes, seek, timeline.first_pts)
    decoders, each = plan_threads(threads, costs, frame_threaded=seek == "exact")
    if decoders == 1:
        decoder = TargetDecoder(container, stream, timeline, path, deadline, threads, keyframes)
        (decoder.decode_keyframes if seek == "keyframe" else decoder.decode_exact)(targets, sink)
        return

    cancel = threading.Event()
    lock = threading.Lock()
    pending = iter(runs)
    errors: list[BaseException] = []

    def work(decoder: TargetDecoder) -> None:
        decode = decoder.decode_keyframes if seek == "keyframe" else decoder.decode_exact
        while True:
            with lock:
                run = next(pending, None)
            if run is None:
                return
            start, stop = run
            decode(targets[start:stop], lambda j, frame, start=start: sink(start + j, frame))

    @contextlib.contextmanager
    def own_decoder() -> Iterator[TargetDecoder]:
        with open_container(path) as own:
            yield TargetDecoder(own, video_stream(own, path), timeline, path, deadline, each, keyframes, cancel)

    def guarded(decoder: contextlib.AbstractContextManager[TargetDecoder]) -> None:
        try:
            with decoder as d:
                work(d)
        except DecodeCancelled:
            pass
        except BaseException as exc:  # handed to the calling thread, which raises it
            errors.append(exc)
            cancel.set()

    helpers = [threading.Thread(target=guarded, args=(own_decoder(),), name=f"kangaroo-decode-{i + 1}", daemon=True)
               for i in range(decoders - 1)]
    for helper in helpers:
        helper.start()
    guarded(contextlib.nullcontext(TargetDecoder(container, stream, timeline, path, deadline, each, keyframes, cancel)))
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]
