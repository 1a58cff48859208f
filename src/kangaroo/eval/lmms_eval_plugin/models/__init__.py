"""The models of the ``LMMS_EVAL_PLUGINS`` mechanism: name -> class in ``models/<name>.py``."""

AVAILABLE_MODELS = {"kangaroo": "Kangaroo"}
