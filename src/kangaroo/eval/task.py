"""Declarative evaluation tasks: one YAML file per benchmark (``kangaroo/eval/tasks/*.yaml``).

A task says where the data lives and in which format (the ``format`` names a reader in
`kangaroo.eval.formats`), how frames are sampled, the prompt (several named variants where the
official script, lmms-eval and Video-CCAM disagree; ``prompt`` picks the default), how replies
are scored and how results aggregate. No model-specific branches live anywhere in the harness.

A YAML file may start from another with ``base: other_task`` and override any key (nested
mappings merge). `load_task` accepts a built-in name (``mvbench``) or a path to a YAML file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SCORINGS = ("choice", "seconds")
AVERAGES = ("micro", "macro")
SAMPLINGS = ("uniform", "fps", "dynamic")
PROMPT_FIELDS = ("question", "options", "subtitles", "letters", "duration")


class TaskConfigError(ValueError):
    """A task name is unknown, or a task YAML file is malformed (the message says where)."""


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


@dataclass(frozen=True)
class TaskConfig:
    """One benchmark (or one variant of it), as read from its YAML file."""

    name: str
    title: str  # the column heading in the results tables
    format: str  # the reader in kangaroo.eval.formats
    prompts: dict[str, Prompt]
    prompt: str  # the default variant
    data: dict[str, Any] = field(default_factory=dict)  # reader options (paths under --data-dir)
    frames: int = 16
    sampling: str = "uniform"
    fps: float | None = None
    subtitles: bool = False  # load the videos' subtitles for {subtitles}
    scoring: str = "choice"
    average: str = "micro"  # micro: correct / all; macro: mean over the values of `average_over`
    average_over: str | None = None
    report_groups: tuple[str, ...] = ()
    max_new_tokens: int = 32
    submission: bool = False  # also write {id: option index} for an answer server (EgoSchema)
    description: str = ""
    source: str = ""  # the YAML file

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
    return _parse(raw, source)


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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaskConfigError(f"{path}: cannot read the task ({exc})") from None
    if not isinstance(raw, dict):
        raise TaskConfigError(f"{path}: a task file must be a mapping")
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


_TASK_KEYS = {"name", "title", "format", "prompts", "prompt", "data", "frames", "sampling", "fps", "subtitles",
              "scoring", "average", "average_over", "report_groups", "max_new_tokens", "submission", "description"}
_PROMPT_KEYS = {"user", "system", "option", "assistant_prefix", "no_subtitles"}


def _parse(raw: dict[str, Any], source: str) -> TaskConfig:
    where = source
    unknown = sorted(set(raw) - _TASK_KEYS)
    if unknown:
        raise TaskConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(_TASK_KEYS)}")
    for key in ("name", "format", "prompts"):
        if key not in raw:
            raise TaskConfigError(f"{where}: missing {key!r}")
    prompts_raw = raw["prompts"]
    if not isinstance(prompts_raw, dict) or not prompts_raw:
        raise TaskConfigError(f"{where}: 'prompts' must map variant names to prompts")
    prompts = {str(name): _parse_prompt(spec, f"{where}: prompts.{name}") for name, spec in prompts_raw.items()}
    default = str(raw.get("prompt", next(iter(prompts))))
    if default not in prompts:
        raise TaskConfigError(f"{where}: default prompt {default!r} is not among {sorted(prompts)}")
    checks = [
        (raw.get("scoring", "choice") in SCORINGS, f"scoring must be one of {SCORINGS}"),
        (raw.get("average", "micro") in AVERAGES, f"average must be one of {AVERAGES}"),
        (raw.get("sampling", "uniform") in SAMPLINGS, f"sampling must be one of {SAMPLINGS}"),
        (isinstance(raw.get("frames", 16), int) and raw.get("frames", 16) >= 1, "frames must be an integer >= 1"),
        (raw.get("average", "micro") == "micro" or raw.get("average_over"), "average: macro needs average_over"),
        (isinstance(raw.get("data", {}), dict), "data must be a mapping"),
    ]
    for ok, message in checks:
        if not ok:
            raise TaskConfigError(f"{where}: {message}")
    return TaskConfig(
        name=str(raw["name"]), title=str(raw.get("title", raw["name"])), format=str(raw["format"]),
        prompts=prompts, prompt=default, data=dict(raw.get("data", {})), frames=int(raw.get("frames", 16)),
        sampling=str(raw.get("sampling", "uniform")), fps=raw.get("fps"), subtitles=bool(raw.get("subtitles", False)),
        scoring=str(raw.get("scoring", "choice")), average=str(raw.get("average", "micro")),
        average_over=raw.get("average_over"), report_groups=tuple(raw.get("report_groups", ())),
        max_new_tokens=int(raw.get("max_new_tokens", 32)), submission=bool(raw.get("submission", False)),
        description=str(raw.get("description", "")).strip(), source=source,
    )


def _parse_prompt(spec: Any, where: str) -> Prompt:
    if not isinstance(spec, dict) or "user" not in spec:
        raise TaskConfigError(f"{where}: a prompt is a mapping with at least 'user'")
    unknown = sorted(set(spec) - _PROMPT_KEYS)
    if unknown:
        raise TaskConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(_PROMPT_KEYS)}")
    prompt = Prompt(**{k: str(v) for k, v in spec.items()})
    for template, fields in ((prompt.user, PROMPT_FIELDS), (prompt.system, PROMPT_FIELDS),
                             (prompt.option, ("letter", "text"))):
        try:
            template.format_map({f: "" for f in fields})
        except (KeyError, ValueError, IndexError) as exc:
            raise TaskConfigError(f"{where}: bad template {template!r} ({exc!r}); fields: {list(fields)}") from None
    return prompt
