"""The harness as users rely on it: resume after an interruption, shards merged, videos that fail
recorded as errors, other settings refused, kangaroo batches equal single prompts, reports."""

import json
import subprocess
import sys

import pytest

from benchmark_fixtures import mvbench, videomme
from kangaroo.eval.backends.kangaroo import KangarooBackend
from kangaroo.eval.backends.reference import ConstantBackend, OracleBackend
from kangaroo.eval.report import write_report
from kangaroo.eval.runner import EvalSettingsError, Shard, run_task
from kangaroo.eval.task import load_task

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mvbench_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mvbench")
    return root, mvbench.write(root)


def _predictions(folder):
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


class _InterruptAfter(ConstantBackend):
    """Replies like ConstantBackend, then raises KeyboardInterrupt on the n-th batch (Ctrl-C)."""

    def __init__(self, batches, reply):
        super().__init__(reply)
        self.batch_size = 2
        self.left = batches

    def generate(self, requests):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().generate(requests)


def test_resume_after_interruption_gives_the_same_results(mvbench_dir, tmp_path):
    data, _ = mvbench_dir
    task = load_task("mvbench")
    reference = run_task(ConstantBackend("B"), task, data, tmp_path / "straight", frames=4)

    with pytest.raises(KeyboardInterrupt):
        run_task(_InterruptAfter(1, "B"), task, data, tmp_path / "resumed", frames=4)
    folder = tmp_path / "resumed" / "mvbench" / "frames_4"
    assert len(_predictions(folder)) == 2 and not (folder / "metrics.json").exists()
    with (folder / "predictions.jsonl").open("a") as f:
        f.write('{"id": "torn')  # a write cut short by a kill

    calls = []

    class Counting(ConstantBackend):
        def generate(self, requests):
            calls.extend(r.sample.id for r in requests)
            return super().generate(requests)

    resumed = run_task(Counting("B"), task, data, tmp_path / "resumed", frames=4)
    assert len(calls) == 3  # only the samples not done before
    straight = _predictions(tmp_path / "straight" / "mvbench" / "frames_4")
    assert _predictions(folder) == straight
    assert {k: v for k, v in resumed.items() if k != "finished"} == {
        k: v for k, v in reference.items() if k != "finished"}


def test_shards_merge_into_the_unsharded_result(mvbench_dir, tmp_path):
    data, _ = mvbench_dir
    task = load_task("mvbench")
    whole = run_task(OracleBackend(), task, data, tmp_path / "whole", frames=4)
    assert run_task(OracleBackend(), task, data, tmp_path / "sharded", frames=4, shard=Shard(1, 2)) is None
    merged = run_task(OracleBackend(), task, data, tmp_path / "sharded", frames=4, shard=Shard(0, 2))
    assert merged["overall"] == whole["overall"] and merged["groups"] == whole["groups"]
    folder = tmp_path / "sharded" / "mvbench" / "frames_4"
    sizes = [len((folder / f"predictions.shard-{i}-of-2.jsonl").read_text().splitlines()) for i in (0, 1)]
    assert sizes == [3, 2]


def test_a_video_that_fails_is_an_error_not_an_answer(tmp_path):
    data = tmp_path / "data"
    expected = mvbench.write(data)
    broken = data / "video" / "clevrer" / "video_validation" / "video_10000.mp4"
    broken.write_bytes(b"not a video at all")
    metrics = run_task(OracleBackend(), load_task("mvbench"), data, tmp_path / "out", frames=4)
    overall = metrics["overall"]
    assert (overall["total"], overall["errors"], overall["scored"]) == (len(expected), 1, len(expected) - 1)
    assert overall["accuracy"] == 100.0  # the error is reported, not scored as a wrong answer
    [error] = metrics["errors"]
    assert error["id"] == "object_existence/0" and "video_10000.mp4" in error["error"]
    result = _predictions(tmp_path / "out" / "mvbench" / "frames_4")["object_existence/0"]
    assert result["status"] == "error" and result["error_kind"] == "video" and "reply" not in result
    report = write_report(tmp_path / "out", plots=False)
    text = report["markdown"].read_text()
    assert "100.0*" in text and "object_existence/0" in text


def test_results_made_with_other_settings_are_not_mixed(mvbench_dir, tmp_path):
    data, _ = mvbench_dir
    task = load_task("mvbench")
    run_task(ConstantBackend("A"), task, data, tmp_path, frames=4, limit=2)
    with pytest.raises(EvalSettingsError, match="prompt"):
        run_task(ConstantBackend("A"), task, data, tmp_path, frames=4, limit=2, prompt="lmms_eval")
    with pytest.raises(EvalSettingsError, match="model"):
        run_task(ConstantBackend("C"), task, data, tmp_path, frames=4, limit=2)


def test_kangaroo_batches_answer_like_single_prompts(mvbench_dir, tmp_path):
    data, _ = mvbench_dir
    task = load_task("mvbench")  # assistant prefix, bounds, a frame folder, options of 3-5
    model_dir = tmp_path / "model"
    from kangaroo.inference.loading import ensure_tiny_random

    model_dir = ensure_tiny_random(tmp_path / "cache")
    single = run_task(KangarooBackend(model_dir), task, data, tmp_path / "one", frames=4)
    batched = run_task(KangarooBackend(model_dir, batch_size=3), task, data, tmp_path / "three", frames=4)
    one, three = (_predictions(tmp_path / d / "mvbench" / "frames_4") for d in ("one", "three"))
    assert {k: r["reply"] for k, r in one.items()} == {k: r["reply"] for k, r in three.items()}
    assert single["overall"] == batched["overall"]
    manifest = json.loads((tmp_path / "three" / "mvbench" / "frames_4" / "manifest.json").read_text())
    assert manifest["model"]["random_weights"] is True and manifest["frames"] == 4
    assert manifest["prompt"]["assistant_prefix"] == "Best option:(" and "strict" in manifest["extraction"]


def test_report_tables_and_plots(tmp_path):
    video_mme = tmp_path / "videomme"
    videomme.write(video_mme)
    out = tmp_path / "out"
    for name in ("videomme", "videomme_sub"):
        for frames in (2, 4):
            run_task(OracleBackend(), load_task(name), video_mme, out, frames=frames)
    paths = write_report(out)
    text = paths["markdown"].read_text()
    assert "Table IV" in text and "| Short w/o subs | Short w subs |" in text
    row = next(line for line in text.splitlines() if line.startswith("| oracle |"))
    assert row.count("100.0") == 8 and "| 2/4 |" not in row and "| 4 |" in row  # the largest frame count
    assert paths["accuracy_vs_frames"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["accuracy_by_task"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(paths["json"].read_text())
    assert {(r["task"], r["frames"]) for r in summary["runs"]} == {
        (t, f) for t in ("videomme", "videomme_sub") for f in (2, 4)}


def _kangaroo(*args, cwd):
    return subprocess.run([sys.executable, "-m", "kangaroo.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_runs_synthetic_tasks_resumes_and_reports(tmp_path, monkeypatch):
    env_cache = tmp_path / "cache"
    monkeypatch.setenv("KANGAROO_CACHE", str(env_cache))
    args = ["eval", "--task", "synth_mcq,synth_grounding_zh", "-d", "data", "--limit", "3", "-o", "out", "-b", "2"]
    first = _kangaroo(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "RANDOM weights" not in first.stderr and "synth_mcq" in first.stdout  # the bundled model by default
    assert (tmp_path / "data" / "synth" / "mcq_count_test.jsonl").is_file()
    assert (tmp_path / "data" / "synth_zh" / "grounding_test.jsonl").is_file()
    predictions = (tmp_path / "out" / "synth_mcq" / "frames_16" / "predictions.jsonl").read_text()
    assert len(predictions.splitlines()) == 3
    rerun = _kangaroo(*args, cwd=tmp_path)  # everything done: nothing is asked again
    assert rerun.returncode == 0
    assert (tmp_path / "out" / "synth_mcq" / "frames_16" / "predictions.jsonl").read_text() == predictions
    text = (tmp_path / "out" / "results.md").read_text()
    assert "Synth MCQ" in text and "Synth grounding (zh)" in text

    report = _kangaroo("eval-report", "out", "--compare", "out", "--no-plots", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    bad = _kangaroo("eval", "--task", "no_such_task", "-d", "data", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown task 'no_such_task'" in bad.stderr
    missing = _kangaroo("eval", "--task", "mvbench", "-d", "nowhere", "--backend", "oracle", cwd=tmp_path)
    assert missing.returncode == 2 and "no such data directory" in missing.stderr


def test_torchrun_shards_over_processes_and_merges(mvbench_dir, tmp_path):
    data, expected = mvbench_dir
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "kangaroo.cli", "eval", "--task", "mvbench", "-d", str(data), "--backend", "oracle",
               "--frames", "4", "-o", str(tmp_path / "out"), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "out" / "mvbench" / "frames_4"
    assert sorted(p.name for p in folder.glob("predictions*.jsonl")) == [
        "predictions.shard-0-of-2.jsonl", "predictions.shard-1-of-2.jsonl"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["overall"]["scored"] == len(expected) and metrics["overall"]["accuracy"] == 100.0
    assert (tmp_path / "out" / "results.md").is_file()


def test_questions_about_one_video_decode_it_once(tmp_path):
    data = tmp_path / "videomme"
    expected = videomme.write(data)
    loads = []

    class Counting(OracleBackend):
        def load_video(self, sample, sampling):
            loads.append(sample.video)
            return super().load_video(sample, sampling)

    metrics = run_task(Counting(), load_task("videomme"), data, tmp_path / "out", frames=4)
    assert metrics["overall"]["scored"] == len(expected) == 5
    assert len(loads) == len(set(loads)) == 3  # 5 questions about 3 videos


def test_kangaroo_encodes_each_loaded_video_once(tmp_path):
    from kangaroo.inference.loading import ensure_tiny_random

    data = tmp_path / "videomme"
    videomme.write(data)
    backend = KangarooBackend(ensure_tiny_random(tmp_path / "cache"), batch_size=2)
    encoded = []
    original = backend.model.get_video_features

    def counting(pixel_values, timestamps, counts):
        encoded.extend(counts)
        return original(pixel_values, timestamps, counts)

    backend.model.get_video_features = counting
    run_task(backend, load_task("videomme"), data, tmp_path / "out", frames=4)
    assert encoded == [4, 4, 4]  # 3 videos, 5 questions: the vision branch ran once per video
    reference = run_task(KangarooBackend(ensure_tiny_random(tmp_path / "cache")), load_task("videomme"), data,
                         tmp_path / "ref", frames=4)
    replies = {k: r["reply"] for k, r in _predictions(tmp_path / "out" / "videomme" / "frames_4").items()}
    assert replies == {k: r["reply"] for k, r in _predictions(tmp_path / "ref" / "videomme" / "frames_4").items()}
    assert reference["overall"]["scored"] == 5


def test_look_answers_are_scored_by_their_word(tmp_path):
    import dataclasses

    base = load_task("synth_look")
    task = dataclasses.replace(base, data={**base.data, "num": 20})
    oracle = run_task(OracleBackend(), task, tmp_path / "data", tmp_path / "oracle")["overall"]
    assert oracle["keyword_recall"] == 100.0 and oracle["scored"] >= 12  # top / bottom name no keyword
    rows = _predictions(tmp_path / "oracle" / "synth_look" / "frames_16")
    assert {r["groups"]["question_type"] for r in rows.values() if "keyword_recall" in r} >= {"colour", "shape", "side"}
    red = run_task(ConstantBackend("red"), task, tmp_path / "data", tmp_path / "constant")["overall"]
    assert red["keyword_recall"] < 25.0


@pytest.mark.parametrize("name", ["synth_open", "synth_open_zh"])
def test_open_answers_are_scored_by_keyword_recall(name, tmp_path):
    import dataclasses

    base = load_task(name)
    task = dataclasses.replace(base, data={**base.data, "num": 3})
    oracle = run_task(OracleBackend(), task, tmp_path / "data", tmp_path / "oracle")["overall"]
    assert oracle["keyword_recall"] == 100.0 and oracle["accuracy"] == 100.0 and oracle["scored"] >= 6
    wrong = run_task(ConstantBackend("A cyan ring moves to the right." if name == "synth_open" else "青色圆环向右移动。"),
                     task, tmp_path / "data", tmp_path / "constant")
    assert wrong["overall"]["keyword_recall"] < 40.0
    rows = _predictions(tmp_path / "constant" / name / "frames_16")
    scored = [r for r in rows.values() if "keyword_recall" in r]
    assert all(set(r["keywords_found"]) | set(r["keywords_missing"]) for r in scored)
    assert "keyword recall" in write_report(tmp_path / "constant", plots=False)["markdown"].read_text()
