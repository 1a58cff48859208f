"""Decode benchmark: kangaroo's video layer against decord at its best and as the seed systems use it.

Encodes a 3-minute and a 10-minute 1280x720 30 fps H.264 video shaped like a typical web video
(B-frames, 250-frame GOP, a few Mbit/s of moving texture), cached under ``--cache-dir``. Then it
samples 16, 64 and 160 frames at 448x448 with

- ``kangaroo exact``:    ``load_video(path, FrameSampling(num_frames=N), size=448, seek="exact")``;
- ``kangaroo keyframe``: the same with ``seek="keyframe"``;
- ``decord seed``:       what Kangaroo and Video-CCAM do: ``VideoReader(path, ctx=cpu(0),
  num_threads=T)``, segment-midpoint indices, ``get_batch(indices).asnumpy()`` at full resolution,
  then a PIL bicubic resize of each frame to 448x448;
- ``decord best``:       the baseline, decord at its best: ``VideoReader(path, ctx=cpu(0),
  num_threads=T, width=448, height=448)`` (decord resizes in its decoder), then ``get_batch``.

``--threads T`` is the thread count of every contender (kangaroo's ``threads=T`` too). Every
measurement runs in a fresh subprocess (so its peak RSS is its own), kangaroo and decord runs
alternate, each configuration runs ``--repeats`` times and the median is reported. Ratios are to
``decord best`` on the same video and frame count.

    .venv/bin/python benchmarks/decode.py              # table + PASS/MISS per target
    .venv/bin/python benchmarks/decode.py --markdown   # the same table as Markdown (docs/benchmarks.md)
    .venv/bin/python benchmarks/decode.py --videos 3min --threads 2   # the 3-minute video, 2 threads each

decord is a benchmark-only dependency: ``.venv/bin/pip install decord``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 30
SIZE = 448
VIDEOS: dict[str, int] = {"3min": 180, "10min": 600}  # name -> seconds
METHODS = ("kangaroo exact", "decord seed", "kangaroo keyframe", "decord best")  # alternating A/B order
BASELINE = "decord best"
# On the 160-frame case: (method, metric, highest allowed ratio to decord best, the ratio aimed at).
TARGETS = (("kangaroo exact", "time", 0.8, 0.65), ("kangaroo keyframe", "time", 0.1, None),
           ("kangaroo exact", "peak_mb", 0.5, None), ("kangaroo keyframe", "peak_mb", 0.5, None))
TARGET_FRAMES = 160
DECORD_MISSING = (
    "decord is not installed (it is a benchmark-only dependency, not a kangaroo requirement).\n"
    "Install it with:  .venv/bin/pip install decord\n"
    "(where no decord wheel exists for your Python/platform, try:  .venv/bin/pip install eva-decord)"
)
CACHE_VERSION = 2  # bump when the generated content changes


# ----------------------------------------------------------------------------- test videos


def _smooth_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Multi-octave value noise (blobs, mid detail, fine grain) as float32 ``(H, W, 3)`` around 0."""
    out = np.zeros((height, width, 3), np.float32)
    for cell, amplitude in ((160, 90.0), (40, 50.0), (10, 30.0), (2, 18.0)):
        grid = rng.random((height // cell + 2, width // cell + 2, 3), dtype=np.float32)
        layer = np.repeat(np.repeat(grid, cell, 0), cell, 1)[:height, :width]
        if cell > 2:  # box blur of the blocks (cumulative sums), so edges are soft
            for axis in (0, 1):
                c = np.cumsum(layer, axis)
                ahead = np.take(c, range(cell, c.shape[axis]), axis)
                layer = (ahead - np.take(c, range(c.shape[axis] - cell), axis)) / cell
                pad = [(0, 0)] * 3
                pad[axis] = (0, cell)
                layer = np.pad(layer, pad, mode="edge")
        out += (layer - 0.5) * amplitude
    return out


def render_frames(num_frames: int, seed: int = 0, grain: int = 4) -> Iterator[np.ndarray]:
    """Cheap but codec-unfriendly frames: two textured layers panning at different speeds and in
    different directions (so no single motion vector predicts a block), three moving patches and
    per-frame grain. The two half-brightness layers add up to 16..238, so the grain never wraps."""
    rng = np.random.default_rng(seed)
    # Each layer holds half the brightness, so their sum stays in range without clipping per frame.
    back = (np.clip(_smooth_noise(rng, 2 * HEIGHT, 2 * WIDTH) + 128, 16, 239) // 2).astype(np.uint8)
    front = (np.clip(_smooth_noise(rng, 2 * HEIGHT, 2 * WIDTH) + 128, 16, 239) // 2).astype(np.uint8)
    noise = [rng.integers(-grain, grain + 1, (HEIGHT, WIDTH, 3)).astype(np.uint8) for _ in range(7)]
    pw, ph = 200, 150
    for i in range(num_frames):
        t = i / FPS
        x1, y1 = int(t * 40) % WIDTH, int((np.sin(t * 0.3) * 0.5 + 0.5) * (HEIGHT - 1))
        x2, y2 = int((np.cos(t * 0.45) * 0.5 + 0.5) * (WIDTH - 1)), int(t * 25) % HEIGHT
        frame = back[y1 : y1 + HEIGHT, x1 : x1 + WIDTH] + front[y2 : y2 + HEIGHT, x2 : x2 + WIDTH]
        frame += noise[i % len(noise)]  # uint8 wrap-around: adds -grain..grain
        for k in range(3):
            px = int((np.sin(t * (0.7 + 0.3 * k) + k) * 0.5 + 0.5) * (WIDTH - pw))
            py = int((np.cos(t * (0.5 + 0.2 * k) + 2 * k) * 0.5 + 0.5) * (HEIGHT - ph))
            frame[py : py + ph, px : px + pw] = back[k * ph : (k + 1) * ph, 1000 + k * pw : 1000 + (k + 1) * pw] + 40 * k
        yield frame


def ensure_video(cache_dir: Path, name: str) -> Path:
    """The cached test video ``name``, encoded first if missing (written aside, then renamed)."""
    from kangaroo.video.writer import VideoWriter

    seconds = VIDEOS[name]
    path = cache_dir / f"web-{WIDTH}x{HEIGHT}-{FPS}fps-{name}-v{CACHE_VERSION}.mp4"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".part.mp4")
    total = seconds * FPS
    print(f"encoding {path.name} ({total} frames, once; cached afterwards) ...", flush=True)
    started = time.perf_counter()
    # Scene-cut detection off: the two layers moving apart look like a cut to x264 about once a
    # second, which would put a keyframe every ~40 frames instead of every 250.
    with VideoWriter(partial, WIDTH, HEIGHT, FPS, gop=250, bframes=3, crf=23,
                     options={"preset": "veryfast", "x264-params": "scenecut=0"}) as writer:
        for i, frame in enumerate(render_frames(total)):
            writer.write(frame)
            if (i + 1) % (30 * FPS) == 0:
                print(f"  {(i + 1) // FPS} / {seconds} s", flush=True)
    partial.rename(path)
    mbit = path.stat().st_size * 8 / seconds / 1e6
    print(f"  done in {time.perf_counter() - started:.0f} s, {mbit:.1f} Mbit/s", flush=True)
    return path


def describe_video(path: Path) -> str:
    """One line about a test video from its packets (nothing decoded): frames, bitrate, GOP."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = [p.is_keyframe for p in container.demux(stream) if p.size]
        seconds = float(stream.duration * stream.time_base) if stream.duration else len(keys) / FPS
    mbit = path.stat().st_size * 8 / seconds / 1e6
    return (f"{path.name}: {len(keys)} frames, {seconds:.0f} s, {mbit:.1f} Mbit/s, "
            f"{sum(keys)} keyframes (one every {len(keys) / max(1, sum(keys)):.0f} frames)")


# ----------------------------------------------------------------------------- one measurement (child)


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def seed_indices(total_frames: int, num_frames: int) -> np.ndarray:
    """Video-CCAM's ``uniform_indices``: midpoints of ``num_frames`` equal integer segments."""
    if num_frames >= total_frames:
        return np.arange(total_frames)
    splits = np.linspace(0, total_frames, num_frames + 1).astype(np.int64)
    return (splits[:-1] + splits[1:]) // 2


def _kangaroo_kwargs(load_video: object, threads: int) -> dict[str, object]:
    """Optional arguments the loader takes: threads as given, stretch to 448x448 like the decord runs."""
    params = inspect.signature(load_video).parameters  # type: ignore[arg-type]
    extra: dict[str, object] = {}
    for name in ("threads", "num_threads"):
        if name in params:
            extra[name] = threads
    if "aspect" in params:
        extra["aspect"] = "stretch"
    return extra


def run_child(spec: dict) -> dict:
    """Load one clip as ``spec`` says, in this (fresh) process; returns time, RSS and timestamps."""
    method, path, num_frames, threads = spec["method"], spec["path"], spec["frames"], spec["threads"]
    if method.startswith("kangaroo"):
        from kangaroo.video import FrameSampling, load_video

        extra = _kangaroo_kwargs(load_video, threads)
    else:
        from decord import VideoReader, cpu
        from PIL import Image
    rss_after_imports = _current_rss_mb()

    targets: np.ndarray | list = []
    started = time.perf_counter()
    if method.startswith("kangaroo"):
        clip = load_video(path, FrameSampling(num_frames=num_frames), size=SIZE, seek=method.split()[1], **extra)
        frames, timestamps, targets = clip.frames, clip.timestamps, clip.target_times
    elif method == "decord seed":
        reader = VideoReader(path, ctx=cpu(0), num_threads=threads)
        indices = seed_indices(len(reader), num_frames)
        batch = reader.get_batch(indices).asnumpy()
        frames = np.stack([np.asarray(Image.fromarray(f).resize((SIZE, SIZE), Image.BICUBIC)) for f in batch])
        timestamps = reader.get_frame_timestamp(indices)[:, 0]
    else:  # decord best: decord resizes in its decoder, on the run's threads
        reader = VideoReader(path, ctx=cpu(0), num_threads=threads, width=SIZE, height=SIZE)
        indices = seed_indices(len(reader), num_frames)
        frames = reader.get_batch(indices).asnumpy()
        timestamps = reader.get_frame_timestamp(indices)[:, 0]
    elapsed = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"time": elapsed, "peak_mb": peak_mb, "load_mb": peak_mb - rss_after_imports,
            "shape": list(frames.shape), "timestamps": [float(t) for t in timestamps],
            "targets": [float(t) for t in targets]}


def measure(method: str, path: Path, num_frames: int, threads: int) -> dict:
    """Run one measurement in a fresh interpreter; raises RuntimeError with its stderr on failure."""
    spec = {"method": method, "path": str(path), "frames": num_frames, "threads": threads}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} on {path.name}, {num_frames} frames failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- sanity check and report


def check_timestamps(path: Path, exact_run: dict) -> str | None:
    """Warn when kangaroo's exact frames are not the ones decord's frame timestamps say a player
    shows at kangaroo's targets (decord's times taken relative to its first frame)."""
    from decord import VideoReader, cpu

    reader = VideoReader(str(path), ctx=cpu(0), num_threads=1, width=64, height=64)
    starts = reader.get_frame_timestamp(np.arange(len(reader)))[:, 0].astype(np.float64)
    starts -= starts[0]
    targets, got = np.asarray(exact_run["targets"]), np.asarray(exact_run["timestamps"])
    shown = np.clip(np.searchsorted(starts, targets + 1e-6, side="right") - 1, 0, len(starts) - 1)
    diff = np.abs(got - starts[shown])
    bad = diff > 0.5 / FPS
    if len(got) != len(targets) or bad.any():
        worst = int(diff.argmax())
        return (f"WARNING {path.name}, {len(got)} frames: kangaroo exact timestamps differ from decord's "
                f"for {int(bad.sum())} of {len(targets)} targets (worst: target {targets[worst]:.3f} s, "
                f"kangaroo {got[worst]:.3f} s, decord {starts[shown[worst]]:.3f} s)")
    return None


@dataclass
class Row:
    video: str
    frames: int
    method: str
    time: float
    peak_mb: float
    load_mb: float
    time_ratio: float
    peak_ratio: float
    load_ratio: float


def summarize(results: dict[tuple[str, int, str], list[dict]]) -> list[Row]:
    """Median per configuration, and ratios to the baseline on the same video and count."""
    def median(key: tuple[str, int, str], metric: str) -> float:
        runs = results.get(key, [])
        return statistics.median(r[metric] for r in runs) if runs else float("nan")

    rows = []
    for video, frames, method in results:
        base = (video, frames, BASELINE)
        values = {m: median((video, frames, method), m) for m in ("time", "peak_mb", "load_mb")}
        ratios = {m: values[m] / median(base, m) for m in values}
        rows.append(Row(video, frames, method, values["time"], values["peak_mb"], values["load_mb"],
                        ratios["time"], ratios["peak_mb"], ratios["load_mb"]))
    return rows


def format_table(rows: list[Row], markdown: bool) -> str:
    header = ["video", "frames", "mode", "time (s)", "peak RSS (MB)", "load RSS (MB)",
              f"time / {BASELINE}", f"peak RSS / {BASELINE}", f"load RSS / {BASELINE}"]
    body = [[r.video, str(r.frames), r.method, f"{r.time:.2f}", f"{r.peak_mb:.0f}", f"{r.load_mb:.0f}",
             f"{r.time_ratio:.2f}x", f"{r.peak_ratio:.2f}x", f"{r.load_ratio:.2f}x"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:  # text columns left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join(line(cells) for cells in [header, *body])


def target_lines(rows: list[Row]) -> list[str]:
    by_key = {(r.video, r.frames, r.method): r for r in rows}
    lines = []
    for video in dict.fromkeys(r.video for r in rows):
        for method, metric, limit, aim in TARGETS:
            row = by_key.get((video, TARGET_FRAMES, method))
            if row is None:
                continue
            ratio = row.time_ratio if metric == "time" else row.peak_ratio
            verdict = "PASS" if ratio <= limit else "MISS"
            label = "time" if metric == "time" else "peak RSS"
            aimed = f", aim {aim}x" if aim is not None else ""
            lines.append(f"{verdict}  {video} {TARGET_FRAMES} frames, {method} {label}: "
                         f"{ratio:.2f}x {BASELINE} (target <= {limit}x{aimed})")
    return lines


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", default="3min,10min", help="comma-separated subset of: " + ", ".join(VIDEOS))
    parser.add_argument("--frames", default="16,64,160", help="comma-separated frame counts to sample")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration; the median is reported")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of every contender (decord num_threads, kangaroo threads); "
                             "Video-CCAM uses 1, 0 lets each library choose")
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).resolve().parent / ".cache",
                        help="where the generated test videos are kept between runs")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--generate-only", action="store_true", help="encode the test videos and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.videos = [v.strip() for v in args.videos.split(",") if v.strip()]
    unknown = [v for v in args.videos if v not in VIDEOS]
    if unknown:
        parser.error(f"unknown video(s) {', '.join(unknown)}; choose from {', '.join(VIDEOS)}")
    try:
        args.frames = [int(n) for n in args.frames.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--frames must be comma-separated integers, got {args.frames!r}")
    if args.repeats < 1 or args.threads < 0 or not args.frames or min(args.frames) < 1:
        parser.error("--repeats and --frames must be >= 1, --threads >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0

    paths = {name: ensure_video(args.cache_dir, name) for name in args.videos}
    if args.generate_only:
        return 0
    try:
        import decord
    except ImportError:
        print(DECORD_MISSING, file=sys.stderr)
        return 2
    for path in paths.values():  # read each file once so every run finds it in the page cache
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass

    header = [describe_video(path) for path in paths.values()]
    from kangaroo.video import load_video

    extra = ", ".join(f"{k}={v!r}" for k, v in _kangaroo_kwargs(load_video, args.threads).items())
    header.append(f"decord {decord.__version__}, {os.cpu_count()} CPUs, threads={args.threads}, "
                  f"repeats={args.repeats}, output {SIZE}x{SIZE}; kangaroo extra arguments: {extra or 'none'}")
    print("\n".join(header), file=sys.stderr)
    results: dict[tuple[str, int, str], list[dict]] = {}
    warnings: list[str] = []
    for name, path in paths.items():
        for num_frames in args.frames:
            for repeat in range(args.repeats):
                for method in METHODS:
                    key = (name, num_frames, method)
                    try:
                        run = measure(method, path, num_frames, args.threads)
                    except RuntimeError as error:
                        warnings.append(f"ERROR {error}")
                        print(warnings[-1], file=sys.stderr)
                        continue
                    results.setdefault(key, []).append(run)
                    print(f"  {name} {num_frames:>4} {method:<18} run {repeat + 1}: {run['time']:6.2f} s, "
                          f"peak {run['peak_mb']:5.0f} MB, load {run['load_mb']:5.0f} MB, "
                          f"shape {tuple(run['shape'])}", file=sys.stderr, flush=True)
            exact = results.get((name, num_frames, "kangaroo exact"))
            warning = check_timestamps(path, exact[0]) if exact else None
            if warning:
                warnings.append(warning)
                print(warning, file=sys.stderr)

    rows = summarize(results)
    print()
    for line in header:
        print(("- " if args.markdown else "") + line)
    print()
    print(format_table(rows, args.markdown))
    print()
    for line in target_lines(rows):
        print(("- " if args.markdown else "") + line)
    for warning in warnings:
        print(warning.splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
