"""The two small files that let plain transformers load a saved Kangaroo model.

A saved model folder holds ``configuration_kangaroo.py`` and ``modeling_kangaroo.py`` and its
``config.json`` names them in ``auto_map``, as the released Kangaroo checkpoint does with its
remote code. So the original user code runs unchanged, without ``import kangaroo`` first:

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, trust_remote_code=True)
    out, history = model.chat(video_path=..., query=..., tokenizer=tokenizer, ...)

The files only import the installed ``kangaroo`` package (no model code is copied into the folder),
so a model always runs with the kangaroo version that is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from kangaroo.io import atomic_write_text

AUTO_MAP = {
    "AutoConfig": "configuration_kangaroo.KangarooConfig",
    "AutoModelForCausalLM": "modeling_kangaroo.KangarooForCausalLM",
}
_HEADER = '"""Loads the installed kangaroo package\'s {what} (pip install kangaroo); written by kangaroo."""\n\n'
HUB_FILES = {
    "configuration_kangaroo.py": _HEADER.format(what="KangarooConfig")
    + "from kangaroo.model.configuration import KangarooConfig\n\n__all__ = [\"KangarooConfig\"]\n",
    "modeling_kangaroo.py": _HEADER.format(what="KangarooForCausalLM")
    + "from kangaroo.model.modeling import KangarooForCausalLM\n\n__all__ = [\"KangarooForCausalLM\"]\n",
}


def write_hub_code(directory: str | os.PathLike[str]) -> None:
    """Write `HUB_FILES` into a saved model's folder (its config names them in `AUTO_MAP`)."""
    for name, text in HUB_FILES.items():
        atomic_write_text(Path(directory) / name, text)
