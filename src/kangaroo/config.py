"""Typed YAML configs: a dataclass is the schema, and every problem is reported at once.

Recipes (`kangaroo.training.recipe`), eval tasks (`kangaroo.eval.task`), curation pipelines
(`kangaroo.curation.pipeline`), data mixtures (`kangaroo.data.mixture`) and the frame sampling
they hold (`kangaroo.video.FrameSampling`) are dataclasses; `from_dict` builds one from plain
data (parsed YAML or JSON). Each field's type hint is checked (``int``, ``float``, ``str``,
``bool``, ``Literal[...]``, ``list[T]``, ``tuple[T, ...]``, ``dict[str, T]``, unions, nested
dataclasses, ``Any``); unknown keys are errors (a typo must not silently fall back to a default);
a dataclass that rejects its own values in ``__post_init__`` (raising `ConfigError` or
``ValueError``) is reported at its key. A bad field keeps its default, so the rest of the file is
still checked and the user sees every problem in one message::

    data.frames.sampling: expected one of uniform, fps, dynamic, got 'unifrom'
    optim.lr: expected a number, got 'fast'
    modle: unknown key; Recipe has stage, model, data, ...

`apply_overrides` sets ``key.sub=value`` strings (values parsed as YAML scalars) in the raw data
before it is built.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
INTERNAL = {"config": False}  # field metadata: set by code, never read from a config file
_EXPONENT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


class ConfigError(ValueError):
    """A config that cannot be used; ``errors`` lists every problem found, ``source`` the file."""

    def __init__(self, errors: Sequence[str] | str, source: str | os.PathLike[str] | None = None) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.source = None if source is None else os.fspath(source)
        where = f"{self.source}: " if self.source is not None else ""
        super().__init__(where + ("; ".join(self.errors) if len(self.errors) == 1 else
                                  f"{len(self.errors)} problems:\n  - " + "\n  - ".join(self.errors)))


# ---------------------------------------------------------------------------------------------
# building dataclasses from plain data


def from_dict(cls: type[T], data: Any, *, source: str | os.PathLike[str] | None = None,
              error: type[ConfigError] = ConfigError) -> T:
    """``cls`` built from ``data``; raises ``error`` (a `ConfigError` type) listing every problem."""
    errors: list[str] = []
    built = build(cls, data, errors)
    if errors or built is None:
        raise error(errors or [f"expected a mapping, got {data!r}"], source)
    return built


def build(cls: type[T], data: Any, errors: list[str], where: str = "") -> T | None:
    """``cls`` from the mapping ``data``, appending a message per problem to ``errors``.

    Fields with a bad value keep their defaults; returns None when ``data`` is not a mapping, a
    required field is missing, or ``cls`` itself rejects the values."""
    return _convert(data, cls, where, errors)


def type_name(tp: Any) -> str:
    """How a type hint reads in an error message: ``an integer or null``, ``one of a, b``."""
    if tp is type(None):
        return "null"
    if tp is Any:
        return "anything"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is list or (origin is tuple and args[-1:] == (Ellipsis,)):
        return f"a list of {type_name(args[0])}"
    if origin is tuple:
        return f"a list of {len(args)} ({', '.join(type_name(a) for a in args)})"
    if origin is dict:
        return f"a mapping of {type_name(args[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, where: str, errors: list[str]) -> Any:
    """``value`` as type ``tp``; appends to ``errors`` (and returns None) when it does not fit."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        for arg in args:  # the first type that fits, without reporting
            if arg is type(None):
                continue
            trial: list[str] = []
            out = _convert(value, arg, where, trial)
            if not trial:
                return out
        fitting = [a for a in args if dataclasses.is_dataclass(a)]
        if len(fitting) == 1 and isinstance(value, Mapping):  # report inside the one mapping that can apply
            return _convert(value, fitting[0], where, errors)
        errors.append(f"{where}: expected {type_name(tp)}, got {value!r}")
        return None
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        errors.append(f"{where}: expected {type_name(tp)}, got {value!r}")
        return None
    if origin in (list, tuple):
        fixed = origin is tuple and args[-1:] != (Ellipsis,)  # tuple[int, int] vs tuple[int, ...]
        if not isinstance(value, list | tuple) or (fixed and len(value) != len(args)):
            errors.append(f"{where}: expected {type_name(tp)}, got {value!r}")
            return None
        before = len(errors)
        items = []
        for i, (item, item_type) in enumerate(zip(value, args if fixed else [args[0]] * len(value), strict=True)):
            count = len(errors)
            converted = _convert(item, item_type, f"{where}[{i}]", errors)
            if len(errors) == count:  # a bad item is left out (it is reported)
                items.append(converted)
        if fixed and len(errors) > before:
            return None
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            errors.append(f"{where}: expected {type_name(tp)}, got {value!r}")
            return None
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(f"{where}: keys must be strings, got {key!r}")
                continue
            count = len(errors)
            converted = _convert(item, args[1], _join(where, key), errors)
            if len(errors) == count:  # a bad value is left out (it is reported)
                out[key] = converted
        return out
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            errors.append(f"{where or 'the file'}: expected a mapping, got {value!r}")
            return None
        return _build_dataclass(tp, value, where, errors)
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        errors.append(f"{where}: expected {type_name(tp)}, got {value!r}")
        return None
    return float(value) if tp is float else value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _build_dataclass(cls: type, data: Mapping[str, Any], where: str, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("config", True)]
    names = [f.name for f in fields]
    kwargs: dict[str, Any] = {}
    ok = True
    for key, value in data.items():
        if key not in names:
            errors.append(f"{_join(where, str(key))}: unknown key; {cls.__name__} has {', '.join(names)}")
            continue
        before = len(errors)
        converted = _convert(value, hints[key], _join(where, key), errors)
        # a bad value keeps the default (a section keeps its good fields), so the rest can still be checked
        if len(errors) == before or dataclasses.is_dataclass(converted):
            kwargs[key] = converted
    for f in fields:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in kwargs:
            ok = False
            if f.name not in data:
                errors.append(f"{_join(where, f.name)}: missing (required)")
    if not ok:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        errors += [f"{where}: {e}" if where else e for e in exc.errors]
    except (ValueError, TypeError) as exc:
        errors.append(f"{where}: {exc}" if where else str(exc))
    return None


def to_dict(config: Any) -> Any:
    """Plain data (dicts, lists, scalars) of a config dataclass, for YAML or JSON; `from_dict`
    reads it back. Internal fields (``metadata=INTERNAL``) are left out."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)
                if f.metadata.get("config", True)}
    if isinstance(config, list | tuple):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    return config


# ---------------------------------------------------------------------------------------------
# files and overrides


def read_yaml(path: str | os.PathLike[str], *, error: type[ConfigError] = ConfigError, what: str = "file") -> Any:
    """The parsed YAML of ``path``; raises ``error`` when it is missing or not valid YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error([f"{path}: no such {what}"]) from None
    except OSError as exc:
        raise error([f"{path}: cannot read the {what} ({exc})"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error([f"{path}: not valid YAML: {exc}"]) from None


def parse_override(text: str, *, error: type[ConfigError] = ConfigError) -> tuple[list[str], Any]:
    """``"optim.lr=3e-5"`` -> ``(["optim", "lr"], 3e-05)``; the value is parsed as YAML
    (``1e-4`` is a number, as YAML 1.1 would make it a string). Raises ``error``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise error([f"override {text!r}: expected key.sub=value"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise error([f"override {text!r}: the value is not valid YAML ({exc})"]) from None
    if isinstance(value, str) and _EXPONENT_RE.fullmatch(value.strip()):  # YAML 1.1 reads 1e-4 as a string
        value = float(value)
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], *,
                    error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """Set each ``key.sub=value`` in the raw mapping ``data`` (intermediate mappings are created; a
    number indexes a list: ``data.synth.0.num=8``). Types are checked when the config is built.
    Raises ``error`` listing every malformed override."""
    errors: list[str] = []
    for text in overrides:
        try:
            keys, value = parse_override(text)
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        node: Any = data
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            where = ".".join(keys[: i + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    errors.append(f"override {text!r}: {where}: no item {key} in a list of {len(node)}")
                    break
                index: Any = int(key)
            elif isinstance(node, dict):
                index = key
            else:
                errors.append(f"override {text!r}: {'.'.join(keys[:i])} is not a section")
                break
            if last:
                node[index] = value
            else:
                if isinstance(node, dict) and node.get(index) is None:
                    node[index] = {}
                node = node[index]
    if errors:
        raise error(errors)
    return data
