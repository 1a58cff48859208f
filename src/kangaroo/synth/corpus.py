"""The world's text: every message of generated records of every task, in English and Chinese.

The bundled model's tokenizer is trained on it (`kangaroo.model.builders.build_world_tokenizer`),
so the words the world uses ("red", "ring", "moves left", "红色") are single tokens or few.
"""

from __future__ import annotations

from collections.abc import Iterator

from .options import WorldOptions
from .tasks import TASKS, generate

LANGUAGES = ("en", "zh")


def world_texts(per_task: int = 150, seed: int = 5) -> Iterator[str]:
    """The message texts of ``per_task`` train-split records of each task (needle tasks, whose
    text is that of the others, skipped) in each language; nothing is rendered or written."""
    for language in LANGUAGES:
        world = WorldOptions(language=language)
        for name, spec in TASKS.items():
            if spec.media == "needle":
                continue
            for index in range(per_task):
                record = generate(name, None, index, "train", ".", seed=seed, world=world, write=False)
                for message in record["messages"]:
                    content = message["content"]
                    if isinstance(content, str):
                        yield content
                    else:
                        yield " ".join(part["text"] for part in content if part.get("type") == "text")
