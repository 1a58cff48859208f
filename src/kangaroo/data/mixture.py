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
opened without it. The same YAML, files and seed give the same list. The file is read with
`kangaroo.config`: one `MixtureError` names the file and every bad dataset and key.
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

from kangaroo.config import ConfigError, from_dict, read_yaml

from .records import Record, read_records

ALIASES = {"json_path": "path", "sampling_strategy": "sampling"}  # LLaVA-NeXT's names
_SAMPLING_RE = re.compile(r"^(first|end|random):(\d+(?:\.\d+)?)(%?)$")


class MixtureError(ConfigError):
    """A mixture YAML that cannot be used (names the file, and each bad dataset and key)."""


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
class DatasetEntry:
    """One entry of ``datasets`` as written (``json_path`` and ``sampling_strategy`` are read as
    ``path`` and ``sampling``)."""

    path: str  # the records file, relative to the YAML file's folder
    root: str | None = None  # where its video paths point (default: the records file's folder)
    sampling: str = "all"  # all | first:N | end:N | random:N, N a count or a percentage
    weight: float = 1.0  # 2 = every sampled record twice, 0.5 = a random half
    name: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.path:
            problems.append("'path' must name the records file")
        if self.root is not None and not self.root:
            problems.append("'root' must be a folder path")
        try:
            parse_sampling(self.sampling)
        except MixtureError as exc:
            problems += exc.errors
        if not math.isfinite(self.weight) or self.weight < 0:
            problems.append(f"'weight' must be a number >= 0, got {self.weight!r}")
        if problems:
            raise MixtureError(problems)


@dataclass(frozen=True)
class MixtureFile:
    """A mixture YAML file as written."""

    datasets: list[DatasetEntry]

    def __post_init__(self) -> None:
        if not self.datasets:
            raise MixtureError(["needs a non-empty 'datasets' list"])


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of ``datasets``: paths resolved against the YAML file's folder."""

    path: Path
    root: Path
    sampling: Sampling
    weight: float = 1.0
    name: str | None = None


def read_mixture(yaml_path: str | os.PathLike[str]) -> list[DatasetSpec]:
    """Parse and check a mixture YAML (files are not read). Raises `MixtureError`."""
    yaml_path = Path(yaml_path)
    data = read_yaml(yaml_path, error=MixtureError, what="mixture file")
    if not isinstance(data, Mapping) or not isinstance(data.get("datasets"), list):
        raise MixtureError("needs a non-empty 'datasets' list", yaml_path)
    data = {**data, "datasets": [_unaliased(entry) for entry in data["datasets"]]}
    mixture = from_dict(MixtureFile, data, source=yaml_path, error=MixtureError)
    base = yaml_path.parent
    return [DatasetSpec(path=base / entry.path, root=base / entry.root if entry.root is not None else
                        (base / entry.path).parent, sampling=parse_sampling(entry.sampling), weight=entry.weight,
                        name=entry.name) for entry in mixture.datasets]


def _unaliased(entry: Any) -> Any:
    """``entry`` with LLaVA-NeXT's key names replaced by ours (unless both are given)."""
    if not isinstance(entry, Mapping):
        return entry
    return {ALIASES[k] if k in ALIASES and ALIASES[k] not in entry else k: v for k, v in entry.items()}


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
