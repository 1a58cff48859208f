"""`kangaroo.io`: atomic writes land whole or not at all, leave no temporary files, survive
concurrent writers and killed processes, and follow the documented permissions and line ends."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kangaroo
from kangaroo.io import (
    PendingFile,
    atomic_directory,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    flush_to_disk,
    remove_directory,
    remove_stale_temporaries,
)

SRC = str(Path(kangaroo.__file__).resolve().parents[1])


class Interrupted(Exception):
    """Stands for anything that stops a writer midway."""


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _python(script: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env, **kwargs)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- content lands, nothing else is left ---------------------------------------------------------


def test_each_writer_lands_its_content_and_leaves_only_the_target(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "folder"  # missing parents are created
    assert atomic_write_bytes(folder / "a.bin", b"\x00\x01") == folder / "a.bin"
    atomic_write_text(folder / "b.txt", "héllo\n")
    atomic_write_text(folder / "c.txt", (f"line {i}\n" for i in range(3)))  # chunks, in turn
    atomic_write_json(folder / "d.json", {"z": 1, "a": [1, "é"]})
    assert atomic_write_jsonl(folder / "e.jsonl", [{"id": 1}, {"id": "二"}]) == 2
    with atomic_open(folder / "f.bin", "wb") as handle:
        handle.write(b"stream")
        handle.write(b"ed")
    with atomic_path(folder / "g.png") as tmp:  # keeps the suffix: PIL picks PNG from it
        from PIL import Image

        assert tmp.suffix == ".png" and tmp.parent == folder and tmp.name.startswith(".")
        Image.new("RGB", (4, 2), (255, 0, 0)).save(tmp)

    assert (folder / "a.bin").read_bytes() == b"\x00\x01"
    assert (folder / "b.txt").read_bytes() == "héllo\n".encode()
    assert (folder / "c.txt").read_text() == "line 0\nline 1\nline 2\n"
    assert (folder / "d.json").read_text(encoding="utf-8") == '{\n  "z": 1,\n  "a": [\n    1,\n    "é"\n  ]\n}\n'
    assert [json.loads(line) for line in (folder / "e.jsonl").read_text("utf-8").splitlines()] == [
        {"id": 1}, {"id": "二"}]
    assert (folder / "f.bin").read_bytes() == b"streamed"
    assert (folder / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _names(folder) == ["a.bin", "b.txt", "c.txt", "d.json", "e.jsonl", "f.bin", "g.png"]


def test_a_write_replaces_the_whole_old_content(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    atomic_write_text(path, "x" * 1000)
    atomic_write_json(path, [1])
    assert path.read_text() == "[\n  1\n]\n"
    assert _names(tmp_path) == ["state.json"]


# --- failures leave the old file ---------------------------------------------------------------------


def test_an_exception_mid_write_keeps_the_original_and_removes_the_temporary(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text("original\n")

    with pytest.raises(Interrupted), atomic_open(path) as handle:
        handle.write("half of the new con")
        handle.flush()
        raise Interrupted

    def rows():
        yield {"id": 1}
        raise Interrupted

    with pytest.raises(Interrupted):
        atomic_write_jsonl(path, rows())
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
        tmp.write_text("new")
        raise KeyboardInterrupt
    with pytest.raises(TypeError):
        atomic_write_json(path, {"when": object()})  # not JSON: refused before anything is written

    assert path.read_text() == "original\n"
    assert _names(tmp_path) == ["results.jsonl"]


def test_a_killed_writer_leaves_the_original_and_a_temporary_that_is_cleaned_later(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"old weights")
    writer = _python(f"""
        import time
        from kangaroo.io import atomic_open
        with atomic_open({str(path)!r}, "wb") as handle:
            handle.write(b"new weigh")
            handle.flush()
            print("writing", flush=True)
            time.sleep(120)
        """, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(30)
    assert path.read_bytes() == b"old weights"
    (leftover,) = [p for p in tmp_path.iterdir() if p != path]
    assert leftover.name.startswith(f".model.{writer.pid}-") and leftover.name.endswith(".tmp.bin")
    assert remove_stale_temporaries(tmp_path) == [leftover]  # its process is gone
    assert _names(tmp_path) == ["model.bin"]


def test_open_modes_other_than_a_whole_new_file_are_refused(tmp_path: Path) -> None:
    for mode in ("a", "r+", "x", "ab"):
        with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "f", mode):
            pass
    assert _names(tmp_path) == []


def test_pending_file_commits_or_discards(tmp_path: Path) -> None:
    kept = PendingFile(tmp_path / "kept.mp4")
    assert kept.path.exists() and kept.path.suffix == ".mp4"
    kept.path.write_bytes(b"video")
    assert kept.commit() == tmp_path / "kept.mp4"
    dropped = PendingFile(tmp_path / "dropped.mp4")
    dropped.path.write_bytes(b"half")
    dropped.discard()
    assert _names(tmp_path) == ["kept.mp4"] and (tmp_path / "kept.mp4").read_bytes() == b"video"


# --- concurrent writers ------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_writing_one_path_never_tear_it(tmp_path: Path) -> None:
    """Two processes replace one file over and over, with different sizes; a reader only ever
    sees one writer's whole content (a shared fixed temporary name fails this)."""
    path = tmp_path / "shared.bin"
    sizes = {b"a": 1 << 20, b"b": (1 << 19) + 7}
    atomic_write_bytes(path, b"x" * 100)
    wholes = {b"x" * 100} | {letter * size for letter, size in sizes.items()}
    writers = [_python(f"""
        from kangaroo.io import atomic_write_bytes
        for _ in range(60):
            atomic_write_bytes({str(path)!r}, {letter!r} * {size})
        """) for letter, size in sizes.items()]
    seen = set()
    while any(w.poll() is None for w in writers):
        content = path.read_bytes()
        assert content in wholes, f"torn read: {len(content)} bytes starting {content[:4]!r}"
        seen.add(content[:1])
    assert [w.wait() for w in writers] == [0, 0]
    assert path.read_bytes() in wholes and seen & {b"a", b"b"}
    assert _names(tmp_path) == ["shared.bin"]  # every temporary was renamed or removed


# --- permissions and line ends -----------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_files_get_the_umask_permissions_like_open(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = tmp_path / "out.txt"
        path.write_text("private")
        path.chmod(0o600)  # the replaced file's mode is not carried over (documented)
        atomic_write_text(path, "new")
        with atomic_directory(tmp_path / "folder") as folder:
            (folder / "f").write_text("x")
        with open(tmp_path / "plain.txt", "w") as handle:  # what open() gives a new file
            handle.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o750


def test_text_is_utf8_with_newlines_written_as_given(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "unix.txt", "a\nb\r\n")
    atomic_write_text(tmp_path / "crlf.txt", "a\nb\n", newline="\r\n")
    atomic_write_text(tmp_path / "latin.txt", "é", encoding="latin-1")
    assert (tmp_path / "unix.txt").read_bytes() == b"a\nb\r\n"  # no translation on any platform
    assert (tmp_path / "crlf.txt").read_bytes() == b"a\r\nb\r\n"
    assert (tmp_path / "latin.txt").read_bytes() == b"\xe9"


# --- folders -----------------------------------------------------------------------------------------


def test_atomic_directory_installs_replaces_and_keeps_the_old_one_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint-00000001"
    with atomic_directory(target) as folder:
        assert folder.parent == tmp_path and folder != target and not target.exists()
        (folder / "sub").mkdir()
        (folder / "sub" / "weights").write_bytes(b"v1")
    assert (target / "sub" / "weights").read_bytes() == b"v1"

    with pytest.raises(Interrupted), atomic_directory(target) as folder:
        (folder / "sub").mkdir()
        (folder / "sub" / "weights").write_bytes(b"v2 half")
        raise Interrupted
    assert (target / "sub" / "weights").read_bytes() == b"v1"
    assert _names(tmp_path) == ["checkpoint-00000001"]

    with atomic_directory(target) as folder:
        (folder / "weights").write_bytes(b"v2")
    assert _names(target) == ["weights"] and (target / "weights").read_bytes() == b"v2"
    assert _names(tmp_path) == ["checkpoint-00000001"]  # the replaced folder was deleted


def test_keep_existing_keeps_a_copy_another_process_installed(tmp_path: Path) -> None:
    target = tmp_path / "cache"
    with atomic_directory(target, keep_existing=lambda d: (d / "COMPLETE").exists()) as folder:
        (folder / "COMPLETE").write_text("mine")
        with atomic_directory(target) as theirs:  # another writer finishes first
            (theirs / "COMPLETE").write_text("theirs")
    assert (target / "COMPLETE").read_text() == "theirs" and _names(tmp_path) == ["cache"]
    with atomic_directory(target, keep_existing=lambda d: False) as folder:
        (folder / "COMPLETE").write_text("mine")
    assert (target / "COMPLETE").read_text() == "mine" and _names(tmp_path) == ["cache"]


def test_remove_directory_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "old" / "deep").mkdir(parents=True)
    (tmp_path / "old" / "deep" / "f").write_text("x")
    remove_directory(tmp_path / "old")
    assert _names(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        remove_directory(tmp_path / "old")


def test_stale_temporaries_are_those_of_dead_processes(tmp_path: Path) -> None:
    dead, live, me = _dead_pid(), os.getppid(), os.getpid()  # our parent is running
    stale_file = tmp_path / f".metrics.{dead}-0123abcd.tmp.json"
    stale_dir = tmp_path / f".checkpoint-00000005.{dead}-89abcdef.tmp"
    running = tmp_path / f".checkpoint-00000006.{live}-0123abcd.tmp"
    mine = tmp_path / f".checkpoint-00000007.{me}-0123abcd.tmp"
    lookalike = tmp_path / f".notes.{dead}.tmp"  # not one of ours: no random part
    stale_file.write_text("{")
    for folder in (stale_dir, running, mine):
        folder.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"par")
    lookalike.write_text("user file")

    only_checkpoints = remove_stale_temporaries(tmp_path, target=lambda name: name.startswith("checkpoint-"))
    assert only_checkpoints == [stale_dir]
    assert remove_stale_temporaries(tmp_path) == [stale_file]
    assert remove_stale_temporaries(tmp_path, this_process=True) == [mine]
    assert _names(tmp_path) == sorted([running.name, lookalike.name])


def test_flush_to_disk_makes_appended_lines_visible_to_readers(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"step": 1}\n')
        flush_to_disk(handle)
        assert path.read_text() == '{"step": 1}\n'  # before the handle is closed
