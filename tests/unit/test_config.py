"""kangaroo.config: dataclasses as schemas, every problem of a file reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from kangaroo.config import (
    INTERNAL,
    ConfigError,
    apply_overrides,
    build,
    from_dict,
    parse_override,
    read_yaml,
    to_dict,
)


@dataclass(frozen=True)
class Window:
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if self.low < 0:
            problems.append(f"low: must be >= 0, got {self.low}")
        if self.high < self.low:
            problems.append(f"need low <= high, got {self.low}, {self.high}")
        if problems:
            raise ConfigError(problems)


@dataclass
class Section:
    name: str  # required
    mode: Literal["fast", "exact"] = "fast"
    count: int = 1
    window: Window = Window()
    maybe: Window | None = None
    tags: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = (1, 1)
    extra: dict[str, Any] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    flag: bool = False
    origin: str = field(default="", metadata=INTERNAL)


def test_a_good_mapping_builds_every_kind_of_field():
    section = from_dict(Section, {"name": "a", "mode": "exact", "count": 3, "window": {"high": 2},
                                  "maybe": {"low": 1.0, "high": 1.5}, "tags": ["x", "y"], "shape": [2, 3],
                                  "extra": {"anything": [1, {"b": None}]}, "windows": {"w": {}}, "flag": True})
    assert section == Section("a", "exact", 3, Window(0.0, 2.0), Window(1.0, 1.5), ["x", "y"], (2, 3),
                              {"anything": [1, {"b": None}]}, {"w": Window()}, True)
    assert isinstance(section.window.high, float)  # an integer is a number
    assert from_dict(Section, {"name": "b"}) == Section("b")


def test_every_problem_is_reported_at_once_and_bad_fields_keep_defaults():
    errors: list[str] = []
    section = build(Section, {"nme": "a", "mode": "quick", "count": "3", "window": {"low": -1, "high": -2},
                              "maybe": {"lo": 1}, "tags": ["x", 2], "shape": 3, "windows": {"w": 4},
                              "flag": "yes", "origin": "x.yaml"}, errors, "section")
    assert errors == [
        "section.nme: unknown key; Section has name, mode, count, window, maybe, tags, shape, extra, windows, flag",
        "section.mode: expected one of fast, exact, got 'quick'",
        "section.count: expected an integer, got '3'",
        "section.window: low: must be >= 0, got -1.0",  # the dataclass's own check, at its key
        "section.window: need low <= high, got -1.0, -2.0",
        "section.maybe.lo: unknown key; Window has low, high",
        "section.tags[1]: expected a string, got 2",
        "section.shape: expected a list of an integer, got 3",
        "section.windows.w: expected a mapping, got 4",
        "section.flag: expected true/false, got 'yes'",
        "section.origin: unknown key; Section has name, mode, count, window, maybe, tags, shape, extra, windows, "
        "flag",  # set by code, never read from a file
        "section.name: missing (required)",
    ]
    assert section is None  # a required field is missing
    errors = []
    section = build(Section, {"name": "a", "count": 2.5, "tags": ["t"]}, errors)
    assert errors == ["count: expected an integer, got 2.5"]
    assert section == Section("a", tags=["t"])  # the bad count keeps its default, the rest is kept


def test_from_dict_raises_the_given_error_type_naming_the_source():
    class MyError(ConfigError):
        pass

    with pytest.raises(MyError) as info:
        from_dict(Section, {"count": True, "tags": "x"}, source="my.yaml", error=MyError)
    assert info.value.source == "my.yaml" and info.value.errors == [
        "count: expected an integer, got True",
        "tags: expected a list of a string, got 'x'",
        "name: missing (required)",
    ]
    assert str(info.value).startswith("my.yaml: 3 problems:\n  - count: expected an integer")
    with pytest.raises(ConfigError, match=r"^one$"):
        raise ConfigError("one")
    with pytest.raises(ConfigError, match="the file: expected a mapping"):
        from_dict(Section, ["name"])


def test_to_dict_round_trips_through_yaml():
    section = Section("a", "exact", 2, Window(0.5, 1.0), None, ["t"], (4,), {"k": [1]}, {"w": Window()}, True,
                      origin="set by code")
    data = to_dict(section)
    assert "origin" not in data and data["shape"] == [4] and data["window"] == {"low": 0.5, "high": 1.0}
    assert from_dict(Section, yaml.safe_load(yaml.safe_dump(data))) == Section(
        "a", "exact", 2, Window(0.5, 1.0), None, ["t"], (4,), {"k": [1]}, {"w": Window()}, True)


def test_overrides_parse_yaml_scalars_and_index_lists():
    assert parse_override("optim.lr=3e-5") == (["optim", "lr"], 3e-5)
    assert parse_override("data.packing=false") == (["data", "packing"], False)
    assert parse_override("model.from_stage=null") == (["model", "from_stage"], None)
    data = apply_overrides({"a": {"items": [{"n": 1}]}}, ["a.items.0.n=8", "b.c=x"])
    assert data == {"a": {"items": [{"n": 8}]}, "b": {"c": "x"}}
    with pytest.raises(ConfigError) as info:
        apply_overrides({"a": {"items": []}, "s": 1}, ["a.items.3.n=1", "nokey", "s.t=2"])
    assert info.value.errors == [
        "override 'a.items.3.n=1': a.items.3: no item 3 in a list of 0",
        "override 'nokey': expected key.sub=value",
        "override 's.t=2': s is not a section",
    ]


def test_read_yaml_names_the_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such pipeline file"):
        read_yaml(tmp_path / "missing.yaml", what="pipeline file")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        read_yaml(broken)
    good = tmp_path / "good.yaml"
    good.write_text("name: a\ncount: 2\n", encoding="utf-8")
    assert from_dict(Section, read_yaml(good)) == Section("a", count=2)
