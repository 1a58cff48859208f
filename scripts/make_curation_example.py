"""Write a folder of example videos for trying `kangaroo curate` (and for docs/curation.md).

Videos go to ``OUT/<category>/<kind>_<n>.mp4``: synthetic scenes (moving shapes) that are clean,
carry overlaid text, show a face pattern, are static, or have hard cuts, spread over categories
of unequal size, plus one corrupt file. Sizes and lengths are small so a whole pipeline runs in
a minute or two on a laptop.

    .venv/bin/python scripts/make_curation_example.py curation-example/videos
    kangaroo curate recipes/curation/local.yaml --input curation-example/videos --output curation-example/out
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions

KINDS = {"clean": {}, "text": {"text_overlay": 0.2}, "face": {"face": True}, "static": {"static": True},
         "cuts": {"cuts": 3}}
# category -> (clean, text, face, static, cuts) counts: unequal, so balancing has work to do
CATEGORIES = {
    "animals": (6, 1, 0, 1, 2), "cooking": (3, 1, 1, 0, 1), "sports": (3, 1, 0, 1, 1), "travel": (2, 0, 1, 1, 1),
    "music": (1, 1, 1, 0, 0), "news": (1, 2, 1, 0, 0), "games": (2, 0, 0, 1, 1), "science": (1, 0, 0, 0, 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="Folder to write the videos into.")
    parser.add_argument("--size", default="320x180", help="Frame size, e.g. 640x360.")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        used = dict.fromkeys(KINDS, 0)
        for category, counts in CATEGORIES.items():
            for kind, count in zip(KINDS, counts, strict=True):
                for _ in range(count):
                    scratch = Path(tmp) / kind
                    world = WorldOptions(size=(width, height), duration=args.seconds, fps=12.0, **KINDS[kind])
                    generate_dataset("caption_short", used[kind] + 1, 11, scratch, split="train", world=world)
                    video = sorted((scratch / "videos").glob("*.mp4"))[used[kind]]
                    target = args.out / category / f"{kind}_{used[kind]}.mp4"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(video, target)
                    used[kind] += 1
    (args.out / "news" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 50)
    print(f"{sum(used.values()) + 1} videos in {args.out}")


if __name__ == "__main__":
    main()
