"""Every benchmark end to end on a tiny copy in its official format: read, sample frames for real,
prompt, reply, score, aggregate. An oracle must score 100%, a constant reply exactly its share."""

import importlib
import json
import subprocess
import sys

import pytest

from kangaroo.eval.backends.reference import ConstantBackend, OracleBackend
from kangaroo.eval.formats import find_data_root
from kangaroo.eval.runner import run_task
from kangaroo.eval.task import builtin_tasks, load_task

pytestmark = pytest.mark.integration

# fixture module -> the tasks that read it
BENCHMARKS = {
    "mvbench": ["mvbench"], "videomme": ["videomme", "videomme_sub"], "mlvu": ["mlvu"], "egoschema": ["egoschema"],
    "tempcompass": ["tempcompass"], "longvideobench": ["longvideobench", "longvideobench_sub"],
    "lvbench": ["lvbench"], "nextqa": ["nextqa"], "seedbench": ["seedbench_video"],
}
CASES = [(fixture, task) for fixture, tasks in BENCHMARKS.items() for task in tasks]
# fixture module -> (the folder a download makes, the folder holding the annotations under it), all
# side by side in one parent folder (as a user keeps them)
DOWNLOADS = {
    "mvbench": ("MVBench", "."), "videomme": ("Video-MME", "."), "mlvu": ("MVLU", "MLVU"),
    "egoschema": ("EgoSchema", "."), "tempcompass": ("TempCompass", "."), "longvideobench": ("LongVideoBench", "."),
    "lvbench": ("LVBench", "."), "nextqa": ("NExT-QA", "."), "seedbench": ("SEED-Bench", "."),
}


@pytest.fixture(scope="module")
def benchmark_parent(tmp_path_factory):
    """``(parent folder, {fixture: (download root, annotation folder, expected answers)})``."""
    parent = tmp_path_factory.mktemp("benchmarks")
    written = {}
    for name, (download, inner) in DOWNLOADS.items():
        folder = (parent / download / inner).resolve()
        written[name] = (parent / download, folder, importlib.import_module(f"benchmark_fixtures.{name}").write(folder))
    return parent, written


@pytest.fixture(scope="module")
def benchmark_dirs(benchmark_parent):
    return {name: (folder, expected) for name, (_, folder, expected) in benchmark_parent[1].items()}


@pytest.mark.parametrize(("fixture", "task_name"), CASES)
def test_oracle_scores_everything_and_a_constant_scores_its_share(benchmark_parent, tmp_path, fixture, task_name):
    parent, written = benchmark_parent
    _, data_dir, expected = written[fixture]
    task = load_task(task_name)
    oracle = run_task(OracleBackend(), task, parent, tmp_path / "oracle", frames=4)  # found below the parent
    manifest = json.loads((tmp_path / "oracle" / task_name / "frames_4" / "manifest.json").read_text())
    assert manifest["task"]["data_dir"] == str(data_dir)
    overall = oracle["overall"]
    assert (overall["total"], overall["errors"], overall["scored"]) == (len(expected), 0, len(expected))
    assert overall["accuracy"] == overall["accuracy_strict"] == 100.0
    assert overall["unparsed_rate"] == 0.0

    results = [json.loads(line) for line in
               (tmp_path / "oracle" / task_name / "frames_4" / "predictions.jsonl").read_text().splitlines()]
    assert {r["id"]: r["answer"] for r in results} == expected
    assert all(len(r["timestamps"]) == 4 for r in results)  # frames were really sampled

    letters = list(expected.values())
    common = max(set(letters), key=letters.count)
    constant = run_task(ConstantBackend(common), task, data_dir, tmp_path / "constant", frames=4)["overall"]
    share = 100.0 * letters.count(common) / len(letters)
    assert share < 100  # the fixtures do not give every question the same answer
    if task.average == "micro":
        assert constant["accuracy"] == pytest.approx(share)
    for group_key in task.report_groups:  # every reported group has its samples
        groups = oracle["groups"][group_key]
        assert all(m["accuracy"] == 100.0 for m in groups.values()) and groups


def test_mlvu_m_avg_is_the_mean_over_task_types(benchmark_dirs, tmp_path):
    data_dir, expected = benchmark_dirs["mlvu"]
    metrics = run_task(ConstantBackend("B"), load_task("mlvu"), data_dir, tmp_path, frames=2)
    per_task = [m["accuracy"] for m in metrics["groups"]["task"].values()]
    assert len(per_task) >= 2
    assert metrics["overall"]["accuracy"] == pytest.approx(sum(per_task) / len(per_task))
    assert metrics["overall"]["accuracy_micro"] == pytest.approx(
        100.0 * sum(v == "B" for v in expected.values()) / len(expected))


def test_egoschema_full_set_writes_a_submission_file(benchmark_dirs, tmp_path):
    data_dir, _ = benchmark_dirs["egoschema"]
    metrics = run_task(ConstantBackend("C"), load_task("egoschema_full"), data_dir, tmp_path, frames=2)
    assert metrics["overall"]["scored"] == 0 and metrics["overall"]["unscored"] == metrics["overall"]["total"]
    submission = json.loads((tmp_path / "egoschema_full" / "frames_2" / "submission.json").read_text())
    assert len(submission) == metrics["overall"]["total"] and set(submission.values()) == {2}


def test_every_builtin_task_finds_its_data_from_its_download_root_and_from_a_parent(benchmark_parent):
    parent, written = benchmark_parent  # fixture modules are named as the formats they write
    for name in builtin_tasks():
        task = load_task(name)
        if task.format == "synth":  # generated into -d itself
            assert find_data_root(task.format, parent, task.data) == parent
            continue
        download, folder, _ = written[task.format]  # a new benchmark format needs a fixture here
        for given in (download, folder, parent):
            assert find_data_root(task.format, given, task.data).resolve() == folder, (name, given)


def test_cli_names_the_folder_it_reads(benchmark_parent, tmp_path):
    """The issue's example: ``-d Video-MME`` (whose own layout has a ``videomme/`` folder), beside a
    per-task folder above MLVU's annotations."""
    parent, written = benchmark_parent
    result = subprocess.run(
        [sys.executable, "-m", "kangaroo.cli", "eval", "--task", "videomme,mlvu", "-d", str(parent / "Video-MME"),
         "-d", f"mlvu={parent / 'MVLU'}", "--backend", "oracle", "--frames", "2", "-o", str(tmp_path / "out"),
         "--no-progress"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for fixture, task in (("videomme", "videomme"), ("mlvu", "mlvu")):
        folder = written[fixture][1]
        assert f"{task}: data in {folder}\n" in result.stderr
        manifest = json.loads((tmp_path / "out" / task / "frames_2" / "manifest.json").read_text())
        assert manifest["task"]["data_dir"] == str(folder)
