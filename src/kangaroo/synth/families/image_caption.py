"""Image captions: a 1-frame PNG, the objects it shows and where they are."""

from __future__ import annotations

import random

from .. import language as lang_
from ..facts import Facts
from ..language import capitalise, indefinite, say
from .family import Built, Task, pick_language, single_answer


def image_caption(f: Facts, rng: random.Random, lang: str, t: float) -> str:
    """The objects visible at ``t``, each with where it is in the frame when that is clear."""
    items = []
    for obj in sorted(f.scene.visible_at(t), key=lambda o: (o.position_at(t)[1], o.position_at(t)[0])):
        a = indefinite(obj.colour_at(t), obj.shape, lang)
        cell = lang_.region(*obj.position_at(t))
        if lang == "zh":
            items.append(f"{lang_.region_phrase(cell, 'zh')}有{a}" if cell else f"画面中有{a}")
        else:
            items.append(f"{a} {lang_.region_phrase(cell, 'en')}" if cell else a)
    if not items:
        bg = lang_.background_phrase(f.scene, lang, t)
        return say("image.empty", lang, rng, bg=bg, bg_bare=bg.removeprefix("a "))
    objs = "，".join(items) if lang == "zh" else lang_.join_list(items, "en")
    return capitalise(say("image.caption", lang, rng, objs=objs, Objs=capitalise(objs)))


def build_image_caption(f: Facts, rng: random.Random, spec: str) -> Built | None:
    lang = pick_language(spec, rng)
    times = [t for t in f.scene.frame_times() if f.scene.visible_at(t)]
    if not times:
        return None
    t = rng.choice(times)
    caption = image_caption(f, rng, lang, t)
    prompt = say("prompt.image_caption", lang, rng)
    return single_answer(lang, prompt, caption, kind="image_caption", times=[t], image_time=t)


TASK = Task("image_caption", "1-frame PNG with a caption of the objects and where they are", build_image_caption,
            media="image", duration=1.0, fps=8.0)
