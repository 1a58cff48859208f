"""The world's text: every message of generated records of every task, in English and Chinese.

The bundled model's tokenizer is trained on it (`kangaroo.model.builders.build_world_tokenizer`),
so the words the world uses ("red", "ring", "moves left", "红色") are single tokens or few.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .language import lettered_reply
from .options import WorldOptions
from .tasks import TASKS, generate

LANGUAGES = ("en", "zh")


def world_texts(tasks: Sequence[str] | None = None, per_task: int = 150, seed: int = 5, *,
                lettered_choices: bool = False) -> Iterator[str]:
    """The message texts of ``per_task`` train-split records of each of ``tasks`` (default: every
    task but needle, whose text is that of the others) in each language; nothing is rendered or
    written. ``lettered_choices``: multiple-choice replies followed by their letter (`lettered_reply`),
    as they were when the shipped world tokenizer was trained (it must stay reproducible)."""
    names = [n for n, spec in TASKS.items() if spec.media != "needle"] if tasks is None else list(tasks)
    for language in LANGUAGES:
        world = WorldOptions(language=language)
        for name in names:
            for index in range(per_task):
                record = generate(name, None, index, "train", ".", seed=seed, world=world, write=False)
                meta = record["meta"]
                for message in record["messages"]:
                    content = message["content"]
                    if lettered_choices and meta.get("options") and message["role"] == "assistant":
                        yield lettered_reply(content, meta["answer"])
                    elif isinstance(content, str):
                        yield content
                    else:
                        yield " ".join(part["text"] for part in content if part.get("type") == "text")
