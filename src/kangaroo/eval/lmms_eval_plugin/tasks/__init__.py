"""No extra tasks: lmms-eval adds ``<plugin>.tasks`` to its task search path when the plugin is
named in ``LMMS_EVAL_PLUGINS``, and fails when the package is missing, so it exists (empty)."""
