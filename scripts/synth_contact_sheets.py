"""Contact sheets of synthetic-world clips for docs/data.md.

    .venv/bin/python scripts/synth_contact_sheets.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.video import load_video
from kangaroo.video.contact_sheet import make_contact_sheet

SHEETS = [  # (task, knobs, file name)
    ("mcq_colour_change", {}, "synth_mcq_colour_change.png"),
    ("grounding", {}, "synth_grounding.png"),
    ("caption_short", {"text_overlay": 0.25, "cuts": 1, "face": True}, "synth_knobs.png"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for task, knobs, name in SHEETS:
        with tempfile.TemporaryDirectory() as tmp:
            jsonl = generate_dataset(task, 1, seed=7, out_dir=tmp, world=WorldOptions(size=(192, 144), duration=8.0, **knobs))
            record = json.loads(Path(jsonl).read_text().splitlines()[0])
            clip = load_video(Path(tmp) / record["video"], num_frames=8)
            make_contact_sheet(clip.frames, clip.timestamps, columns=4, thumb_width=192).save(args.out / name)
            print(name, json.dumps(record["messages"], ensure_ascii=False)[:300])


if __name__ == "__main__":
    main()
