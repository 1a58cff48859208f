"""The EgoSchema reader (answered subset and full set) on a tiny fixture, and its task YAMLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import egoschema as fixture
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.egoschema import read
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import load_task


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, **options) -> dict[str, EvalSample]:
    return {s.id: s for s in read(root, options, False)}


def _rewrite(root: Path, name: str, edit) -> None:
    path = root / name
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_subset_ids_letters_options(bench):
    root, expected = bench
    samples = _by_id(root)
    assert list(samples) == list(fixture.SUBSET_ANSWERS)  # questions.json order, subset only
    assert {k: s.answer for k, s in samples.items()} == expected
    assert sorted(expected.values()) == ["A", "D", "E"]
    uid = "0074f737-11cb-497d-8d07-77c3a8127391"
    sample = samples[uid]
    assert sample.options == [f"Option {i} of clip 1." for i in range(5)] and sample.letters == list("ABCDE")
    assert sample.question == "What is C's main goal in clip 1?"
    assert sample.video == str(root / "videos" / f"{uid}.mp4") and sample.error is None
    assert (sample.groups, sample.start, sample.end) == ({}, None, None)


def test_full_set_has_no_answers(bench):
    root, _ = bench
    samples = read_samples("egoschema", root, load_task("egoschema_full").data)
    assert len(samples) == 5 and {s.answer for s in samples} == {None}
    assert samples[0].id == fixture.OTHERS[0] and samples[-1].id == fixture.OTHERS[1]


def test_missing_video_gives_sample_error(bench):
    root, _ = bench
    uid = "00b9a0de-c59e-49cb-a127-6081e2fb8c8e"
    (root / "videos" / f"{uid}.mp4").unlink()
    samples = _by_id(root)
    assert samples[uid].error == f"video not found: {root / 'videos' / uid}.mp4"
    assert sum(s.error is not None for s in samples.values()) == 1


def test_missing_files(bench):
    root, _ = bench
    (root / "subset_answers.json").unlink()
    assert len(_by_id(root, subset=False)) == 5  # the full set needs no answers
    with pytest.raises(BenchmarkDataError, match=r"subset_answers\.json: annotation file not found"):
        _by_id(root)
    (root / "questions.json").unlink()
    with pytest.raises(BenchmarkDataError, match=r"questions\.json: annotation file not found"):
        _by_id(root, subset=False)


@pytest.mark.parametrize(("row", "edit", "message"), [
    (2, lambda row: row.pop("option 1"), "expected the keys 'option 0'"),
    (2, lambda row: row.update({"option 0": 7}), "'option 0' must be a string"),
    (2, lambda row: row.pop("q_uid"), "'q_uid'"),
    (3, lambda row: row.pop("option 4"), "answer index 4 .* out of range"),  # its answer is E
])
def test_malformed_row_names_file_and_row(bench, row, edit, message):
    root, _ = bench
    _rewrite(root, "questions.json", lambda rows: edit(rows[row]))
    with pytest.raises(BenchmarkDataError, match=message) as caught:
        _by_id(root)
    assert f"questions.json: row {row}" in str(caught.value)


def test_bad_answers_file(bench):
    root, _ = bench
    _rewrite(root, "subset_answers.json", lambda answers: answers.update({"ffff": 1}))
    with pytest.raises(BenchmarkDataError, match="1 q_uids of the answer file are not among the questions"):
        _by_id(root)
    _rewrite(root, "subset_answers.json", lambda answers: answers.update({"ffff": "one"}))
    with pytest.raises(BenchmarkDataError, match="must be an option index"):
        _by_id(root)
    with pytest.raises(BenchmarkDataError, match="'subset' must be true or false"):
        _by_id(root, subset="no")


def test_task_yamls_and_prompt(bench):
    root, _ = bench
    subset, full = load_task("egoschema"), load_task("egoschema_full")
    assert (subset.data["subset"], subset.submission) == (True, False)
    assert (full.data["subset"], full.submission, full.data["questions"]) == (False, True, "questions.json")
    sample = next(iter(_by_id(root, **subset.data).values()))
    prompt = subset.prompt_variant()
    options = "\n".join(prompt.option.format(letter=k, text=t) for k, t in zip(sample.letters, sample.options, strict=True))
    text = prompt.user.format_map({"question": sample.question, "options": options, "subtitles": "",
                                   "letters": "", "duration": ""})
    assert text == (f"{sample.question}\nA. Option 0 of clip 1.\nB. Option 1 of clip 1.\nC. Option 2 of clip 1.\n"
                    "D. Option 3 of clip 1.\nE. Option 4 of clip 1.\n"
                    "Answer with the option's letter from the given choices directly.")
