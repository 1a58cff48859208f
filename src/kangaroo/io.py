"""Atomic file writes: a reader sees the old file or the whole new one, never a part of one.

Every writer in kangaroo goes through this module. A write goes to a temporary file in the
target's folder, is flushed and fsynced, renamed over the target (`os.replace`, atomic on POSIX
and Windows), and the folder is fsynced so the rename survives a power cut. Whatever goes wrong
before the rename (an exception in the writer, a full disk, Ctrl-C), the temporary file is
removed and the target keeps its old content.

- `atomic_write_bytes`, `atomic_write_text`, `atomic_write_json`, `atomic_write_jsonl`: whole files.
- `atomic_open(path, "w" | "wb")`: a handle for streaming writers (``torch.save``, JSONL, ...).
- `atomic_path(path)`: a temporary *name* for writers that open files themselves (PyAV, PIL,
  matplotlib, safetensors); it ends with the target's suffix, so format detection by suffix
  works. `PendingFile` is the same for a writer whose life is not one ``with`` block.
- `atomic_directory(path)`: a whole folder (checkpoints, exported models), renamed into place.
- `remove_directory(path)`: delete a folder so that a half-deleted one is never seen under its name.
- `flush_to_disk(handle)`: the flush + fsync of appending writers (JSONL logs written as they go).
- `remove_stale_temporaries(folder)`: the leftovers of writers that were killed.

Temporary names are ``.{stem}.{pid}-{8 hex}.tmp{suffix}`` beside the target: hidden, created
exclusively (so two processes or threads writing one path never share a temporary file),
carrying the writer's process id (so leftovers of dead processes can be found) and the target's
suffix. Concurrent writers of one path each write a whole file; the last rename wins.

Permissions: a new file gets what ``open(path, "w")`` gives a new file, ``0o666`` less the umask
(a folder ``0o777`` less the umask); the mode of a file it replaces is not carried over.
Text is UTF-8 with ``"\\n"`` line ends on every platform unless ``encoding`` / ``newline`` say
otherwise. Missing parent folders are created.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

PathLike = str | os.PathLike[str]

_MAX_STEM = 200  # keeps a temporary name within the usual 255-byte limit
_TEMPORARY = re.compile(r"\.(?P<stem>.*)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]*)?")
_INSTALL_TRIES = 5  # a folder renamed into place while other writers do the same


def _temporary_name(target: PathLike) -> Path:
    """A fresh temporary name beside ``target`` (see the module docstring); nothing is created."""
    target = Path(target)
    stem = target.stem[:_MAX_STEM]
    return target.with_name(f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}")


class PendingFile:
    """An empty temporary file beside ``target`` that becomes ``target`` on `commit` (fsync,
    rename, fsync of the folder) or disappears on `discard`.

    Write to ``path`` by name (it is already created, so open it with ``"w"`` / ``"wb"``).
    Use it where the write does not fit one ``with`` block (`kangaroo.video.VideoWriter`);
    elsewhere `atomic_path` / `atomic_open` call `commit` and `discard` for you.
    """

    def __init__(self, target: PathLike) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            self.path = _temporary_name(self.target)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            except FileExistsError:  # a name taken already (vanishingly rare): draw another
                continue
            os.close(fd)
            break

    def commit(self) -> Path:
        """Make the written file ``target``; returns ``target``."""
        _fsync_file(self.path)
        os.replace(self.path, self.target)
        _fsync_directory(self.target.parent)
        return self.target

    def discard(self) -> None:
        """Remove the temporary file (``target`` is left as it was)."""
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary file name to write ``path``'s new content to; committed when the block ends,
    discarded when it raises. The name ends with ``path``'s suffix::

        with atomic_path("plot.png") as tmp:
            figure.savefig(tmp)
    """
    pending = PendingFile(path)
    try:
        yield pending.path
        pending.commit()
    except BaseException:
        pending.discard()
        raise


@contextlib.contextmanager
def atomic_open(
    path: PathLike, mode: str = "w", *, encoding: str = "utf-8", newline: str | None = "\n"
) -> Iterator[IO[Any]]:
    """A handle whose content replaces ``path`` when the block ends (nothing changes when it raises).

    ``mode`` is ``"w"`` (text: ``encoding``, ``newline``) or ``"wb"`` (bytes)::

        with atomic_open(directory / "optimizer.pt", "wb") as handle:
            torch.save(state, handle)

    Raises ``ValueError`` for any other mode.
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open writes a whole new file: mode 'w' or 'wb', got {mode!r}")
    binary = "b" in mode
    pending = PendingFile(path)
    try:
        with (open(pending.path, "wb") if binary
              else open(pending.path, "w", encoding=encoding, newline=newline)) as handle:
            yield handle
            flush_to_disk(handle)
        pending.commit()
    except BaseException:
        pending.discard()
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Replace ``path`` with ``data``; returns the path."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(
    path: PathLike, text: str | Iterable[str], *, encoding: str = "utf-8", newline: str | None = "\n"
) -> Path:
    """Replace ``path`` with ``text``, a string or an iterable of chunks written in turn (an
    exception from the iterable leaves ``path`` as it was); returns the path."""
    with atomic_open(path, "w", encoding=encoding, newline=newline) as handle:
        if isinstance(text, str):
            handle.write(text)
        else:
            for chunk in text:
                handle.write(chunk)
    return Path(path)


def atomic_write_json(
    path: PathLike,
    value: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    ensure_ascii: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Replace ``path`` with ``value`` as JSON and a final newline; returns the path.

    Raises ``TypeError`` / ``ValueError`` (from `json.dumps`) before anything is written.
    """
    text = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=default)
    return atomic_write_text(path, text + "\n")


def atomic_write_jsonl(path: PathLike, rows: Iterable[Any]) -> int:
    """Replace ``path`` with one JSON value per line (UTF-8, not ASCII-escaped); returns the count."""
    count = 0

    def lines() -> Iterator[str]:
        nonlocal count
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
            count += 1

    atomic_write_text(path, lines())
    return count


def flush_to_disk(handle: IO[Any]) -> None:
    """Flush ``handle`` and fsync its file: what an appending writer calls after each batch, so a
    crash loses at most the batch being written (readers skip a torn last line)."""
    handle.flush()
    os.fsync(handle.fileno())


# --- folders ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_directory(path: PathLike, *, keep_existing: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; when the block ends every file and folder in it
    is fsynced and it is renamed to ``path`` (an existing ``path`` is first moved aside, then
    deleted). When the block raises, the temporary folder is deleted and ``path`` is left as it was.

    ``keep_existing(path)``: checked just before the rename; when it holds for the folder found at
    ``path`` (e.g. another process installed a complete copy meanwhile), that folder stays and
    the new one is deleted.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temporary_name(target)
        try:
            os.mkdir(tmp, 0o777)
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        _fsync_tree(tmp)
        _install_directory(tmp, target, keep_existing)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_directory(path: PathLike) -> None:
    """Delete the folder ``path``: renamed to a temporary name first (a crash mid-delete leaves a
    temporary, never a half-deleted folder under ``path``), then deleted.

    Raises ``FileNotFoundError`` when ``path`` does not exist.
    """
    target = Path(path)
    doomed = _temporary_name(target)
    os.rename(target, doomed)
    _fsync_directory(target.parent)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_stale_temporaries(
    folder: PathLike, *, this_process: bool = False, target: Callable[[str], bool] | None = None
) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` left by writers whose process no longer
    runs; returns them.

    target:       only temporaries written for a name this accepts (e.g. checkpoint names).
    this_process: also those with this process's id: for a folder only this process writes to,
                  where such a leftover is from an earlier process that had the same id (process
                  ids repeat, e.g. after a container restart).

    Process ids are of this machine: do not use it on a folder that processes on other machines
    write to.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        match = _TEMPORARY.fullmatch(path.name)
        if match is None:
            continue
        if target is not None and not target(match["stem"] + (match["suffix"] or "")):
            continue
        pid = int(match["pid"])
        mine = pid == os.getpid()
        if (mine and not this_process) or (not mine and _process_alive(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _install_directory(tmp: Path, target: Path, keep_existing: Callable[[Path], bool] | None) -> None:
    """Rename ``tmp`` to ``target``, moving what is there aside first; retried while other writers
    install theirs at the same moment (the last one wins, unless ``keep_existing`` keeps theirs)."""
    aside: list[Path] = []
    try:
        for _ in range(_INSTALL_TRIES):
            if keep_existing is not None and target.is_dir() and keep_existing(target):
                shutil.rmtree(tmp, ignore_errors=True)
                return
            if target.exists() or target.is_symlink():
                old = _temporary_name(target)
                with contextlib.suppress(FileNotFoundError):  # another writer moved it away first
                    os.rename(target, old)
                    aside.append(old)
            try:
                os.rename(tmp, target)
            except OSError as error:
                if error.errno in (errno.EEXIST, errno.ENOTEMPTY):  # another writer's folder came in between
                    continue
                raise
            _fsync_directory(target.parent)
            return
        raise FileExistsError(errno.EEXIST, "other writers keep replacing the folder", str(target))
    except BaseException:
        if aside and not target.exists():  # put the replaced folder back
            os.rename(aside.pop(0), target)
        raise
    finally:
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)


# --- fsync -----------------------------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY if os.name != "nt" else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """fsync a folder, so renames in it are durable (skipped where folders cannot be opened: Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(directory: Path) -> None:
    """fsync every file under ``directory``, then every folder, deepest first."""
    folders = [directory]
    for path in directory.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir():
            folders.append(path)
        else:
            _fsync_file(path)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        _fsync_directory(folder)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return False
    return True


__all__ = [
    "PendingFile",
    "atomic_directory",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "flush_to_disk",
    "remove_directory",
    "remove_stale_temporaries",
]
