"""YAML data mixtures: sampling strategies, weights, roots, determinism and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kangaroo.data import (
    MixtureError,
    Record,
    Sampling,
    load_mixture,
    parse_sampling,
    read_mixture,
    write_records,
)


def make(prefix: str, n: int) -> list[Record]:
    return [
        Record(id=f"{prefix}{i}", video=f"{prefix}/{i}.mp4", subtitles=f"{prefix}/{i}.srt",
               messages=[{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "q"}]},
                         {"role": "assistant", "content": str(i)}])
        for i in range(n)
    ]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    write_records(tmp_path / "data" / "a.jsonl", make("a", 10))
    write_records(tmp_path / "data" / "b.jsonl", make("b", 20))
    return tmp_path


def mixture(folder: Path, text: str) -> Path:
    path = folder / "mix.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("all", Sampling("all")),
        ("first:1000", Sampling("first", count=1000)),
        (" end:500 ", Sampling("end", count=500)),
        ("random:20%", Sampling("random", percent=20.0)),
        ("random:12.5%", Sampling("random", percent=12.5)),
        ("random:300", Sampling("random", count=300)),
        ("first:10%", Sampling("first", percent=10.0)),
    ],
)
def test_parse_sampling(spec: str, expected: Sampling) -> None:
    assert parse_sampling(spec) == expected


@pytest.mark.parametrize("spec", ["top:10", "first", "first:", "first:0", "random:150%", "random:0%",
                                  "random:-3", "first:1.5", "all:10", 5, None])
def test_bad_sampling_is_a_clear_error(spec: object) -> None:
    with pytest.raises(MixtureError, match=r"sampling|count|percentage"):
        parse_sampling(spec)


def test_sizes_round_percentages_up_and_cap_counts() -> None:
    assert Sampling("random", percent=25).size(10) == 3
    assert Sampling("first", count=50).size(10) == 10
    assert Sampling("all").size(7) == 7


def test_strategies_pick_the_right_records(files: Path) -> None:
    path = mixture(files, """
datasets:
  - path: data/a.jsonl
    sampling: "first:3"
  - json_path: data/b.jsonl          # LLaVA-NeXT's key names work too
    sampling_strategy: "end:2"
  - path: data/b.jsonl
    sampling: "random:25%"
    root: media
""")
    records = load_mixture(path, seed=1)
    ids = [r.id for r in records]
    assert ids[:5] == ["a0", "a1", "a2", "b18", "b19"]
    picked = ids[5:]
    assert len(picked) == 5 and len(set(picked)) == 5 and all(i.startswith("b") for i in picked)
    assert picked == sorted(picked, key=lambda i: int(i[1:]))  # file order
    # paths are joined with each dataset's root (default: the records file's folder)
    assert records[0].video == str(files / "data" / "a/0.mp4")
    assert records[0].subtitles == str(files / "data" / "a/0.srt")
    assert records[5].video == str(files / "media" / f"b/{picked[0][1:]}.mp4")


def test_random_is_deterministic_given_the_seed(files: Path) -> None:
    path = mixture(files, "datasets:\n  - {path: data/b.jsonl, sampling: 'random:5'}\n")
    first = [r.id for r in load_mixture(path, seed=3)]
    assert first == [r.id for r in load_mixture(path, seed=3)]
    others = {tuple(r.id for r in load_mixture(path, seed=s)) for s in range(4, 8)}
    assert len(others | {tuple(first)}) > 1


def test_editing_one_dataset_leaves_the_others_picks(files: Path) -> None:
    one = mixture(files, "datasets:\n  - {path: data/a.jsonl, sampling: 'first:2'}\n"
                         "  - {path: data/b.jsonl, sampling: 'random:4'}\n")
    before = [r.id for r in load_mixture(one, seed=0)][-4:]
    mixture(files, "datasets:\n  - {path: data/a.jsonl, sampling: 'first:5'}\n"
                   "  - {path: data/b.jsonl, sampling: 'random:4'}\n")
    assert [r.id for r in load_mixture(one, seed=0)][-4:] == before


def test_weights_repeat_and_subsample(files: Path) -> None:
    path = mixture(files, """
datasets:
  - {path: data/a.jsonl, sampling: "first:4", weight: 2}
  - {path: data/b.jsonl, sampling: "all", weight: 0.5}
  - {path: data/b.jsonl, weight: 0}
""")
    ids = [r.id for r in load_mixture(path)]
    assert ids[:8] == ["a0", "a1", "a2", "a3"] * 2
    assert len(ids) == 8 + 10 and len(set(ids[8:])) == 10


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("datasets: []\n", "non-empty 'datasets'"),
        ("- path: a.jsonl\n", "non-empty 'datasets'"),
        ("datasets:\n  - {path: data/a.jsonl}\nextra: 1\n", "unknown key"),
        ("datasets:\n  - {path: data/a.jsonl, sample: all}\n", r"datasets\[0\]\.sample: unknown key; DatasetEntry has"),
        ("datasets:\n  - {sampling: all}\n", r"datasets\[0\]\.path: missing"),
        ("datasets:\n  - {path: data/a.jsonl}\n  - {path: data/b.jsonl, sampling: 'top:3'}\n",
         r"datasets\[1\]: unknown sampling 'top:3'; use all, first:N"),
        ("datasets:\n  - {path: data/a.jsonl, weight: -1}\n", "'weight' must be a number >= 0"),
        ("datasets:\n  - {path: data/a.jsonl, weight: lots}\n", r"datasets\[0\]\.weight: expected a number"),
        ("datasets: [\n", "not valid YAML"),
    ],
)
def test_bad_yaml_is_a_clear_error(files: Path, text: str, match: str) -> None:
    with pytest.raises(MixtureError, match=match):
        load_mixture(mixture(files, text))


def test_every_bad_dataset_is_named_at_once(files: Path) -> None:
    path = mixture(files, "datasets:\n  - {path: data/a.jsonl, sampling: 'top:3', weight: -1}\n"
                          "  - {json_path: data/b.jsonl, path: data/a.jsonl}\n  - {sampling: all, root: 3}\n")
    with pytest.raises(MixtureError) as info:
        read_mixture(path)
    assert str(path) in str(info.value)
    assert info.value.errors == [
        "datasets[0]: unknown sampling 'top:3'; use all, first:N, end:N or random:N, where N is a count or "
        "a percentage such as 20%",
        "datasets[0]: 'weight' must be a number >= 0, got -1.0",
        "datasets[1].json_path: unknown key; DatasetEntry has path, root, sampling, weight, name",
        "datasets[2].root: expected a string or null, got 3",
        "datasets[2].path: missing (required)",
    ]


def test_missing_records_file(files: Path) -> None:
    path = mixture(files, "datasets:\n  - {path: data/none.jsonl}\n")
    assert read_mixture(path)[0].path == files / "data" / "none.jsonl"  # parsing alone reads no file
    with pytest.raises(OSError):
        load_mixture(path)
