"""The ``kangaroo`` command line (see `app`): ``kangaroo --help`` lists the commands."""

from . import (
    checkpoint_commands,
    curate_commands,
    data_commands,
    eval_commands,
    model_commands,
    serve_commands,
    synth_commands,
    tokenizer_commands,
    train_commands,
    video_commands,
)
from .app import Aspect, Seek, app
from .model_commands import RANDOM_WEIGHTS_WARNING, Dtype

__all__ = [
    "RANDOM_WEIGHTS_WARNING",
    "Aspect",
    "Dtype",
    "Seek",
    "app",
    "checkpoint_commands",
    "curate_commands",
    "data_commands",
    "eval_commands",
    "main",
    "model_commands",
    "serve_commands",
    "synth_commands",
    "tokenizer_commands",
    "train_commands",
    "video_commands",
]


def main() -> None:
    """Console entry point (``kangaroo``)."""
    app(prog_name="kangaroo")
