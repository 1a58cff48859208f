"""Where ``LMMS_EVAL_PLUGINS=kangaroo.eval.lmms_eval_plugin`` looks for the ``kangaroo`` model class."""

from kangaroo.eval.lmms_eval_model import Kangaroo

__all__ = ["Kangaroo"]
