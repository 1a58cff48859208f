"""Describe any checkpoint without loading it into a model (`kangaroo inspect`).

`inspect_checkpoint(path)` lists, for a weights file or a folder (and each sub-folder holding
weights, as Video-CCAM's ``projector/`` and ``llm_adapter/``), every key with its shape and dtype,
the modules (keys grouped up to their first layer index: ``model.layers.*``), parameter counts and
dtypes, and says what kangaroo makes of it: a kangaroo model folder (`load_pretrained` reads it),
a checkpoint a converter maps (and how: tensors filled, keys dropped, settings assumed), or the
converter's error listing the keys it cannot map. A Video-CCAM v1.2 release (one folder, merged
weights) is recognised and marked not convertible: its key listing is what a converter for it
needs. Only key names, shapes and dtypes are read (``.bin`` files are memory-mapped; safetensors
headers only), never the weights of a whole model.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .weight_files import WEIGHT_FILE_NAMES, WeightFiles, WeightFilesError, find_weight_file, open_weights


def _module_of(key: str) -> str:
    """``model.layers.3.self_attn.q_proj.weight`` -> ``model.layers.*``; ``lm_head.weight`` -> ``lm_head``."""
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join([*parts[:i], "*"])
    return ".".join(parts[:-1]) or key


def describe_weights(weights: WeightFiles) -> dict[str, Any]:
    """Keys, modules, parameter counts and dtypes of one checkpoint (no weights read)."""
    keys, modules, dtypes = [], {}, {}
    for key, (shape, dtype) in weights.items():
        count = math.prod(shape)
        keys.append({"key": key, "shape": list(shape), "dtype": dtype})
        module = modules.setdefault(_module_of(key), {"tensors": 0, "parameters": 0, "dtypes": set(), "layers": set()})
        module["tensors"] += 1
        module["parameters"] += count
        module["dtypes"].add(dtype)
        if match := re.search(r"\.(\d+)\.", key):
            module["layers"].add(int(match[1]))
        dtypes[dtype] = dtypes.get(dtype, 0) + count
    return {
        "files": [str(p) for p in weights.files],
        "tensors": len(keys),
        "parameters": sum(k for k in dtypes.values()),
        "dtypes": dtypes,
        "modules": [{"module": name, "tensors": m["tensors"], "parameters": m["parameters"],
                     "dtypes": sorted(m["dtypes"]), "layers": len(m["layers"])} for name, m in modules.items()],
        "keys": keys,
    }


def recognise(folder: Path, weights: WeightFiles) -> dict[str, Any]:
    """What kangaroo makes of a checkpoint folder (see the module docstring)."""
    from .convert import (
        ConversionError,
        check_plan,
        plan_kangaroo,
        video_ccam_v12_config,
        video_ccam_v12_reason,
    )
    from .pretrained import ModelLoadError, check_model_dir

    if (folder / "processor_config.json").is_file():
        try:
            check_model_dir(folder)
            return {"kind": "kangaroo model", "note": "load it with load_pretrained, or kangaroo chat --model"}
        except ModelLoadError as exc:
            return {"kind": "unknown", "note": str(exc)}
    if (folder / "adapter_config.json").is_file():
        return {"kind": "PEFT adapter", "note": "LoRA weights; kangaroo convert --from video-ccam merges them "
                                                "(--merge-lora) or keeps them beside the model"}
    if (v12 := video_ccam_v12_config(folder)) is not None:
        return {"kind": "video-ccam v1.2", "converter": "video-ccam", "convertible": False,
                "error": f"{video_ccam_v12_reason(v12)}."}
    if folder.name == "projector" or (folder / "projector").is_dir():
        return video_ccam_projector(folder if folder.name == "projector" else folder / "projector")
    if not any(k.endswith("patch_embed.proj.weight") for k in weights):
        return {"kind": "unknown", "note": "no converter recognises it (no EVA-CLIP vision tower)"}
    try:
        plan = plan_kangaroo(folder, weights)
        check_plan(plan, weights)
    except (ConversionError, ValueError, OSError) as exc:
        return {"kind": "kangaroo release", "converter": "kangaroo", "convertible": False, "error": str(exc)}
    return {"kind": "kangaroo release", "converter": "kangaroo", "convertible": True,
            "maps": {name: target.source for name, target in plan.targets.items()},
            "dropped": plan.dropped, "assumed": plan.assumed}


def video_ccam_projector(folder: Path) -> dict[str, Any]:
    """How `kangaroo convert --from video-ccam` maps the projector checkpoint in ``folder``
    (`kangaroo.model.convert.VIDEO_CCAM_PROJECTOR_KEYS`): ``projector_maps`` (source key ->
    kangaroo name) and ``projector_unmapped`` (the keys the table does not name)."""
    from .convert import video_ccam_projector_name

    maps, unmapped = {}, []
    for key in open_weights(folder):
        name = video_ccam_projector_name(key)
        if name is None:
            unmapped.append(key)
        else:
            maps[key] = f"projector.{name}"
    note = ("the projector of a Video-CCAM release: convert the release folder with kangaroo convert RELEASE OUT "
            "--from video-ccam --llm LLM_FOLDER --vision SIGLIP_FOLDER")
    if unmapped:
        note += f"; {len(unmapped)} projector keys have no kangaroo name (please report them)"
    return {"kind": "video-ccam", "note": note, "projector_maps": maps, "projector_unmapped": unmapped}


def inspect_checkpoint(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One description per checkpoint at ``path``: the file or folder itself, then every direct
    sub-folder with weights. Each has ``path``, `describe_weights`'s fields, ``config`` (the
    folder's ``config.json`` when present) and, for folders, ``recognised`` (`recognise`).
    Raises `WeightFilesError` when nothing readable is found."""
    root = Path(path).expanduser()
    if not root.exists():
        raise WeightFilesError(f"{root}: no such file or folder")
    places = [root] if root.is_file() or find_weight_file(root) else []
    if root.is_dir():
        places += sorted(p for p in root.iterdir() if p.is_dir() and find_weight_file(p))
    if not places:
        raise WeightFilesError(f"{root}: no weights found here or in its sub-folders "
                               f"(looked for {', '.join(WEIGHT_FILE_NAMES)})")
    described = []
    for place in places:
        weights = open_weights(place)
        entry: dict[str, Any] = {"path": str(place), **describe_weights(weights)}
        if place.is_dir():
            config_file = place / "config.json"
            if config_file.is_file():
                entry["config"] = json.loads(config_file.read_text(encoding="utf-8"))
            entry["recognised"] = recognise(place, weights)
        described.append(entry)
    return described
