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


def test_decoding_a_video_loads_only_what_decoding_needs(tmp_path):
    """Every decoding process (a data loader worker, an isolated decode) pays for its imports in
    memory: Pillow, the subtitle reader, the writer and multiprocessing load only when used."""
    path = write_indexed(tmp_path / "v.mp4", 10, fps=10)
    heavy = ["PIL", "pysubs2", "charset_normalizer", "kangaroo.io", "multiprocessing", "torch"]
    code = (f"import sys; from kangaroo.video import FrameSampling, load_video, probe; "
            f"load_video({str(path)!r}, FrameSampling(num_frames=3), size=32); probe({str(path)!r}); "
            f"print([m for m in {heavy!r} if m in sys.modules]); "
            f"from kangaroo.video import Subtitles, VideoWriter, load_subtitles, write_video; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "ok"]


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
