"""Category balance: cap every category at a fixed share of the dataset (the paper's 1%).

The paper (section III-A, "Category Balance") labels every video with a classifier and resamples
the majority categories that exceed 1% of the dataset down to below 1%, for a flatter category
distribution (its Fig. 4).

This is a global step (`steps.base.GlobalStep`): the executor collects ``observe(record)`` =
``[category, record id]`` from every record that reaches the step, ``plan`` decides which
categories are capped and, for each, the hash threshold that keeps exactly ``limit`` of its
records, and ``with_plan(plan)`` is the per-shard step that applies it. A record is kept iff the
hash of ``(seed, id)`` is at or below its category's threshold, so the choice is a deterministic
function of the seed and the ids: the same whatever the sharding or the order of records.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .base import COST_METADATA, Record, StepContext

UNKNOWN = "unknown"
Classifier = Callable[[Record], Any]


def balanced_limit(counts: list[int], cap: float) -> tuple[int, bool]:
    """``(limit, feasible)``: the largest per-category count ``L`` such that, once every category
    is cut to at most ``L``, no category is more than ``cap`` of what remains
    (``L <= cap * sum(min(n, L))``). When no ``L >= 1`` satisfies it (fewer than ``1 / cap``
    categories), ``feasible`` is False and the limit is ``cap`` of the records reaching the step.
    """
    def fits(limit: int) -> bool:
        return limit <= cap * sum(min(n, limit) for n in counts)

    # sum(min(n, L)) / L never grows with L, so the limits that fit are 1..best: bisect for best
    low, high = 0, max(counts, default=0)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    if low == 0:
        return max(1, math.floor(cap * sum(counts))), False
    return low, True


def record_hash(seed: int, record_id: str) -> str:
    """The 64-bit BLAKE2b hash of ``(seed, record_id)`` as 16 hex digits (fixed width, so string
    order is numeric order, and a plan's JSON stays exact in readers that parse numbers as
    doubles)."""
    return hashlib.blake2b(f"{seed}\x1f{record_id}".encode(), digest_size=8).hexdigest()


def resolve_classifier(classifier: str | Classifier) -> Classifier:
    """A callable from ``"package.module:function"`` (imported now) or a callable itself.

    Raises ValueError when the string is malformed or names nothing callable.
    """
    if callable(classifier):
        return classifier
    if not isinstance(classifier, str) or classifier.count(":") != 1:
        raise ValueError(f"classifier must be a callable or 'module:function', got {classifier!r}")
    module_name, attr = classifier.split(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"classifier {classifier!r} cannot be imported: {exc}") from exc
    if not callable(target):
        raise ValueError(f"classifier {classifier!r} is not callable")
    return target


@dataclass
class CategoryBalance:
    """Cut every category to at most ``limit`` records so that none is more than ``cap`` of the
    balanced output.

    cap:        the largest share of the output a category may have (the paper's 1% = 0.01).
                ``limit`` is the largest count with ``limit <= cap * sum(min(n_c, limit))``
                (`balanced_limit`); categories with at most ``limit`` records are untouched,
                larger ones keep exactly ``limit``. With fewer than ``1 / cap`` categories no
                limit can satisfy that: the plan says ``feasible: false`` and the limit is
                ``max(1, floor(cap * N))`` of the N records reaching the step.
    seed:       which records a capped category keeps: those whose `record_hash` ``(seed, id)``
                ranks among the ``limit`` smallest of the category. Record ids must be unique.
    classifier: None: the category is ``meta.category`` (``"unknown"`` when absent). Else a
                callable ``record -> label`` or a ``"module:function"`` string naming one (for
                pipeline files); its label (``str``, None -> ``"unknown"``) is stored into
                ``meta.category``. It is called once when the record is observed and again when
                the plan is applied, so it must be deterministic.

    Drop reason ``category_cap``, value = the category's count before balancing. Raises
    ValueError for bad arguments or a classifier that cannot be imported.
    """

    cap: float = 0.01
    seed: int = 0
    classifier: str | Classifier | None = None
    name: str = field(default="category_balance", init=False)
    cost: int = field(default=COST_METADATA, init=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.cap, int | float) and 0 < self.cap <= 1):
            raise ValueError(f"cap must be a fraction in (0, 1], got {self.cap!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        self._classify = None if self.classifier is None else resolve_classifier(self.classifier)

    def key(self, record: Record) -> str:
        """The record's category (classifying it, and storing the label, when a classifier is set)."""
        meta = record.setdefault("meta", {})
        if self._classify is None:
            category = meta.get("category")
            return UNKNOWN if category is None or category == "" else str(category)
        label = self._classify(record)
        category = UNKNOWN if label is None or label == "" else str(label)
        meta["category"] = category
        return category

    def observe(self, record: Record) -> list[str]:
        """``[category, record id]``: what the plan needs from one record (JSON-serialisable)."""
        return [self.key(record), str(record["id"])]

    def plan(self, observations: list[Any]) -> dict[str, Any]:
        """The decision from every record's observation (in any order).

        Returns ``{"cap", "seed", "total", "limit", "counts": {category: count before},
        "capped": {category: {"count", "limit", "seed", "threshold"}}}`` where ``threshold`` is
        the ``limit``-th smallest `record_hash` of the category (hex). Raises ValueError when an
        id appears twice in a capped category (the count kept would be wrong).
        """
        by_category: dict[str, list[str]] = {}
        for category, record_id in observations:
            by_category.setdefault(str(category), []).append(str(record_id))
        total = sum(len(ids) for ids in by_category.values())
        limit, feasible = balanced_limit([len(ids) for ids in by_category.values()], self.cap)
        capped: dict[str, dict[str, Any]] = {}
        for category, ids in sorted(by_category.items()):
            if len(ids) <= limit:
                continue
            if len(set(ids)) != len(ids):
                raise ValueError(f"category {category!r}: record ids must be unique to balance it")
            hashes = sorted(record_hash(self.seed, i) for i in ids)
            capped[category] = {"count": len(ids), "limit": limit, "seed": self.seed,
                                "threshold": hashes[limit - 1]}
        counts = {c: len(ids) for c, ids in sorted(by_category.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
        return {"cap": self.cap, "seed": self.seed, "total": total, "limit": limit, "feasible": feasible,
                "counts": counts, "capped": capped}

    def with_plan(self, plan: dict[str, Any]) -> CategoryCapStep:
        """The per-record step applying ``plan`` (from `plan`, possibly read back from JSON)."""
        return CategoryCapStep(plan=plan, categorise=self.key)


@dataclass
class CategoryCapStep:
    """Apply a `CategoryBalance` plan: keep a record of a capped category iff its (seed, id)
    hash is at or below the category's threshold; other categories pass untouched."""

    plan: dict[str, Any]
    categorise: Callable[[Record], str]
    name: str = field(default="category_balance", init=False)
    cost: int = field(default=COST_METADATA, init=False)

    def run(self, records: Iterator[Record], ctx: StepContext) -> Iterator[Record]:
        capped = self.plan.get("capped", {})
        for record in records:
            entry = capped.get(self.categorise(record))
            if entry is None or record_hash(int(entry["seed"]), str(record["id"])) <= entry["threshold"]:
                yield record
            else:
                ctx.drop(record, "category_cap", float(entry["count"]))
