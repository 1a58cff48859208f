"""Synthetic world throughput: how many short clips per minute the world makes on a few CPU cores.

Each worker process samples scenes (``sample_scene(default_rng(seed))``, default knobs) and

- ``sample``:          only samples the scenes;
- ``sample+render``:   also renders every frame with ``render_frame`` (frames are dropped);
- ``sample+render+encode``: writes each clip with ``write_scene`` (H.264 MP4, crf 23) to a
  temporary folder, as dataset generation does.

Workers are started and warmed up (imports, caches of the first scene) before the clock starts;
the figure is wall-clock time over all clips.

    .venv/bin/python benchmarks/synth_speed.py                 # 200 clips of 4 s, 8 fps, 128x96, 2 processes
    .venv/bin/python benchmarks/synth_speed.py --clips 1000 --workers 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from kangaroo.synth.render import render_frame, write_scene
from kangaroo.synth.world import sample_scene

MODES = ("sample", "sample+render", "sample+render+encode")


def run_chunk(mode: str, seeds: list[int], duration: float, fps: float, size: tuple[int, int], out: str) -> int:
    """Make the clips of ``seeds`` in ``mode``; returns the number of frames made."""
    frames = 0
    for seed in seeds:
        scene = sample_scene(np.random.default_rng(seed), duration=duration, fps=fps, size=size)
        if mode == "sample+render":
            for t in scene.frame_times():
                render_frame(scene, t)
        elif mode == "sample+render+encode":
            write_scene(scene, Path(out) / f"{seed % 16}.mp4")
        frames += scene.num_frames
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--size", default="128x96", help="WIDTHxHEIGHT")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(f"{args.clips} clips of {args.duration:g} s at {args.fps:g} fps, {width}x{height}, {args.workers} processes")
    print(f"{'mode':<22} {'seconds':>8} {'clips/min':>10} {'frames/s':>9}")
    with tempfile.TemporaryDirectory() as out, ProcessPoolExecutor(args.workers) as pool:
        chunks = [list(range(w, args.clips, args.workers)) for w in range(args.workers)]
        warm = [[10**9 + w] for w in range(args.workers)]
        for mode in MODES:
            list(pool.map(run_chunk, [mode] * args.workers, warm, *_repeat(args, width, height, out)))
            start = time.perf_counter()
            frames = sum(pool.map(run_chunk, [mode] * args.workers, chunks, *_repeat(args, width, height, out)))
            elapsed = time.perf_counter() - start
            print(f"{mode:<22} {elapsed:8.2f} {args.clips / elapsed * 60:10.0f} {frames / elapsed:9.0f}")


def _repeat(args: argparse.Namespace, width: int, height: int, out: str) -> list[list[object]]:
    n = args.workers
    return [[args.duration] * n, [args.fps] * n, [(width, height)] * n, [out] * n]


if __name__ == "__main__":
    main()
