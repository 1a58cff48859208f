"""The question families of the synthetic world: one module per family, each declaring its
`Task` (``TASK``) and the ``build_*`` function that turns a scene's facts into a question and its
answer. `FAMILIES` lists them in the order ``kangaroo synth --list`` shows.

Answers are never random: a multiple-choice truth is read off the scene, and each distractor is
checked to be false in it (another direction, a colour the object never has, an event that never
happens, an object that is not there). Objects are named by colour and shape; a question only
names an object whose name no other object ever has (`kangaroo.synth.facts`).

A new family: a module here with ``TASK = Task(name, description, build_...)``, added to
`FAMILIES`.
"""

from __future__ import annotations

from . import (
    caption_detailed,
    caption_short,
    grounding,
    image_caption,
    look,
    mcq_appear,
    mcq_colour_change,
    mcq_count,
    mcq_direction,
    mcq_end,
    mcq_follow_up,
    mcq_order,
    multi_round,
    needle,
    open_qa,
)
from .family import Built, Task, Turn

FAMILIES: tuple[Task, ...] = (
    caption_short.TASK,
    caption_detailed.TASK,
    mcq_direction.TASK,
    mcq_count.TASK,
    mcq_order.TASK,
    mcq_colour_change.TASK,
    mcq_appear.TASK,
    mcq_end.TASK,
    open_qa.TASK,
    multi_round.TASK,
    grounding.TASK,
    needle.TASK,
    image_caption.TASK,
    look.TASK,
    mcq_follow_up.TASK,
)

__all__ = ["FAMILIES", "Built", "Task", "Turn"]
