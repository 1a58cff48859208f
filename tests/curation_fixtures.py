"""A folder of videos for curation runs, made at test time with the synthetic world.

``make_videos(root)`` writes ``root/<category>/<name>.mp4``: clean moving scenes, scenes with
overlaid text, with a face pattern, static scenes, scenes with hard cuts, and one corrupt file;
it returns ``{relative path: kind}``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions

# kind -> synth knobs; every kind renders 6 s at 8 fps, 160x120
KINDS = {
    "clean": {},
    "text": {"text_overlay": 0.2},
    "face": {"face": True},
    "static": {"static": True},
    "cuts": {"cuts": 2},
}
# category -> kinds of its videos (so category balance has something to cap)
LAYOUT = {
    "animals": ["clean", "clean", "clean", "text", "cuts"],
    "cooking": ["clean", "face", "static"],
    "sports": ["clean", "text"],
}


def make_videos(root: Path, seed: int = 0) -> dict[str, str]:
    """Write the videos under ``root``; ``{relative path: kind}`` (the corrupt file's kind: ``corrupt``)."""
    scratch = root.parent / f".{root.name}-synth"
    made: dict[str, str] = {}
    counters: dict[str, int] = {}
    for category, kinds in LAYOUT.items():
        for number, kind in enumerate(kinds):
            index = counters.get(kind, 0)
            counters[kind] = index + 1
            out = scratch / kind
            generate_dataset("caption_short", index + 1, seed, out, split="train",
                             world=WorldOptions(size=(160, 120), duration=6.0, fps=8.0, **KINDS[kind]))
            video = sorted((out / "videos").glob("*.mp4"))[index]
            relative = f"{category}/{kind}_{number}.mp4"
            (root / category).mkdir(parents=True, exist_ok=True)
            shutil.copy(video, root / relative)
            made[relative] = kind
    corrupt = root / "sports" / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    made["sports/broken.mp4"] = "corrupt"
    shutil.rmtree(scratch, ignore_errors=True)
    return made
