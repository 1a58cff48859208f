"""Registers kangaroo's model with lmms-eval, so that ``--model kangaroo`` finds it.

lmms-eval (0.7) looks models up in its registry, which it fills from its built-in list, then
from two plugin mechanisms; either one is enough:

- the entry-point group ``lmms_eval.models`` (preferred): kangaroo's ``pyproject.toml`` declares
  ``kangaroo = "kangaroo.eval.lmms_eval_plugin:manifest"`` there, so an installed kangaroo is found
  with no setting;
- ``LMMS_EVAL_PLUGINS=kangaroo.eval.lmms_eval_plugin`` (deprecated by lmms-eval, but also read by
  older releases): lmms-eval imports ``<plugin>.models``, reads its ``AVAILABLE_MODELS`` and loads the
  class from ``<plugin>.models.<name>``; it also adds ``<plugin>.tasks`` to its task search path.

Nothing here imports lmms-eval until lmms-eval itself calls `manifest`.
"""

from __future__ import annotations

from typing import Any

MODEL_NAME = "kangaroo"
CLASS_PATH = "kangaroo.eval.lmms_eval_model.Kangaroo"


def manifest() -> Any:
    """The ``ModelManifest`` lmms-eval's registry reads from the ``lmms_eval.models`` entry point."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_NAME, simple_class_path=CLASS_PATH)
