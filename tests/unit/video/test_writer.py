"""`VideoWriter` writes atomically: the video appears whole when the writer closes, a failed write
leaves the previous file (or nothing) and no temporary file."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from kangaroo.video.writer import VideoWriter, write_video

FRAME = np.full((32, 48, 3), 90, np.uint8)


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_the_video_appears_only_when_the_writer_closes(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 48, 32, fps=10) as writer:
        for _ in range(5):
            writer.write(FRAME)
        assert not path.exists()  # frames go to a temporary file until then
    assert _frame_count(path) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_a_failed_write_keeps_the_previous_video_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", [FRAME] * 3, fps=10)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="uint8"), VideoWriter(path, 48, 32, fps=10) as writer:
        writer.write(FRAME)
        writer.write(FRAME.astype(np.float32))  # refused mid-video
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="at least one frame"):
        write_video(tmp_path / "empty.mp4", [], fps=10)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
