"""Read the tensors of any checkpoint lazily: PyTorch ``.bin`` files and safetensors, sharded or not.

`open_weights(path)` takes a weights file, or a folder holding ``model.safetensors``,
``model.safetensors.index.json``, ``pytorch_model.bin``, ``pytorch_model.bin.index.json`` or
``adapter_model.*`` (PEFT), and returns a `WeightFiles`: key names, shapes and dtypes without
reading the weights, and each tensor on demand. ``.bin`` files load with
``torch.load(weights_only=True, mmap=True)``: the tensors stay in the file's pages (the OS page
cache), so converting a 16 GB checkpoint never holds a second copy of it in memory. Unreadable
files raise `WeightFilesError` naming the file and the cause.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

WEIGHT_FILE_NAMES = (  # what a folder is searched for, in this order
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)


class WeightFilesError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or of an unknown format."""


@dataclass
class WeightFiles:
    """The tensors of one checkpoint, read lazily (see the module docstring).

    files: the weight files, in the order their keys were read.
    """

    files: list[Path]
    _where: dict[str, Path] = field(default_factory=dict, repr=False)  # key -> the file holding it
    _stored: dict[str, str] = field(default_factory=dict, repr=False)  # key -> its name in the file, when renamed
    _bins: dict[Path, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)  # mmapped .bin files
    _handles: dict[Path, Any] = field(default_factory=dict, repr=False)  # open safetensors files

    def keys(self) -> list[str]:
        """Every tensor name, in file order."""
        return list(self._where)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def __len__(self) -> int:
        return len(self._where)

    def info(self, key: str) -> tuple[tuple[int, ...], str]:
        """``(shape, dtype name)`` of ``key`` without reading its data (dtype as torch names it: ``bfloat16``)."""
        path, stored = self._where[key], self._stored.get(key, key)
        if path in self._bins:
            tensor = self._bins[path][stored]
            return tuple(tensor.shape), str(tensor.dtype).removeprefix("torch.")
        piece = self._handles[path].get_slice(stored)
        return tuple(piece.get_shape()), _SAFETENSORS_DTYPES.get(piece.get_dtype(), piece.get_dtype())

    def tensor(self, key: str) -> torch.Tensor:
        """The tensor ``key`` (a view of the memory-mapped file for ``.bin``, read from disk for safetensors)."""
        path, stored = self._where[key], self._stored.get(key, key)
        if path in self._bins:
            return self._bins[path][stored]
        return self._handles[path].get_tensor(stored)

    def items(self) -> Iterator[tuple[str, tuple[tuple[int, ...], str]]]:
        """``(key, (shape, dtype))`` for every tensor, without reading the data."""
        for key in self._where:
            yield key, self.info(key)


def combine_weights(parts: dict[str, WeightFiles]) -> WeightFiles:
    """One `WeightFiles` over several checkpoints: key ``k`` of ``parts[name]`` becomes
    ``"{name}/k"`` (a model assembled from separate folders, as Video-CCAM's LLM, visual encoder,
    projector and adapters). Nothing is read again."""
    combined = WeightFiles(files=[f for part in parts.values() for f in part.files])
    for name, part in parts.items():
        combined._bins.update(part._bins)
        combined._handles.update(part._handles)
        for key, path in part._where.items():
            combined._where[f"{name}/{key}"] = path
            combined._stored[f"{name}/{key}"] = part._stored.get(key, key)
    return combined


_SAFETENSORS_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I64": "int64",
                       "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
                       "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def find_weight_file(folder: Path) -> Path | None:
    """The first of `WEIGHT_FILE_NAMES` in ``folder``, or None."""
    for name in WEIGHT_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def open_weights(path: str | os.PathLike[str]) -> WeightFiles:
    """The tensors of the checkpoint at ``path`` (a weights file, an index, or a folder).

    Raises `WeightFilesError` when nothing is found or a file cannot be read (truncated, corrupt,
    not a checkpoint), naming the file.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        found = find_weight_file(path)
        if found is None:
            raise WeightFilesError(f"{path}: no weights found (looked for {', '.join(WEIGHT_FILE_NAMES)})")
        path = found
    if not path.is_file():
        raise WeightFilesError(f"{path}: no such file")
    if path.name.endswith(".index.json"):
        try:
            weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightFilesError(f"{path}: not a readable shard index ({exc})") from None
        shards = list(dict.fromkeys(path.parent / name for name in weight_map.values()))
    else:
        shards = [path]
    weights = WeightFiles(files=shards)
    for shard in shards:
        for key in _read_keys(shard, weights):
            weights._where[key] = shard
    return weights


def _read_keys(path: Path, weights: WeightFiles) -> list[str]:
    if not path.is_file():
        raise WeightFilesError(f"{path}: missing (named by the shard index)")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            handle = safe_open(path, framework="pt")
            weights._handles[path] = handle
            return list(handle.keys())
        except Exception as exc:  # safetensors raises its own SafetensorError, or OSError
            raise WeightFilesError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a truncated zip, a pickle with code in it, an old non-zip file, ...
        raise WeightFilesError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt, or not saved by torch.save "
            f"in the zip format): {exc}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightFilesError(f"{path}: holds a {type(state).__name__}, not a flat dict of tensors (a state dict)")
    weights._bins[path] = state
    return list(state)


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    """The hex sha256 of a file, read in 4 MiB pieces."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
