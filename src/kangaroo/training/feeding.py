"""Feeding the loop: the training records, their order, their encoding, and micro-batches.

Records come from the recipe's records files, mixture and ``data.synth`` datasets (generated into
``<run_dir>/data/`` when missing); the processor samples their frames (``data.frames``). Epoch ``e``
visits the records in the order `distributed.shard_indices` gives for ``(run.seed, e)`` (this rank's
share); a step takes the next ``batch_size * grad_accum`` records from a `Position`, crossing into the
next epoch when one ends. `RecordEncoder` encodes them (inline or ahead of time in threads), each
record's randomness drawn from ``(seed, epoch, record)``; `micro_batches` pads or packs them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .recipe import Recipe, RecipeError


@dataclass
class TrainingRecord:
    """A record and the folder its video paths are relative to."""

    record: Any  # kangaroo.data.Record
    root: Path


def synth_dir(recipe: Recipe, spec: Any) -> Path:
    """Where a ``data.synth`` entry is generated: ``<run_dir>/<data.synth_dir>/{task}-{split}-{hash}``,
    the hash of the entry's settings, so that a changed entry gets a new dataset (and a later stage
    pointing ``synth_dir`` at an earlier stage's folder reuses the same entries' data)."""
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:10]
    return (recipe.output_dir / recipe.data.synth_dir).resolve() / f"{spec.task}-{spec.split}-{digest}"


def prepare_synth_data(recipe: Recipe, log: Callable[[str], None] | None = None) -> list[Path]:
    """Generate the recipe's ``data.synth`` datasets that do not exist yet; returns their JSONLs."""
    from kangaroo.synth.generate import dataset_path, generate_dataset

    paths = []
    for spec in recipe.data.synth:
        out = synth_dir(recipe, spec)
        path = dataset_path(out, spec.task, spec.split)
        if not path.is_file():  # written atomically when complete
            if log is not None:
                log(f"generating {spec.num} synthetic {spec.task} records into {out}")
            path = generate_dataset(spec.task, spec.num, spec.seed, out, split=spec.split, world=spec.world)
        paths.append(path)
    return paths


def load_training_records(recipe: Recipe, log: Callable[[str], None] | None = None) -> list[TrainingRecord]:
    """Every training record of the recipe, in a fixed order: records files, mixture, synth
    (generated first when missing)."""
    from kangaroo.data.mixture import load_mixture
    from kangaroo.data.records import read_records

    out: list[TrainingRecord] = []
    data = recipe.data
    for name in data.records:
        path = Path(name)
        root = Path(data.root) if data.root is not None else path.parent
        out += [TrainingRecord(r, root) for r in read_records(path)]
    if data.mixture is not None:
        out += [TrainingRecord(r, Path()) for r in load_mixture(data.mixture, seed=recipe.run.seed)]
    for path in prepare_synth_data(recipe, log):
        out += [TrainingRecord(r, path.parent) for r in read_records(path)]
    if not out:
        raise RecipeError(["data: no training records"])
    return out


@dataclass
class Position:
    """Where the data stream is: ``index`` records into epoch ``epoch``'s order."""

    epoch: int = 0
    index: int = 0


class DataStream:
    """Deterministic record order: `distributed.shard_indices` per epoch, micro-batches of
    ``batch_size`` records that cross epoch boundaries."""

    def __init__(self, num_records: int, *, seed: int, shuffle: bool, ctx: Any) -> None:
        self.num_records = num_records
        self.seed = seed
        self.shuffle = shuffle
        self.ctx = ctx
        self._orders: dict[int, list[int]] = {}

    def order(self, epoch: int) -> list[int]:
        from .distributed import shard_indices

        if epoch not in self._orders:
            self._orders = {epoch: shard_indices(self.num_records, self.ctx, seed=self.seed, epoch=epoch,
                                                 shuffle=self.shuffle)}
        return self._orders[epoch]

    @property
    def epoch_length(self) -> int:
        return len(self.order(0))

    def take(self, position: Position, count: int) -> tuple[list[tuple[int, int]], Position]:
        """``count`` ``(epoch, record index)`` pairs from ``position``, and the position after them."""
        out = []
        epoch, index = position.epoch, position.index
        for _ in range(count):
            order = self.order(epoch)
            if index >= len(order):
                epoch, index = epoch + 1, 0
                order = self.order(epoch)
            out.append((epoch, order[index]))
            index += 1
        return out, Position(epoch, index)


def pad_token_id(processor: Any) -> int:
    tokenizer = processor.tokenizer
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if value is not None:
            return int(value)
    return 0


class RecordEncoder:
    """Encodes the records of a step with ``processor`` (its `FrameSampling` picks each video's
    frames): inline, or ahead of time in ``workers`` threads (one task per record; each thread has
    its own copy of the processor, as tokenizers are not thread-safe)."""

    def __init__(self, recipe: Recipe, processor: Any, items: Sequence[TrainingRecord], workers: int,
                 visual_cache: Any = None) -> None:
        import threading

        self.recipe = recipe
        self.processor = processor
        self.items = items
        self.visual_cache = visual_cache  # a kangaroo.training.visual_cache.VisualTokenCache, or None
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") if workers > 0 else None
        self._local = threading.local()

    def __enter__(self) -> RecordEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, picks: list[tuple[int, int]], position: Position) -> tuple[EncodedRecords, Position]:
        if self.pool is None:
            return EncodedRecords([self._encode(epoch, index, self.processor) for epoch, index in picks]), position
        futures = [self.pool.submit(self._encode_in_thread, epoch, index) for epoch, index in picks]
        return EncodedRecords(futures), position

    def _encode_in_thread(self, epoch: int, index: int) -> tuple[Any, str | None, str]:
        processor = getattr(self._local, "processor", None)
        if processor is None:
            processor = self._local.processor = copy.deepcopy(self.processor)
        return self._encode(epoch, index, processor)

    def _encode(self, epoch: int, index: int, processor: Any) -> tuple[Any, str | None, str]:
        """``(example or None, skip reason, record id)``."""
        from .examples import ExampleError, encode_record

        item = self.items[index]
        rng = np.random.default_rng([self.recipe.run.seed, epoch, index])
        low, high = self.recipe.data.image_time_range
        cache = self.visual_cache
        cached = cache.get(index) if cache is not None else None
        try:
            example = encode_record(item.record, processor, item.root, rng=rng, image_time_range=(low, high),
                                    frame_counts=None if cached is None else cached.frame_counts)
        except ExampleError as exc:
            return None, str(exc), item.record.id
        if cache is not None and example.frame_counts:
            if cached is None:
                cached = cache.compute(example.pixel_values, example.timestamps, example.frame_counts)
                if not has_still_image(item):  # a still image gets a new random time at every visit
                    cache.put(index, cached)
            example = dataclasses.replace(example, pixel_values=None, timestamps=None, visual_tokens=cached.tokens)
        return example, None, item.record.id


def has_still_image(item: TrainingRecord) -> bool:
    """Whether one of the record's videos is a still image (given a random time at each visit)."""
    from kangaroo.data.records import video_paths
    from kangaroo.video.stills import IMAGE_SUFFIXES

    return any(path.suffix.lower() in IMAGE_SUFFIXES for path in video_paths(item.record, item.root))


class EncodedRecords:
    """The encoded records of a step, in order (results, or futures of them)."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def result(self) -> list[tuple[Any, str | None, str]]:
        return [part.result() if isinstance(part, Future) else part for part in self.parts]


def micro_batches(recipe: Recipe, examples: list[Any], pad_id: int) -> tuple[list[Any], list[str]]:
    """The forwards of one micro-batch: packed rows or one padded batch; and dropped ids."""
    from .batching import pack_examples_with_stats, pad_examples, truncate_example

    if not examples:
        return [], []
    max_length = recipe.data.max_length
    if recipe.data.packing:
        batches, stats = pack_examples_with_stats(examples, max_length, pad_id,
                                                  rows_per_batch=recipe.schedule.batch_size)
        return batches, list(stats.dropped)
    kept, dropped = [], []
    for example in examples:
        fitted, _ = truncate_example(example, max_length)
        if fitted is None or fitted.num_label_tokens == 0:
            dropped.append(example.record_id)
        else:
            kept.append(fitted)
    return ([pad_examples(kept, pad_id)] if kept else []), dropped
