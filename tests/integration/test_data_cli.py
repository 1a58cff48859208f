"""`kangaroo data validate | import | export` through the typer app, on generated files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import kangaroo.cli.data_commands  # noqa: F401 - registers `kangaroo data`
from kangaroo.cli import app
from kangaroo.data import read_records
from kangaroo.video import write_video

pytestmark = pytest.mark.integration

LLAVA = [
    {"id": "v1", "video": "clips/v1.mp4", "data_source": "demo", "conversations": [
        {"from": "human", "value": "<image>\nWhat is shown?"}, {"from": "gpt", "value": "A red square."},
        {"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "Red."}]},
    {"id": "v2", "video": "clips/v2.mp4", "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Look <video> there. 袋鼠?"}, {"from": "gpt", "value": "No."}]},
]


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data_cli")
    (folder / "clips").mkdir()
    frames = [np.full((32, 32, 3), (200, 30, 30), dtype=np.uint8)] * 4
    write_video(folder / "clips" / "v1.mp4", frames, fps=4)
    write_video(folder / "clips" / "v2.mp4", frames, fps=4)
    (folder / "llava.json").write_text(json.dumps(LLAVA, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def test_import_validate_export_round_trip(root: Path, tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    result = invoke("data", "import", "llava", root / "llava.json", records, "--root", root)
    assert result.exit_code == 0, result.output
    assert "wrote 2 record(s)" in result.output and "warning" not in result.output
    assert [r.id for r in read_records(records)] == ["v1", "v2"]

    result = invoke("data", "validate", records, "--root", root)
    assert result.exit_code == 0, result.output
    assert "2 record(s): 0 error(s), 0 warning(s)" in result.output

    exported = tmp_path / "out.json"
    result = invoke("data", "export", "llava", records, exported)
    assert result.exit_code == 0, result.output
    assert json.loads(exported.read_text(encoding="utf-8")) == LLAVA


def test_validate_reports_problems_with_lines_and_exits_1(root: Path, tmp_path: Path) -> None:
    good = {"id": "a", "video": "clips/v1.mp4", "messages": [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "q"}]},
        {"role": "assistant", "content": "a"}]}
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([json.dumps(good), "{broken", json.dumps(good | {"video": "clips/none.mp4"}),
                               json.dumps(good | {"id": "b", "start": 0.5, "end": 30})]) + "\n")
    result = invoke("data", "validate", path, "--root", root)
    assert result.exit_code == 1, result.output
    out = result.output
    assert f"{path}:2: error invalid-json" in out
    assert f"{path}:1: error duplicate-id" in out and f"{path}:3: error duplicate-id" in out
    assert f"{path}:3: error missing-video" in out
    assert f"{path}:4: warning clip-outside-video" in out
    assert "4 record(s): 4 error(s), 1 warning(s)" in out

    result = invoke("data", "validate", path, "--root", root, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["records"], report["errors"], report["warnings"]) == (4, 4, 1)
    assert [(p["line"], p["code"]) for p in report["problems"]] == [
        (1, "duplicate-id"), (2, "invalid-json"), (3, "missing-video"), (3, "duplicate-id"), (4, "clip-outside-video"),
    ]


def test_warnings_only_exit_0(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    path.write_text(json.dumps({"id": "a", "video": "clips/v1.mp4", "end": 30, "messages": [
        {"role": "user", "content": [{"type": "video"}]}, {"role": "assistant", "content": "a"}]}) + "\n")
    result = invoke("data", "validate", path, "--root", root)
    assert result.exit_code == 0, result.output
    assert "0 error(s), 1 warning(s)" in result.output
    # without probing, the duration is unknown: nothing to warn about
    assert "0 error(s), 0 warning(s)" in invoke("data", "validate", path, "--root", root, "--no-probe").output


def test_bad_usage_exits_2_with_one_line(tmp_path: Path, root: Path) -> None:
    result = invoke("data", "validate", tmp_path / "missing.jsonl")
    assert result.exit_code == 2
    assert "error:" in result.output and "missing.jsonl" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "video": "a.mp4", "conversations": [{"from": "human", "value": "<video><video>"}]}]))
    result = invoke("data", "import", "llava", bad, tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert "item 0 (id 'x'): 2 <video>/<image> placeholder(s) but 1 video(s)" in result.output
    assert not (tmp_path / "out.jsonl").exists()
    assert invoke("data", "import", "sharegpt", bad, tmp_path / "o.jsonl").exit_code == 2
    assert invoke("data", "import", "llava", root / "llava.json", tmp_path / "o.jsonl", "--prompt", "x").exit_code == 2


def test_import_videochat2_and_captions(tmp_path: Path) -> None:
    vc2 = tmp_path / "vc2.json"
    vc2.write_text(json.dumps([{"video": "a.mp4", "QA": [{"i": "Watch.", "q": "What?", "a": "A dog."}]}]))
    out = tmp_path / "vc2.jsonl"
    result = invoke("data", "import", "videochat2", vc2, out, "--instruction", "prefix", "--source", "vc2")
    assert result.exit_code == 0, result.output
    (record,) = read_records(out)
    assert record.messages[0]["content"][1]["text"] == "Watch.\nWhat?" and record.meta == {"source": "vc2"}

    captions = tmp_path / "captions.csv"
    captions.write_text("video,caption\nclips/a.mp4,A dog runs.\n")
    out = tmp_path / "captions.jsonl"
    result = invoke("data", "import", "captions", captions, out, "--prompt", "What happens?", "--root", tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 video(s) not found" in result.output
    (record,) = read_records(out)
    assert record.messages[0]["content"][1]["text"] == "What happens?"
    assert record.messages[1]["content"] == "A dog runs."
