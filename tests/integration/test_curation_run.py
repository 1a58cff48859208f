"""Whole curation runs on generated videos: every filter's drops with reasons, exactly-once output,
the Ray executor equal to the local one, SIGKILL then resume, the error budget, captioning in a
pipeline, the report, and threshold calibration."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from curation_fixtures import make_videos
from kangaroo.curation import parse_pipeline
from kangaroo.curation.executors import LocalExecutor, RayExecutor
from kangaroo.curation.run import CurationError, curate

pytestmark = pytest.mark.integration

FILTERS = [
    {"step": "scene_cut", "min_duration": 1.0, "max_duration": 30.0},
    {"step": "text_coverage", "threshold": 0.02},  # written out of order: the pipeline runs it last
    {"step": "static_scene", "threshold": 0.05},
    {"step": "face_coverage", "threshold": 0.1},
    {"step": "category_balance", "cap": 0.34},
]


def _pipeline(shard_size=3, error_budget=0.2, steps=FILTERS):
    return parse_pipeline({"name": "test", "steps": steps, "run": {"shard_size": shard_size, "error_budget": error_budget}})


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _outcome(out):
    """Sorted kept records and sorted (id, step, reason) of the excluded ones."""
    kept = sorted(_lines(out / "kept.jsonl"), key=lambda r: r["id"])
    excluded = sorted((r["id"], r["step"], r["reason"]) for r in _lines(out / "excluded.jsonl"))
    return kept, excluded


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("curation") / "videos"
    return root, make_videos(root)


@pytest.fixture(scope="module")
def local_run(videos, tmp_path_factory):
    root, _ = videos
    out = tmp_path_factory.mktemp("local") / "out"
    stats = curate(_pipeline(), root, out, LocalExecutor(1))
    return out, stats


def test_each_filter_drops_the_right_clips_with_reasons(videos, local_run):
    _, kinds = videos
    out, stats = local_run
    assert [name for name in stats["steps"]] == ["scene_cut", "static_scene", "face_coverage", "text_coverage",
                                                  "category_balance"]  # cheap steps first
    excluded = _lines(out / "excluded.jsonl")
    by_source = {}
    for row in excluded:
        by_source.setdefault(row["id"].split("#")[0], []).append(row)
    for path, kind in kinds.items():
        reasons = {(r["step"], r["reason"]) for r in by_source.get(path, [])}
        if kind == "text":
            assert ("text_coverage", "text_coverage") in reasons
        elif kind == "face":
            assert ("face_coverage", "face_coverage") in reasons
        elif kind == "static":
            assert ("static_scene", "static") in reasons
        elif kind == "corrupt":
            [row] = by_source[path]
            assert (row["step"], row["reason"]) == ("scene_cut", "undecodable") and "broken.mp4" in row["detail"]
    text_values = [r["value"] for r in excluded if r["reason"] == "text_coverage"]
    assert text_values and min(text_values) > 0.02
    kept = _lines(out / "kept.jsonl")
    assert all(r["meta"]["measures"]["text_coverage"] <= 0.02 for r in kept)
    assert all(r["end"] - r["start"] >= 1.0 for r in kept)  # clip bounds, exact seconds
    # category balance: no category above floor(0.34 * clips reaching it)
    plan = json.loads((out / "plans" / "category_balance.json").read_text())
    kept_per_category = {}
    for r in kept:
        kept_per_category[r["meta"]["category"]] = kept_per_category.get(r["meta"]["category"], 0) + 1
    assert max(kept_per_category.values()) <= plan["limit"]
    assert any(r["reason"] == "category_cap" for r in excluded)


def test_every_record_is_kept_or_excluded_exactly_once(videos, local_run):
    _, kinds = videos
    out, stats = local_run
    kept, excluded = _lines(out / "kept.jsonl"), _lines(out / "excluded.jsonl")
    ids = [r["id"] for r in kept] + [r["id"] for r in excluded]
    assert len(ids) == len(set(ids))
    sources = {i.split("#")[0] for i in ids}
    assert sources == set(kinds)  # every input video is accounted for
    assert stats["kept"] == len(kept) and stats["excluded"] == len(excluded)
    for name, step in stats["steps"].items():  # the funnel adds up
        assert step["in"] - step["out"] == sum(step["dropped"].values()) + step["quarantined"] or name == "scene_cut"


def test_report_has_the_funnel_categories_distributions_and_examples(local_run):
    out, _ = local_run
    text = (out / "report.md").read_text()
    for heading in ("## Funnel", "## Categories", "## Measured values", "## Examples"):
        assert heading in text
    for image in ("funnel.png", "categories.png", "measure_text_coverage.png", "measure_static_scene.png"):
        assert (out / "report" / image).read_bytes()[:4] == b"\x89PNG"
    assert "text_coverage: text_coverage" in text and "undecodable" in text


def test_ray_executor_gives_the_same_output(videos, local_run, tmp_path):
    root, _ = videos
    executor = RayExecutor(workers=2)
    try:
        curate(_pipeline(), root, tmp_path / "ray", executor, report=False)
    finally:
        executor.close()
    assert _outcome(tmp_path / "ray") == _outcome(local_run[0])


def test_sigkill_mid_run_then_resume_gives_the_same_output_once(videos, local_run, tmp_path):
    root, _ = videos
    pipeline_file = tmp_path / "pipeline.yaml"
    pipeline_file.write_text(json.dumps({"name": "test", "steps": FILTERS,
                                         "run": {"shard_size": 1, "error_budget": 0.2}}))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "kangaroo.cli", "curate", str(pipeline_file), "--input", str(root),
               "--output", str(out), "--no-report", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list((out / "phase-1").glob("*.stats.json"))) < 3 and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    committed = len(list((out / "phase-1").glob("*.stats.json")))
    assert 3 <= committed < len(list((out / "inputs").glob("shard-*.jsonl")))  # killed mid-phase
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert _outcome(out) == _outcome(local_run[0])  # shard size does not change the result


def test_error_budget_stops_the_run_and_keeps_finished_shards(videos, tmp_path):
    root, _ = videos
    with pytest.raises(CurationError, match="error budget exceeded"):
        curate(_pipeline(shard_size=2, error_budget=0.0), root, tmp_path / "out", LocalExecutor(1))
    assert list((tmp_path / "out" / "phase-1").glob("*.stats.json"))
    assert not (tmp_path / "out" / "kept.jsonl").exists()


def test_an_output_folder_of_another_pipeline_is_refused(videos, local_run):
    root, _ = videos
    with pytest.raises(CurationError, match="another pipeline"):
        curate(_pipeline(error_budget=0.5), root, local_run[0], LocalExecutor(1))


def test_captioning_in_a_pipeline_writes_training_records(tmp_path, monkeypatch):
    from kangaroo.data.records import Record

    monkeypatch.setenv("KANGAROO_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "videos"
    kinds = make_videos(root)
    keep_two = [p for p, k in kinds.items() if k == "clean"][:2]
    manifest = tmp_path / "inputs.txt"
    manifest.write_text("\n".join(str(root / p) for p in keep_two) + "\n")
    steps = [{"step": "captioning", "segments": 5, "seed": 0,
              "frame_captioner": {"backend": "kangaroo", "model_dir": "tiny-random", "max_new_tokens": 8},
              "summarizers": [{"backend": "kangaroo", "model_dir": "tiny-random", "max_new_tokens": 12}]},
             {"step": "caption_refinement", "threshold": 1.0}]
    stats = curate(_pipeline(steps=steps), manifest, tmp_path / "out", LocalExecutor(1), report=False)
    kept = _lines(tmp_path / "out" / "kept.jsonl")
    assert stats["inputs"] == 2 and len(kept) + stats["excluded"] == 2
    for record in kept:
        Record.from_dict(record)  # a valid training record: video, messages with the caption
        assert record["messages"][-1]["role"] == "assistant"
        assert len(record["meta"]["captioning"]["frame_times"]) == 5


def test_calibrate_cli_separates_labelled_clips(videos, tmp_path):
    root, kinds = videos
    labels = tmp_path / "labels.jsonl"
    rows = [{"video": str(root / p), "label": "drop" if k == "text" else "keep"}
            for p, k in kinds.items() if k in ("text", "clean")]
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pipeline_file = tmp_path / "p.yaml"
    pipeline_file.write_text(json.dumps({"steps": [{"step": "text_coverage", "threshold": 0.5}]}))
    result = subprocess.run([sys.executable, "-m", "kangaroo.cli", "curate-calibrate", str(pipeline_file),
                             "--step", "text_coverage", "--labels", str(labels), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    best = next(s for s in report["sweep"] if s["threshold"] == report["best"])
    assert (best["precision"], best["recall"]) == (1.0, 1.0)
    drop_values = [v["value"] for v in report["values"] if v["label"] == "drop"]
    keep_values = [v["value"] for v in report["values"] if v["label"] == "keep"]
    assert max(keep_values) <= report["suggested"] < min(drop_values)
    bad = subprocess.run([sys.executable, "-m", "kangaroo.cli", "curate-calibrate", str(pipeline_file),
                          "--step", "static_scene", "--labels", str(labels)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no step 'static_scene'" in bad.stderr


def test_worker_processes_give_the_same_output(videos, local_run, tmp_path):
    root, _ = videos
    executor = LocalExecutor(workers=2)
    try:
        curate(_pipeline(shard_size=2), root, tmp_path / "two", executor, report=False)
    finally:
        executor.close()
    assert _outcome(tmp_path / "two") == _outcome(local_run[0])
