"""Importers (LLaVA, VideoChat2, captions) and the LLaVA exporter, on hand-written samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kangaroo.data import (
    RecordError,
    check_record,
    export_llava,
    from_captions,
    from_llava,
    from_videochat2,
    import_file,
    read_records,
    write_records,
)
from kangaroo.data.importers import missing_videos, relative_to_root

LLAVA = [
    {  # LLaVA-Video style: a video key with the <image> spelling, an extra key
        "id": "v_001",
        "video": "academic/v_001.mp4",
        "data_source": "academic",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat is the kangaroo doing?"},
            {"from": "gpt", "value": "It is hopping."},
            {"from": "human", "value": "And then?"},
            {"from": "gpt", "value": "It stops."},
        ],
    },
    {  # placeholder mid-text, system turn
        "id": 7,
        "video": "b.mp4",
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "Look: <video> -- what colour?"},
            {"from": "gpt", "value": "Red."},
        ],
    },
    {  # an image item
        "id": "img",
        "image": "coco/1.jpg",
        "conversations": [{"from": "human", "value": "<image>\nCaption it."}, {"from": "gpt", "value": "A cat."}],
    },
    {  # two videos, both spellings
        "id": "pair",
        "video": ["x.mp4", "y.mp4"],
        "conversations": [{"from": "human", "value": "<video> and <image>: same?"}, {"from": "gpt", "value": "No."}],
    },
    {  # text only
        "id": "text",
        "conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}],
    },
]


def test_llava_placeholders_become_video_parts() -> None:
    first, second, image, pair, text = from_llava(LLAVA)
    assert first.video == "academic/v_001.mp4"
    assert first.messages[0] == {
        "role": "user",
        "content": [{"type": "video"}, {"type": "text", "text": "\nWhat is the kangaroo doing?"}],
    }
    assert first.messages[1:] == [
        {"role": "assistant", "content": "It is hopping."},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "It stops."},
    ]
    assert second.id == "7"
    assert second.messages[0] == {"role": "system", "content": "Be brief."}
    assert second.messages[1]["content"] == [
        {"type": "text", "text": "Look: "},
        {"type": "video"},
        {"type": "text", "text": " -- what colour?"},
    ]
    assert image.video == "coco/1.jpg"
    assert pair.videos == ["x.mp4", "y.mp4"] and pair.video is None
    assert text.video_list == [] and text.messages[0]["content"] == "2+2?"
    for record in (first, second, image, pair, text):  # every imported record is valid
        assert check_record(record.to_dict()) == []


def test_llava_round_trip_preserves_text_placeholders_and_keys(tmp_path: Path) -> None:
    source = tmp_path / "llava.json"
    source.write_text(json.dumps(LLAVA, indent=1, ensure_ascii=False))
    records = import_file("llava", source)
    write_records(tmp_path / "records.jsonl", records)
    exported = export_llava(read_records(tmp_path / "records.jsonl"))
    expected = json.loads(json.dumps(LLAVA))
    expected[1]["id"] = "7"  # ids are strings in records
    assert exported == expected


def test_llava_without_placeholder_puts_the_video_first_like_llava() -> None:
    item = {"id": "a", "video": "a.mp4", "conversations": [
        {"from": "system", "value": "sys"},
        {"from": "human", "value": "Describe it."},
        {"from": "gpt", "value": "A road."},
    ]}
    (record,) = from_llava([item])
    assert record.messages[1]["content"] == [{"type": "video"}, {"type": "text", "text": "\nDescribe it."}]
    (exported,) = export_llava([record])
    assert exported["conversations"][1]["value"] == "<video>\nDescribe it."  # what LLaVA trains on
    assert from_llava([exported]) == [record]  # stable from then on


def test_llava_ids_missing_and_repeated() -> None:
    turns = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    records = from_llava([{"conversations": turns}, {"id": "x", "conversations": turns},
                          {"id": "x", "conversations": turns}, {"id": "x", "conversations": turns}],
                         id_prefix="p", source="mine")
    assert [r.id for r in records] == ["p0", "x", "x-2", "x-3"]
    assert all(r.meta == {"source": "mine"} for r in records)


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ({"id": "a", "video": "a.mp4", "conversations": [{"from": "human", "value": "<video><video>"}]},
         r"item 0 \(id 'a'\): 2 <video>/<image> placeholder\(s\) but 1 video"),
        ({"id": "a", "conversations": [{"from": "human", "value": "<image> hi"}]}, r"1 <video>/<image> placeholder"),
        ({"id": "a", "conversations": [{"from": "bot", "value": "x"}]}, r"conversations\[0\].from must be"),
        ({"id": "a", "conversations": []}, r"non-empty 'conversations'"),
        ({"id": "a", "video": 3, "conversations": [{"from": "human", "value": "x"}]}, r"'video' must be a path"),
        ({"id": "a", "video": "v", "image": "i", "conversations": [{"from": "human", "value": "x"}]}, "both"),
    ],
)
def test_llava_bad_items_raise_with_their_index(item: dict, match: str) -> None:
    with pytest.raises(RecordError, match=match):
        from_llava([item])


VIDEOCHAT2 = [
    {
        "video": "clevrer/0001.mp4",
        "QA": [
            {"i": "Watch the video and answer.", "q": "How many cubes?", "a": "Two."},
            {"i": "Watch the video and answer.", "q": "What moves first?", "a": "The sphere."},
        ],
    },
    {
        "video": "tvqa/s01.mp4",
        "start": 3.5,
        "end": 20,
        "source_set": "tvqa",
        "QA": [{"i": "", "q": "Who speaks?", "a": "(A) Ross"}, {"i": "Explain.", "q": "Why?", "a": "Because."}],
    },
    {"video": "webvid/9.mp4", "QA": [{"i": "Describe the video in detail.", "q": "", "a": "A dog runs."}]},
]


def test_videochat2_instruction_as_system_message() -> None:
    first, second, caption = from_videochat2(VIDEOCHAT2, source="vc2")
    assert first.id == "videochat2-0" and first.video == "clevrer/0001.mp4"
    assert first.messages == [
        {"role": "system", "content": "Watch the video and answer."},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "How many cubes?"}]},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": "What moves first?"},
        {"role": "assistant", "content": "The sphere."},
    ]
    assert (second.start, second.end) == (3.5, 20)
    assert second.meta == {"source_set": "tvqa", "source": "vc2"}
    assert second.messages[0]["role"] == "user"  # no instruction in the first QA: no system message
    assert second.messages[2] == {"role": "user", "content": "Explain.\nWhy?"}  # a new instruction is prefixed
    assert caption.messages == [
        {"role": "system", "content": "Describe the video in detail."},
        {"role": "user", "content": [{"type": "video"}]},
        {"role": "assistant", "content": "A dog runs."},
    ]
    for record in (first, second, caption):
        assert check_record(record.to_dict()) == []


def test_videochat2_instruction_prefixed() -> None:
    first, _, caption = from_videochat2(VIDEOCHAT2, instruction="prefix")
    assert [m["role"] for m in first.messages] == ["user", "assistant", "user", "assistant"]
    assert first.messages[0]["content"][1] == {"type": "text", "text": "Watch the video and answer.\nHow many cubes?"}
    assert first.messages[2]["content"] == "Watch the video and answer.\nWhat moves first?"
    assert caption.messages[0]["content"] == [{"type": "video"}, {"type": "text", "text": "Describe the video in detail."}]
    with pytest.raises(ValueError, match="instruction"):
        from_videochat2(VIDEOCHAT2, instruction="user")  # type: ignore[arg-type]


def test_videochat2_bad_items() -> None:
    with pytest.raises(RecordError, match=r"item 0: needs a non-empty 'QA'"):
        from_videochat2([{"video": "a.mp4"}])
    with pytest.raises(RecordError, match=r"QA\[1\] has no question"):
        from_videochat2([{"video": "a.mp4", "QA": [{"q": "x", "a": "y"}, {"q": "", "a": "z"}]}])
    with pytest.raises(RecordError, match=r"QA\[0\].a must be"):
        from_videochat2([{"video": "a.mp4", "QA": [{"q": "x", "a": ""}]}])


def test_captions_from_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "captions.csv"
    csv_path.write_text("video,caption,id,start,end,language\n"
                        'a.mp4,"A kangaroo, hopping.",k1,1.5,4,en\n'
                        "b.mp4,两只袋鼠。,,,,zh\n", encoding="utf-8-sig")
    first, second = import_file("captions", csv_path, prompt="What happens?")
    assert first.to_dict() == {
        "id": "k1",
        "video": "a.mp4",
        "start": 1.5,
        "end": 4.0,
        "messages": [
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]},
            {"role": "assistant", "content": "A kangaroo, hopping."},
        ],
        "meta": {"task": "caption", "language": "en"},
    }
    assert second.id == "caption-1" and second.messages[1]["content"] == "两只袋鼠。"
    assert second.start is None and second.meta["language"] == "zh"
    jsonl = tmp_path / "captions.jsonl"
    jsonl.write_text(json.dumps({"video": "c.mp4", "caption": "Rain.", "score": 0.9}) + "\n")
    (record,) = import_file("captions", jsonl)
    assert record.messages[0]["content"][1]["text"] == "Describe the video."
    assert record.meta == {"task": "caption", "score": 0.9}
    assert check_record(record.to_dict()) == []


def test_captions_bad_rows() -> None:
    with pytest.raises(RecordError, match=r"item 1: needs a non-empty 'caption'"):
        from_captions([{"video": "a.mp4", "caption": "x"}, {"video": "b.mp4", "caption": " "}])
    with pytest.raises(RecordError, match=r"'start' must be seconds"):
        from_captions([{"video": "a.mp4", "caption": "x", "start": "soon"}])
    with pytest.raises(ValueError, match="prompt"):
        from_captions([], prompt=" ")


def test_import_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "conversations": [{"from": "human", "value": "q"}]}\n{oops\n')
    with pytest.raises(RecordError, match=r"bad.jsonl:2: invalid JSON"):
        import_file("llava", bad)
    with pytest.raises(ValueError, match="unknown import format"):
        import_file("sharegpt", bad)


def test_relative_to_root_and_missing_videos(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "here.mp4").write_bytes(b"")
    records = from_captions([{"video": str(tmp_path / "v" / "here.mp4"), "caption": "x"},
                             {"video": "gone.mp4", "caption": "y"}])
    rebased = relative_to_root(records, tmp_path)
    assert [r.video for r in rebased] == ["v/here.mp4", "gone.mp4"]
    assert missing_videos(rebased, tmp_path) == [("caption-1", tmp_path / "gone.mp4")]
    with pytest.raises(RecordError, match="not under the root"):
        relative_to_root(records, tmp_path / "v" / "elsewhere")
