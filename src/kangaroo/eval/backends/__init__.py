"""Models the harness can evaluate: a kangaroo checkpoint (`KangarooBackend`), an
OpenAI-compatible chat endpoint (`OpenAIBackend`), and reference backends (`OracleBackend`,
`ConstantBackend`) that check a benchmark's setup and give chance-level baselines."""

from .base import Backend, GenerationRequest

__all__ = ["Backend", "GenerationRequest"]
