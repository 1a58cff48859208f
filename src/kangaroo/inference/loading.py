"""The model chat runs on: a local directory, or the random-weights tiny model.

`load_chat_model(model_dir)` loads a saved model with `kangaroo.model.pretrained.load_pretrained`.
Without a directory it loads ``kangaroo_tiny`` with seeded random weights (seed 0), built once and
saved under the cache directory (``$KANGAROO_CACHE/tiny-random``, default
``~/.cache/kangaroo/tiny-random``): its answers are noise, but the whole chat path (video decoding,
features, prompt, generation, KV reuse) runs for real until a trained model exists.

The cached checkpoint is written to a temporary directory and renamed into place, with a marker
file written last; a directory without a matching marker is rebuilt, never read half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from kangaroo.model.pretrained import check_model_dir, load_pretrained
from kangaroo.model.quiet import no_progress_bars

RANDOM_WEIGHTS_MARKER = "kangaroo_random_weights.json"  # in a saved directory: its weights are random
TINY_RANDOM_DIR = "tiny-random"
TINY_RANDOM_SEED = 0
TINY_RANDOM_FRAMES = 16


def cache_root() -> Path:
    """``$KANGAROO_CACHE`` when set, else ``~/.cache/kangaroo``."""
    configured = os.environ.get("KANGAROO_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "kangaroo"


def load_chat_model(
    model_dir: str | os.PathLike[str] | None, device: str = "cpu", dtype: Any = None
) -> tuple[Any, Any, bool]:
    """``(model, processor, is_random)`` ready for ``model.chat`` (in eval mode, on ``device``).

    model_dir: a saved Kangaroo model directory (see `load_pretrained`); None for the
               random-weights ``kangaroo_tiny`` (built and cached on first use, see the module docstring).
    dtype:     a torch dtype for the weights (default: as saved).
    ``is_random`` is True for the tiny model, and for any directory carrying its marker file.
    Raises `kangaroo.model.pretrained.ModelLoadError` when the directory is missing or is not a
    saved Kangaroo model.
    """
    directory = ensure_tiny_random() if model_dir is None else check_model_dir(model_dir)
    model, processor = load_pretrained(directory, device=device, dtype=dtype)
    return model, processor, (directory / RANDOM_WEIGHTS_MARKER).is_file()


def _tiny_random_recipe() -> dict[str, Any]:
    """What the cached tiny model was built from; a different recipe means a rebuild."""
    import torch
    import transformers

    from kangaroo import __version__
    from kangaroo.model.builders import kangaroo_tiny_config

    config = kangaroo_tiny_config().to_dict()
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    from kangaroo.video.sampling import FrameSampling

    sampling = FrameSampling(num_frames=TINY_RANDOM_FRAMES).to_dict()
    return {"builder": "kangaroo_tiny", "seed": TINY_RANDOM_SEED, "sampling": sampling,
            "config_sha256": digest, "kangaroo": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


def _read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((directory / RANDOM_WEIGHTS_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def ensure_tiny_random(root: str | os.PathLike[str] | None = None) -> Path:
    """The directory of the random-weights ``kangaroo_tiny`` checkpoint, built and saved on first use.

    ``root`` defaults to `cache_root()`. The directory is built beside the target and renamed
    into place (`kangaroo.io.atomic_directory`), so concurrent or interrupted runs never leave a
    half-written checkpoint that is later read; a copy another process installed meanwhile is kept.
    """
    root = Path(root) if root is not None else cache_root()
    target = root / TINY_RANDOM_DIR
    recipe = _tiny_random_recipe()
    marker = _read_marker(target)
    if marker is not None and marker.get("recipe") == recipe:
        return target

    from kangaroo.io import atomic_directory
    from kangaroo.model.builders import kangaroo_tiny
    from kangaroo.model.tokenizer import build_byte_tokenizer
    from kangaroo.processing import KangarooProcessor
    from kangaroo.video.sampling import FrameSampling

    def current(directory: Path) -> bool:
        return (_read_marker(directory) or {}).get("recipe") == recipe

    with atomic_directory(target, keep_existing=current) as tmp:  # keeps another process's copy
        tokenizer = build_byte_tokenizer()
        model = kangaroo_tiny(tokenizer, seed=TINY_RANDOM_SEED)
        with no_progress_bars():
            model.save_pretrained(tmp)
        sampling = FrameSampling(num_frames=TINY_RANDOM_FRAMES)
        KangarooProcessor(tokenizer, model.config.layout, sampling=sampling).save_pretrained(tmp)
        note = {"recipe": recipe,
                "note": "kangaroo_tiny with random weights: answers are noise until a trained model is given"}
        (tmp / RANDOM_WEIGHTS_MARKER).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return target
