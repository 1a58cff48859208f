"""The procedural world's test splits (`kangaroo.synth`): records written by ``kangaroo synth``
(``<data_dir>/<task>_test.jsonl`` + ``videos/``), generated there first when absent.

Options (the task's ``data``):
  tasks:    synth task names to read (``[mcq_direction, mcq_count, ...]``).
  split:    ``test`` (default), ``val`` or ``train``.
  language: ``en`` or ``zh``; generated files get a ``_zh`` suffix in their folder.
  num:      records per synth task generated when the file is absent (default 50).
  seed:     the generation seed (default 1234); with ``num`` and the world options it fixes the data.
  size, duration, fps, ...: `kangaroo.synth.options.WorldOptions` of generated videos (``size``
            defaults to ``[128, 96]``).
  require:  ``options`` keeps only choice questions, ``times`` only grounding questions,
            ``text`` only open questions and captions (scored by keyword recall: the sample's
            ``keywords`` are the world's colours, shapes, directions and numbers its reference
            answer names, `kangaroo.synth.language.content_words`).

Sample fields: ``question`` is the record's whole user text (the options are already in it),
``options``/``answer`` from ``meta.options``/``meta.answer`` for choice questions, and the
truth in seconds (a time or ``[start, end]``) from ``meta.times`` for grounding; ``groups``
are the synth task, its ``question_type`` and its ``composition``: ``held-out`` when an object
the question is about (``meta.objects``; the whole scene for a question about none) is a
colour-shape pair or starts an event that training never shows (`kangaroo.synth.splits`), else
``seen``. Samples alternate between the synth tasks.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.samples import EvalSample

from . import BenchmarkDataError

GENERATES_DATA = True  # read_samples creates --data-dir; the files are generated on first use


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    from kangaroo.data.records import RecordError, read_records
    from kangaroo.synth.generate import dataset_path, generate_dataset
    from kangaroo.synth.options import WorldOptions, WorldOptionsError

    split = str(options.get("split", "test"))
    names = {f.name for f in dataclasses.fields(WorldOptions)}
    try:
        world = WorldOptions.from_dict({key: value for key, value in options.items() if key in names})
    except WorldOptionsError as exc:
        raise BenchmarkDataError(f"synth data options: {exc}") from None
    root = data_dir / ("synth" if world.language == "en" else f"synth_{world.language}")
    require = options.get("require")
    per_task = []
    for task in options.get("tasks", []):
        path = dataset_path(root, task, split)
        if not path.is_file():
            generate_dataset(task, int(options.get("num", 50)), int(options.get("seed", 1234)), root, split=split,
                             world=world)
        try:
            records = list(read_records(path))
        except RecordError as exc:
            raise BenchmarkDataError(f"{path}: {exc}") from None
        samples = [_sample(record, root, task, keywords=require == "text") for record in records]
        per_task.append([s for s in samples if not ((require == "options" and not s.options)
                                                    or (require == "times" and s.options)
                                                    or (require == "text" and s.options))])
    # round-robin over the synth tasks, so that the first N samples (--limit) cover all of them
    for row in itertools.zip_longest(*per_task):
        yield from (sample for sample in row if sample is not None)


def _sample(record: Any, root: Path, task: str, keywords: bool = False) -> EvalSample:
    meta = record.meta
    user = next(m for m in record.messages if m["role"] == "user")
    content = user["content"]
    question = content if isinstance(content, str) else "".join(
        p.get("text", "") for p in content if p.get("type") == "text")
    options = list(meta.get("options") or [])
    found: list[tuple[str, ...]] = []
    if options:
        answer: Any = meta["answer"]
    elif keywords:
        from kangaroo.eval.keywords import find_keywords
        from kangaroo.synth.language import content_words

        answer = next(m["content"] for m in record.messages if m["role"] == "assistant")
        found = find_keywords(answer, content_words(str(meta.get("language", "en"))))
    else:
        times = meta.get("times") or [None]
        answer = times[0]
    video = root / record.video
    return EvalSample(
        id=record.id, question=question, options=options, answer=answer, video=str(video),
        groups={"task": task, "question_type": str(meta.get("question_type", task)),
                "composition": _composition(meta, root)},
        error=None if video.exists() else f"video not found: {video}",
        extra={"language": meta.get("language"), "duration": meta.get("duration")},
        keywords=found,
    )


def _composition(meta: dict[str, Any], root: Path) -> str:
    """``held-out`` or ``seen``: whether the question involves a composition training never shows."""
    if not meta.get("held_out"):
        return "seen"
    objects = meta.get("objects")
    if objects is None or not meta.get("scene"):
        return "held-out"
    import json

    from kangaroo.synth.scene import Scene
    from kangaroo.synth.splits import held_out_for

    try:
        scene = Scene.from_dict(json.loads((root / meta["scene"]).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return "held-out"  # the scene file is gone: count the question with its scene
    return "held-out" if held_out_for(scene, objects) else "seen"
