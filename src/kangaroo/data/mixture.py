"""Data mixtures: several records files, each sampled and weighted, from one YAML file.

The YAML follows LLaVA-NeXT's data files (``json_path`` and ``sampling_strategy`` are accepted
as aliases of ``path`` and ``sampling``)::

    datasets:
      - path: captions.jsonl       # relative to the YAML file's folder
        root: videos/captions      # where its video paths point (default: the records file's folder)
        sampling: "first:1000"     # all | first:N | end:N | random:N, N a count or a percentage
        weight: 2                  # optional: 2 = every sampled record twice, 0.5 = a random half

``load_mixture(yaml_path, seed)`` returns the records, dataset after dataset (each in file
order), with their video and subtitle paths joined to their dataset's root so that they can be
opened without it. The same YAML, files and seed give the same list.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .records import Record, read_records

STRATEGIES = ("all", "first", "end", "random")
DATASET_KEYS = {"path", "json_path", "root", "sampling", "sampling_strategy", "weight", "name"}
_SAMPLING_RE = re.compile(r"^(first|end|random):(\d+(?:\.\d+)?)(%?)$")


class MixtureError(ValueError):
    """A mixture YAML that cannot be used (names the file, the dataset and the cause)."""


@dataclass(frozen=True)
class Sampling:
    """A parsed sampling strategy: ``strategy`` with a ``count`` or a ``percent`` (None for all)."""

    strategy: str
    count: int | None = None
    percent: float | None = None

    def size(self, total: int) -> int:
        """How many of ``total`` records this keeps (a percentage rounds up, as LLaVA-NeXT does)."""
        if self.strategy == "all":
            return total
        if self.percent is not None:
            return min(total, math.ceil(self.percent * total / 100))
        assert self.count is not None
        return min(total, self.count)

    def select(self, records: Sequence[Record], rng: random.Random) -> list[Record]:
        """The kept records, in file order (``random`` picks with ``rng``)."""
        k = self.size(len(records))
        if self.strategy in ("all", "first"):
            return list(records[:k])
        if self.strategy == "end":
            return list(records[len(records) - k :])
        return [records[i] for i in sorted(rng.sample(range(len(records)), k))]


def parse_sampling(text: object) -> Sampling:
    """``"all"``, ``"first:N"``, ``"end:N"``, ``"random:N"`` or any of them with ``N%``
    (0 < N <= 100). Raises `MixtureError` naming the accepted forms."""
    forms = "use all, first:N, end:N or random:N, where N is a count or a percentage such as 20%"
    if not isinstance(text, str):
        raise MixtureError(f"sampling must be a string, got {text!r}; {forms}")
    spec = text.strip()
    if spec == "all":
        return Sampling("all")
    match = _SAMPLING_RE.match(spec)
    if match is None:
        raise MixtureError(f"unknown sampling {text!r}; {forms}")
    strategy, number, percent = match.groups()
    if percent:
        value = float(number)
        if not 0 < value <= 100:
            raise MixtureError(f"sampling {text!r}: a percentage must be in (0, 100]")
        return Sampling(strategy, percent=value)
    if "." in number or int(number) <= 0:
        raise MixtureError(f"sampling {text!r}: the count must be a positive whole number")
    return Sampling(strategy, count=int(number))


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of ``datasets``: paths resolved against the YAML file's folder."""

    path: Path
    root: Path
    sampling: Sampling
    weight: float = 1.0
    name: str | None = None


def read_mixture(yaml_path: str | os.PathLike[str]) -> list[DatasetSpec]:
    """Parse and check a mixture YAML (files are not read). Raises `MixtureError` or `OSError`."""
    yaml_path = Path(yaml_path)
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MixtureError(f"{yaml_path}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("datasets"), list) or not data["datasets"]:
        raise MixtureError(f"{yaml_path}: needs a non-empty 'datasets' list")
    extra = [key for key in data if key != "datasets"]
    if extra:
        raise MixtureError(f"{yaml_path}: unknown key(s) {', '.join(map(repr, extra))}; only 'datasets'")
    base = yaml_path.parent
    return [_dataset(entry, i, base, yaml_path) for i, entry in enumerate(data["datasets"])]


def _dataset(entry: Any, index: int, base: Path, yaml_path: Path) -> DatasetSpec:
    where = f"{yaml_path}: datasets[{index}]"
    if not isinstance(entry, Mapping):
        raise MixtureError(f"{where} must be a mapping with 'path' and 'sampling'")
    unknown = [key for key in entry if key not in DATASET_KEYS]
    if unknown:
        raise MixtureError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; use {', '.join(sorted(DATASET_KEYS))}")
    raw_path = entry.get("path", entry.get("json_path"))
    if not isinstance(raw_path, str) or not raw_path:
        raise MixtureError(f"{where}: needs 'path' (the records file)")
    path = base / raw_path
    raw_root = entry.get("root")
    if raw_root is not None and (not isinstance(raw_root, str) or not raw_root):
        raise MixtureError(f"{where}: 'root' must be a folder path")
    root = base / raw_root if raw_root is not None else path.parent
    try:
        sampling = parse_sampling(entry.get("sampling", entry.get("sampling_strategy", "all")))
    except MixtureError as exc:
        raise MixtureError(f"{where}: {exc}") from None
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
        raise MixtureError(f"{where}: 'weight' must be a number >= 0, got {weight!r}")
    name = entry.get("name")
    return DatasetSpec(path=path, root=root, sampling=sampling, weight=float(weight), name=None if name is None else str(name))


def _weighted(records: list[Record], weight: float, rng: random.Random) -> list[Record]:
    """``floor(weight)`` copies of ``records`` plus a random ``weight - floor(weight)`` share."""
    whole = math.floor(weight)
    share = round((weight - whole) * len(records))
    extra = [records[i] for i in sorted(rng.sample(range(len(records)), share))]
    return records * whole + extra


def _rooted(record: Record, root: Path) -> Record:
    data = record.to_dict()
    if record.video is not None:
        data["video"] = str(root / record.video)
    if record.videos is not None:
        data["videos"] = [str(root / v) for v in record.videos]
    if record.subtitles is not None:
        data["subtitles"] = str(root / record.subtitles)
    return Record.from_dict(data)


def load_mixture(yaml_path: str | os.PathLike[str], seed: int = 0) -> list[Record]:
    """The records of a mixture (see the module docstring), deterministic given ``seed``.

    Each dataset has its own random stream (from the seed and its position), so editing one
    entry does not change what the others pick. Raises `MixtureError` for a bad YAML,
    `RecordError` for a bad records file, `OSError` for a missing one.
    """
    records: list[Record] = []
    for index, spec in enumerate(read_mixture(yaml_path)):
        rng = random.Random(f"kangaroo-mixture/{seed}/{index}")
        loaded = list(read_records(spec.path))
        chosen = spec.sampling.select(loaded, rng)
        chosen = _weighted(chosen, spec.weight, rng)
        records.extend(_rooted(record, spec.root) for record in chosen)
    return records
