"""Category balance: a cap per category, deterministic and independent of sharding."""

from __future__ import annotations

import json
import math
import random
import sys
import types
from collections import Counter

import pytest

from kangaroo.curation.steps.category_balance import CategoryBalance

SIZES = {"cooking": 700, "sports": 250, "music": 50}  # 1000 records


class RecordingContext:
    def __init__(self) -> None:
        self.drops: list[tuple[str, str, float | None]] = []

    def drop(self, record, reason, value=None, detail=""):
        self.drops.append((record["id"], reason, value))

    def quarantine(self, record, error):  # pragma: no cover
        raise AssertionError("no video is read")

    def measured(self, name, value):  # pragma: no cover
        pass


def make_records(sizes: dict[str, int]) -> list[dict]:
    return [{"id": f"{cat}/{i:04d}.mp4", "video": f"/v/{cat}/{i:04d}.mp4", "meta": {"category": cat}}
            for cat, n in sizes.items() for i in range(n)]


def balance(step: CategoryBalance, shards: list[list[dict]]) -> tuple[dict, list[dict], RecordingContext]:
    """What an executor does: observe every shard, plan once (through JSON), apply per shard."""
    observations = [step.observe(r) for shard in shards for r in shard]
    plan = json.loads(json.dumps(step.plan(json.loads(json.dumps(observations)))))
    ctx = RecordingContext()
    kept = [r for shard in shards for r in step.with_plan(plan).run(iter(shard), ctx)]
    return plan, kept, ctx


def test_every_category_is_capped_and_small_ones_untouched():
    records = make_records(SIZES)
    step = CategoryBalance(cap=0.2, seed=0)
    plan, kept, ctx = balance(step, [records])
    limit = math.floor(0.2 * 1000)
    assert plan["limit"] == limit and plan["total"] == 1000
    counts = Counter(r["meta"]["category"] for r in kept)
    assert counts == {"cooking": limit, "sports": limit, "music": 50}
    assert set(plan["capped"]) == {"cooking", "sports"}
    assert plan["counts"] == SIZES
    dropped = Counter(i.split("/")[0] for i, _, _ in ctx.drops)
    assert dropped == {"cooking": 500, "sports": 50}
    reported = {(i.split("/")[0], reason, value) for i, reason, value in ctx.drops}
    assert reported == {("cooking", "category_cap", 700), ("sports", "category_cap", 250)}


def test_tiny_dataset_keeps_at_least_one_per_category():
    step = CategoryBalance(cap=0.01)
    plan, kept, _ = balance(step, [make_records({"a": 3, "b": 1})])
    assert plan["limit"] == 1
    assert Counter(r["meta"]["category"] for r in kept) == {"a": 1, "b": 1}


def test_deterministic_for_a_seed_and_different_for_another():
    records = make_records(SIZES)
    ids = lambda seed: {r["id"] for r in balance(CategoryBalance(cap=0.2, seed=seed), [records])[1]}  # noqa: E731
    assert ids(0) == ids(0)
    assert ids(0) != ids(1)
    assert len(ids(1)) == len(ids(0)) == 450


def test_same_result_whatever_the_sharding_and_order():
    records = make_records(SIZES)
    step = CategoryBalance(cap=0.2, seed=7)
    plan, kept, _ = balance(step, [records])
    reference = {r["id"] for r in kept}
    rng = random.Random(3)
    for shard_count in (3, 8):
        shuffled = records[:]
        rng.shuffle(shuffled)
        shards = [shuffled[i::shard_count] for i in range(shard_count)]
        rng.shuffle(shards)
        other_plan, other_kept, _ = balance(step, shards)
        assert other_plan == plan
        assert {r["id"] for r in other_kept} == reference


def test_missing_category_is_unknown():
    records = [{"id": str(i), "video": "v.mp4"} for i in range(5)] + make_records({"a": 5})
    step = CategoryBalance(cap=0.3)
    plan, kept, _ = balance(step, [records])
    assert plan["counts"] == {"a": 5, "unknown": 5}
    assert Counter(step.key(r) for r in kept) == {"a": 3, "unknown": 3}


def label_by_number(record: dict) -> str:
    return "even" if int(record["id"].rsplit("/", 1)[-1].split(".")[0]) % 2 == 0 else "odd"


@pytest.fixture
def classifier_module(monkeypatch):
    module = types.ModuleType("balance_test_classifiers")
    module.label = label_by_number
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


@pytest.mark.parametrize("as_string", [True, False])
def test_classifier_labels_replace_meta_category(as_string, classifier_module):
    records = make_records({"x": 30})  # meta.category "x" everywhere; the classifier splits them
    classifier = f"{classifier_module}:label" if as_string else label_by_number
    step = CategoryBalance(cap=0.25, classifier=classifier)
    plan, kept, _ = balance(step, [records])
    assert plan["counts"] == {"even": 15, "odd": 15}
    assert Counter(r["meta"]["category"] for r in kept) == {"even": 7, "odd": 7}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="cap"):
        CategoryBalance(cap=0)
    with pytest.raises(ValueError, match="classifier"):
        CategoryBalance(classifier="no_colon_here")
    with pytest.raises(ValueError, match="cannot be imported"):
        CategoryBalance(classifier="kangaroo_no_such_module:f")
    with pytest.raises(ValueError, match="unique"):
        CategoryBalance(cap=0.1).plan([["a", "same"]] * 20)


def test_no_category_exceeds_the_cap_of_the_balanced_output():
    from kangaroo.curation.steps.category_balance import balanced_limit

    counts = [7, 5, 4, 4, 3, 2, 2, 1]
    limit, feasible = balanced_limit(counts, 0.15)
    assert (limit, feasible) == (3, True)
    kept = [min(n, limit) for n in counts]
    assert max(kept) / sum(kept) <= 0.15
    assert 4 / sum(min(n, 4) for n in counts) > 0.15  # one more would break the cap
    many = [1000] * 5 + [10] * 300  # 305 categories, a 1% cap as in the paper
    limit, feasible = balanced_limit(many, 0.01)
    kept = [min(n, limit) for n in many]
    assert feasible and max(kept) / sum(kept) <= 0.01 < (limit + 1) / sum(min(n, limit + 1) for n in many)
    assert balanced_limit([50, 50], 0.2) == (20, False)  # 2 categories cannot each be <= 20%
