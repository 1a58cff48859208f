"""Every benchmark end to end on a tiny copy in its official format: read, sample frames for real,
prompt, reply, score, aggregate. An oracle must score 100%, a constant reply exactly its share."""

import importlib
import json

import pytest

from kangaroo.eval.backends.reference import ConstantBackend, OracleBackend
from kangaroo.eval.runner import run_task
from kangaroo.eval.task import load_task

pytestmark = pytest.mark.integration

# fixture module -> the tasks that read it
BENCHMARKS = {
    "mvbench": ["mvbench"], "videomme": ["videomme", "videomme_sub"], "mlvu": ["mlvu"], "egoschema": ["egoschema"],
    "tempcompass": ["tempcompass"], "longvideobench": ["longvideobench", "longvideobench_sub"],
    "lvbench": ["lvbench"], "nextqa": ["nextqa"], "seedbench": ["seedbench_video"],
}
CASES = [(fixture, task) for fixture, tasks in BENCHMARKS.items() for task in tasks]


@pytest.fixture(scope="module")
def benchmark_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmarks")
    return {name: (root / name, importlib.import_module(f"benchmark_fixtures.{name}").write(root / name))
            for name in BENCHMARKS}


@pytest.mark.parametrize(("fixture", "task_name"), CASES)
def test_oracle_scores_everything_and_a_constant_scores_its_share(benchmark_dirs, tmp_path, fixture, task_name):
    data_dir, expected = benchmark_dirs[fixture]
    task = load_task(task_name)
    oracle = run_task(OracleBackend(), task, data_dir, tmp_path / "oracle", frames=4)
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
