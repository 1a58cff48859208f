"""Unit tests of kangaroo.video.subtitles: parsing, encoding detection, timing queries."""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import numpy as np
import pytest

from kangaroo.video.errors import SubtitleError, VideoError, VideoNotFoundError
from kangaroo.video.subtitles import SubtitleLine, Subtitles, load_subtitles


def srt(*cues: tuple[str, str, str]) -> str:
    """An SRT document from ``(start, end, text)`` cues with ``HH:MM:SS,mmm`` times."""
    return "".join(f"{i}\n{start} --> {end}\n{text}\n\n" for i, (start, end, text) in enumerate(cues, 1))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def subs(*events: tuple[float, float, str]) -> Subtitles:
    return Subtitles([SubtitleLine(*e) for e in events], "test")


# --- parsing -------------------------------------------------------------------------------------


def test_srt_several_events(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.srt",
        srt(
            ("00:00:01,000", "00:00:02,500", "Hello there."),
            ("00:00:03,000", "00:00:04,000", "<i>Two</i>\n  lines  "),
            ("00:01:00,250", "01:00:00,000", '<font color="white" size=".72c">Font tag</font>'),
        ),
    )
    s = load_subtitles(path)
    assert s.source == str(path)
    assert s.events == [
        SubtitleLine(1.0, 2.5, "Hello there."),
        SubtitleLine(3.0, 4.0, "Two\nlines"),
        SubtitleLine(60.25, 3600.0, "Font tag"),
    ]


def test_events_are_sorted_by_start_and_empty_ones_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "b.srt",
        srt(
            ("00:00:05,000", "00:00:06,000", "later"),
            ("00:00:01,000", "00:00:02,000", "earlier"),
            ("00:00:03,000", "00:00:04,000", "   "),
            ("00:00:07,000", "00:00:07,000", "zero length"),
        ),
    )
    assert [e.text for e in load_subtitles(path).events] == ["earlier", "later"]


def test_ass_override_tags_newlines_comments_and_drawings(tmp_path: Path) -> None:
    ass = (
        "[Script Info]\nScriptType: v4.00+\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize\nStyle: Default,Arial,20\n\n"
        "[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        "Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,{\\i1}Hello{\\i0}\\Nworld, {\\b1}again{\\b0}\n"
        "Comment: 0,0:00:01.00,0:00:03.00,Default,,0,0,0,,a comment\n"
        "Dialogue: 0,0:00:01.00,0:00:03.00,Default,,0,0,0,,{\\p1}m 0 0 l 100 0 100 100{\\p0}\n"
        "Dialogue: 0,0:00:00.50,0:00:01.50,Default,,0,0,0,,{\\pos(10,20)}  \n"
        "Dialogue: 0,0:00:00.20,0:00:00.80,Default,,0,0,0,,{\\an8}Top\\hline\n"
    )
    s = load_subtitles(write(tmp_path, "c.ass", ass))
    assert s.events == [
        SubtitleLine(0.2, 0.8, "Top line"),
        SubtitleLine(1.0, 2.5, "Hello\nworld, again"),
    ]


def test_vtt_cue_ids_notes_voice_tags_and_entities(tmp_path: Path) -> None:
    vtt = (
        "WEBVTT\n\nNOTE a header comment\n\n"
        "intro\n00:01.000 --> 00:02.500 align:start\n<v Bob>Tom &amp; Jerry</v>\n\n"
        "NOTE a comment between cues\n\n"
        "second-cue\n00:00:03.000 --> 00:00:04.000\n1 &lt; 2\n"
    )
    s = load_subtitles(write(tmp_path, "d.vtt", vtt))
    assert s.events == [SubtitleLine(1.0, 2.5, "Tom & Jerry"), SubtitleLine(3.0, 4.0, "1 < 2")]


def test_format_comes_from_content_not_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "mislabelled.ass", srt(("00:00:01,000", "00:00:02,000", "srt inside")))
    assert load_subtitles(path).events == [SubtitleLine(1.0, 2.0, "srt inside")]


def test_extension_settles_ambiguous_content(tmp_path: Path) -> None:
    # A caption line like "10:00:00:..." also looks like the TMP format to pysubs2.
    content = srt(("00:00:01,000", "00:00:02,000", "10:00:00:News at ten"))
    assert load_subtitles(write(tmp_path, "e.srt", content)).events == [
        SubtitleLine(1.0, 2.0, "10:00:00:News at ten")
    ]
    with pytest.raises(SubtitleError, match="Multiple suitable formats"):
        load_subtitles(write(tmp_path, "e.unknown", content))


def test_empty_file_has_no_events(tmp_path: Path) -> None:
    s = load_subtitles(write(tmp_path, "empty.srt", b"\n  \n"))
    assert s.events == []
    assert s.lines_at([1.0]) == [[]]


# --- encodings -----------------------------------------------------------------------------------

CHINESE = srt(
    ("00:00:01,000", "00:00:03,000", "大家好，欢迎来到我们的节目。"),
    ("00:00:03,500", "00:00:06,000", "今天我们要讨论长视频理解。"),
)
JAPANESE = srt(("00:00:01,000", "00:00:03,000", "こんにちは、世界。今日はいい天気ですね。"))
FRENCH = srt(
    ("00:00:01,000", "00:00:03,000", "Café déjà vu, naïve façade."),
    ("00:00:03,500", "00:00:06,000", "À bientôt, garçon — “merci”!"),
)


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (CHINESE, "gb18030"),
        (CHINESE, "gbk"),
        (JAPANESE, "shift_jis"),
        (FRENCH, "cp1252"),  # charset_normalizer alone would pick cp1250: "déjŕ", "naďve"
        (FRENCH, "utf-8"),
    ],
)
def test_encoding_is_detected(tmp_path: Path, text: str, codec: str) -> None:
    s = load_subtitles(write(tmp_path, "x.srt", text.encode(codec)))
    assert "\n".join(e.text for e in s.events) == "\n".join(
        line for line in text.splitlines() if line and not line[0].isdigit()
    )


@pytest.mark.parametrize(
    ("data", "first_line"),
    [
        (codecs.BOM_UTF16_LE + FRENCH.encode("utf-16-le"), "Café déjà vu, naïve façade."),
        (codecs.BOM_UTF16_BE + CHINESE.encode("utf-16-be"), "大家好，欢迎来到我们的节目。"),
        (codecs.BOM_UTF8 + CHINESE.encode("utf-8"), "大家好，欢迎来到我们的节目。"),
    ],
    ids=["utf16le", "utf16be", "utf8sig"],
)
def test_bom_is_honoured(tmp_path: Path, data: bytes, first_line: str) -> None:
    s = load_subtitles(write(tmp_path, "bom.srt", data))
    assert [(e.start, e.end) for e in s.events] == [(1.0, 3.0), (3.5, 6.0)]
    assert s.events[0].text == first_line


def test_utf8_bom_before_webvtt_header(tmp_path: Path) -> None:
    # A BOM left in the text would hide the "WEBVTT" header from pysubs2's format detection.
    vtt = (
        "WEBVTT\n\ncue-1\n00:01.000 --> 00:02.000\nFish &amp; chips\n\ncue-2\n00:03.000 --> 00:04.000\nTea\n"
    )
    s = load_subtitles(write(tmp_path, "bom.vtt", codecs.BOM_UTF8 + vtt.encode("utf-8")))
    assert s.events == [SubtitleLine(1.0, 2.0, "Fish & chips"), SubtitleLine(3.0, 4.0, "Tea")]


def test_explicit_encoding_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "f.srt", srt(("00:00:01,000", "00:00:02,000", "café")).encode("utf-8"))
    assert load_subtitles(path).events[0].text == "café"
    assert load_subtitles(path, encoding="latin-1").events[0].text == "cafÃ©"


def test_wrong_or_unknown_explicit_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "g.srt", CHINESE.encode("gb18030"))
    with pytest.raises(SubtitleError, match="cannot decode as utf-8") as info:
        load_subtitles(path, encoding="utf-8")
    assert info.value.source == str(path)
    with pytest.raises(SubtitleError, match="no-such-codec"):
        load_subtitles(path, encoding="no-such-codec")


# --- errors --------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.srt"
    with pytest.raises(VideoNotFoundError) as info:
        load_subtitles(path)
    assert info.value.source == str(path)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(VideoNotFoundError):
        load_subtitles(tmp_path)  # a directory


@pytest.mark.parametrize(
    "data",
    [
        random.Random(0).randbytes(4096),
        b"This is just some prose,\nnot a subtitle file at all.\n",
        b"[Script Info]\nScriptType: v4.00+\n[Events]\nDialogue: 0,broken\n",
        b"[V4+ Styles]\n[Events]\nDialogue: 0,abc,0:00:02.00,Default,,0,0,0,,hi\n",  # parser raises
        b"{10}{20}MicroDVD without a frame rate\n",
    ],
    ids=["random-bytes", "prose", "ass-without-styles", "bad-ass-timestamp", "microdvd-no-fps"],
)
def test_unparseable_file(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "bad.srt", data)
    with pytest.raises(SubtitleError) as info:
        load_subtitles(path)
    assert isinstance(info.value, VideoError)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is not None


# --- timing queries ------------------------------------------------------------------------------


def test_lines_at_overlapping_events() -> None:
    s = subs((1.0, 5.0, "long"), (2.0, 3.0, "short"), (2.5, 6.0, "late"), (10.0, 11.0, "far"))
    times = np.array([0.0, 2.6, 1.5, 4.0, 5.5, 7.0, 10.5])  # deliberately unsorted
    assert s.lines_at(times) == [
        [],
        ["long", "short", "late"],
        ["long"],
        ["long", "late"],
        ["late"],
        [],
        ["far"],
    ]


def test_start_is_inclusive_end_is_exclusive() -> None:
    s = subs((1.0, 2.0, "a"), (2.0, 3.0, "b"))
    assert s.lines_at(np.array([0.999, 1.0, 1.999, 2.0, 3.0])) == [[], ["a"], ["a"], ["b"], []]


def test_boundaries_from_parsed_millisecond_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "h.srt",
        srt(("00:00:00,100", "00:00:00,300", "a"), ("00:00:00,300", "00:00:00,700", "b")),
    )
    s = load_subtitles(path)
    assert s.text_at(np.array([0.1, 0.3, 0.7])) == ["a", "b", ""]


def test_lines_at_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 100, 300).round(2)
    ends = starts + rng.exponential(3, 300).round(2)
    s = subs(*((float(a), float(b), f"e{i}") for i, (a, b) in enumerate(zip(starts, ends, strict=True))))
    times = np.concatenate([rng.uniform(-5, 110, 500), starts[:50], ends[:50]])
    expected = [[e.text for e in s.events if e.start <= t < e.end] for t in times]
    assert s.lines_at(times) == expected


def test_empty_times() -> None:
    s = subs((0.0, 1.0, "a"))
    assert s.lines_at(np.array([], dtype=np.float64)) == []
    assert s.text_at(np.array([])) == []
    assert s.to_prompt(np.array([])) == ""


def test_times_must_be_one_dimensional() -> None:
    with pytest.raises(ValueError, match="1-D"):
        subs((0.0, 1.0, "a")).lines_at(np.zeros((2, 2)))


def test_text_at_joins_with_separator() -> None:
    s = subs((0.0, 2.0, "a"), (1.0, 2.0, "b"))
    assert s.text_at([0.5, 1.5, 2.5]) == ["a", "a\nb", ""]
    assert s.text_at([1.5], sep=" | ") == ["a | b"]


def test_lines_between_overlap_is_half_open() -> None:
    s = subs((0.0, 1.0, "a"), (1.0, 2.0, "b"), (1.5, 4.0, "c"), (5.0, 6.0, "d"))
    assert [e.text for e in s.lines_between(1.0, 2.0)] == ["b", "c"]
    assert [e.text for e in s.lines_between(0.5, 5.0)] == ["a", "b", "c"]
    assert s.lines_between(4.0, 5.0) == []


def test_to_prompt_deduplicates_in_order() -> None:
    s = subs(
        (0.0, 10.0, "Hello"),
        (2.0, 4.0, "World"),
        (5.0, 6.0, "Hello"),  # same text as an earlier event: kept once
        (6.5, 7.0, "Unsampled"),
        (7.0, 8.0, "Bye"),
    )
    assert s.to_prompt(np.array([1.0, 3.0, 3.5, 5.5, 7.5, 9.0])) == "Hello\nWorld\nBye"


def test_shift_returns_a_moved_copy() -> None:
    s = subs((60.0, 62.0, "a"), (65.0, 66.0, "b"))
    moved = s.shift(-60.0)
    assert moved is not s
    assert moved.events == [SubtitleLine(0.0, 2.0, "a"), SubtitleLine(5.0, 6.0, "b")]
    assert moved.source == s.source
    assert s.events[0] == SubtitleLine(60.0, 62.0, "a")
    assert moved.text_at([1.0, 5.5]) == s.text_at([61.0, 65.5])


def test_constructor_sorts_events_stably() -> None:
    s = subs((3.0, 4.0, "c"), (1.0, 2.0, "a"), (1.0, 5.0, "b"))
    assert [e.text for e in s.events] == ["a", "b", "c"]
