"""Declarative evaluation tasks: one YAML file per benchmark (``kangaroo/eval/tasks/*.yaml``).

A task says where the data lives and in which format (the ``format`` names a reader in
`kangaroo.eval.formats`), how frames are sampled (``frames``: a `kangaroo.video.FrameSampling`
mapping such as ``{sampling: uniform, num_frames: 16}``), the prompt (several named variants where the
official script, lmms-eval and Video-CCAM disagree; ``prompt`` picks the default), how replies
are scored and how results aggregate. No model-specific branches live anywhere in the harness.

A YAML file may start from another with ``base: other_task`` and override any key (nested
mappings merge). `load_task` accepts a built-in name (``mvbench``) or a path to a YAML file; the
file is read with `kangaroo.config`, so one `TaskConfigError` names the file and every bad key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from kangaroo.config import INTERNAL, ConfigError, from_dict, read_yaml
from kangaroo.video.sampling import DEFAULT_SAMPLING, FrameSampling

Scoring = Literal["choice", "seconds", "keywords"]
Average = Literal["micro", "macro"]
PROMPT_FIELDS = ("question", "options", "subtitles", "letters", "duration")


class TaskConfigError(ConfigError):
    """A task name is unknown, or a task YAML file is malformed (the message names the file and
    every bad key)."""


@dataclass(frozen=True)
class Prompt:
    """How a sample becomes the user's message (after the video) and the reply's opening.

    system:           the system message ("" for none).
    user:             the text after the video, a ``str.format`` template over ``question``,
                      ``options`` (the rendered option lines), ``subtitles`` (the lines shown at
                      the sampled frames), ``letters`` ("A, B, C or D") and ``duration``.
    option:           one option line, over ``letter`` and ``text``.
    assistant_prefix: text the reply starts with (MVBench's ``Best option:(``); the model
                      continues it and the prefix is part of what is scored.
    no_subtitles:     what ``{subtitles}`` becomes when a video has none.
    """

    user: str
    system: str = ""
    option: str = "({letter}) {text}"
    assistant_prefix: str = ""
    no_subtitles: str = "No subtitles available"

    def __post_init__(self) -> None:
        problems = []
        for name, fields in (("user", PROMPT_FIELDS), ("system", PROMPT_FIELDS), ("option", ("letter", "text"))):
            template = getattr(self, name)
            try:
                template.format_map({f: "" for f in fields})
            except (KeyError, ValueError, IndexError) as exc:
                problems.append(f"{name}: bad template {template!r} ({exc!r}); fields: {list(fields)}")
        if problems:
            raise TaskConfigError(problems)


@dataclass(frozen=True)
class TaskConfig:
    """One benchmark (or one variant of it), as read from its YAML file."""

    name: str
    format: str  # the reader in kangaroo.eval.formats
    prompts: dict[str, Prompt]  # named prompt variants
    title: str = ""  # the column heading in the results tables (default: the name)
    prompt: str = ""  # the default variant (default: the first)
    data: dict[str, Any] = field(default_factory=dict)  # reader options (paths under --data-dir)
    frames: FrameSampling = DEFAULT_SAMPLING  # how frames are sampled (--frames N: the count or the cap)
    subtitles: bool = False  # load the videos' subtitles for {subtitles}
    scoring: Scoring = "choice"
    average: Average = "micro"  # micro: correct / all; macro: mean over the values of `average_over`
    average_over: str | None = None
    report_groups: tuple[str, ...] = ()
    max_new_tokens: int = 32
    submission: bool = False  # also write {id: option index} for an answer server (EgoSchema)
    description: str = ""
    source: str = field(default="", metadata=INTERNAL)  # the YAML file

    def __post_init__(self) -> None:
        problems = []
        if not self.prompts:
            problems.append("prompts: needs at least one prompt variant")
        elif self.prompt and self.prompt not in self.prompts:
            problems.append(f"prompt: default prompt {self.prompt!r} is not among {sorted(self.prompts)}")
        if self.average == "macro" and not self.average_over:
            problems.append("average: macro needs average_over")
        if self.frames.most_frames is None:
            problems.append(f"frames: {self.frames.describe()} has no frame budget; give num_frames "
                            "(uniform) or max_frames")
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens: must be >= 1, got {self.max_new_tokens}")
        if problems:
            raise TaskConfigError(problems)
        object.__setattr__(self, "title", self.title or self.name)
        object.__setattr__(self, "prompt", self.prompt or next(iter(self.prompts)))
        object.__setattr__(self, "description", self.description.strip())

    def prompt_variant(self, name: str | None = None) -> Prompt:
        """The named prompt (default: the task's default). Raises TaskConfigError for an unknown name."""
        name = name or self.prompt
        if name not in self.prompts:
            raise TaskConfigError(f"task {self.name}: no prompt {name!r}; it has {sorted(self.prompts)}")
        return self.prompts[name]


def builtin_tasks() -> list[str]:
    """Names of the tasks shipped with kangaroo."""
    folder = resources.files("kangaroo.eval") / "tasks"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_task(name_or_path: str | os.PathLike[str]) -> TaskConfig:
    """A built-in task by name, or a task YAML file. Raises `TaskConfigError`."""
    raw, source = _read_with_bases(os.fspath(name_or_path), seen=())
    task = from_dict(TaskConfig, raw, source=source, error=TaskConfigError)
    return dataclasses.replace(task, source=source)


def _locate(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise TaskConfigError(f"{path}: no such task file")
        return path
    builtin = resources.files("kangaroo.eval") / "tasks" / f"{name}.yaml"
    if not builtin.is_file():
        raise TaskConfigError(f"unknown task {name!r}; built-in tasks: {', '.join(builtin_tasks())}")
    return Path(str(builtin))


def _read_with_bases(name: str, seen: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    path = _locate(name)
    if str(path) in seen:
        raise TaskConfigError(f"{path}: 'base' chain loops: {' -> '.join(seen)}")
    raw = read_yaml(path, error=TaskConfigError, what="task file")
    if not isinstance(raw, dict):
        raise TaskConfigError("a task file must be a mapping", path)
    base = raw.pop("base", None)
    if base is None:
        return raw, str(path)
    sibling = path.parent / f"{base}.yaml"
    parent, _ = _read_with_bases(str(sibling) if sibling.is_file() else base, (*seen, str(path)))
    return _merge(parent, raw), str(path)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
