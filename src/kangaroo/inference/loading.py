"""The model chat runs on: a local directory, the bundled model, or the random-weights tiny model.

`load_chat_model(model_dir)` loads a saved model with `kangaroo.model.pretrained.load_pretrained`.
Without a directory it loads the **bundled model** shipped inside the package
(`BUNDLED_MODEL_DIR`: ``kangaroo_mini`` trained on the synthetic world by ``recipes/bundled/``; it
answers questions about the procedural world's videos, in English and Chinese). ``"random"``
(`RANDOM_MODEL`, ``--model random``) loads ``kangaroo_tiny`` with seeded random weights (seed 0),
built once and saved under the cache directory (``$KANGAROO_CACHE/tiny-random``, default
``~/.cache/kangaroo/tiny-random``): its answers are noise, but the whole chat path runs for real, in
a model small enough for quick tests.

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
BUNDLED_MODEL_DIR = Path(__file__).with_name("bundled_model")  # shipped with the package
RANDOM_MODEL = "random"  # the model name that means the random-weights tiny model
BUNDLED_MODEL_NAME = "kangaroo-bundled"
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

    model_dir: a saved Kangaroo model directory (see `load_pretrained`); None for the bundled model;
               ``"random"`` for the random-weights ``kangaroo_tiny`` (built and cached on first use).
    dtype:     a torch dtype for the weights (default: as saved).
    ``is_random`` is True for the tiny model, and for any directory carrying its marker file.
    Raises `kangaroo.model.pretrained.ModelLoadError` when the directory is missing or is not a
    saved Kangaroo model.
    """
    directory = resolve_model_dir(model_dir)
    model, processor = load_pretrained(directory, device=device, dtype=dtype)
    return model, processor, (directory / RANDOM_WEIGHTS_MARKER).is_file()


def resolve_model_dir(model_dir: str | os.PathLike[str] | None) -> Path:
    """The directory ``model_dir`` names: the bundled model for None, the random-weights tiny model
    for ``"random"`` (built on first use), else the checked directory. Raises `ModelLoadError`."""
    if model_dir is None:
        return check_model_dir(BUNDLED_MODEL_DIR)
    if os.fspath(model_dir) == RANDOM_MODEL:
        return ensure_tiny_random()
    return check_model_dir(model_dir)


def model_name(model_dir: str | os.PathLike[str] | None) -> str:
    """A short name for reports and the API: ``kangaroo-bundled`` (None or the bundled folder),
    ``tiny-random`` (``"random"``), else the folder's name, with its parent for ``final`` /
    ``checkpoint-*`` (``runs/tiny/stage5/final`` -> ``stage5/final``)."""
    if model_dir is None or Path(os.path.abspath(model_dir)) == BUNDLED_MODEL_DIR.resolve():
        return BUNDLED_MODEL_NAME
    if os.fspath(model_dir) == RANDOM_MODEL:
        return TINY_RANDOM_DIR
    parts = os.path.normpath(os.path.abspath(model_dir)).split(os.sep)
    return "/".join(parts[-2:]) if parts[-1] == "final" or parts[-1].startswith("checkpoint") else parts[-1]


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
