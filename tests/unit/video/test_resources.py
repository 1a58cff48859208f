"""The video layer stays light and leaks nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kangaroo.video import FrameSampling, VideoError, load_video, probe

from video_fixtures import write_indexed


def test_importing_the_video_layer_does_not_import_torch():
    code = "import sys, kangaroo, kangaroo.video; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_files_are_closed_after_success_and_failure(tmp_path):
    good = write_indexed(tmp_path / "good.mp4", 30, fps=10)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(good.read_bytes()[:200])
    load_video(good, FrameSampling(num_frames=2))  # warm up lazily opened library handles
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        load_video(good, FrameSampling(num_frames=3))
        probe(good)
        with pytest.raises(VideoError):
            load_video(bad, FrameSampling(num_frames=3))
    assert len(os.listdir("/proc/self/fd")) <= before
