"""kangaroo's lmms-eval model, run through lmms-eval's own registry and `Instance` class.

Skipped when lmms-eval cannot be imported (it is not a kangaroo dependency). To run it without
installing lmms-eval into the project's environment:

    python -m pip install --target /tmp/lmms_target --no-deps lmms-eval loguru pytz
    PYTHONPATH=/tmp/lmms_target python -m pytest tests/integration/test_lmms_eval_plugin.py

The model is the random-weights tiny checkpoint: its answers are noise, so they are compared with
`kangaroo.inference.chat.chat` called directly on the same weights (greedy decoding, deterministic).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from benchmark_fixtures import tiny_video

pytestmark = pytest.mark.integration

SKIP = "lmms-eval is not installed (optional; see this module's docstring to run the test)"
lmms_instance = pytest.importorskip("lmms_eval.api.instance", reason=SKIP)
pytest.importorskip("lmms_eval.api.model", reason=SKIP)
lmms_models = pytest.importorskip("lmms_eval.models", reason=SKIP)

from kangaroo.eval import lmms_eval_plugin  # noqa: E402
from kangaroo.eval.lmms_eval_model import Kangaroo, truncate_at  # noqa: E402
from kangaroo.inference.chat import chat  # noqa: E402
from kangaroo.inference.loading import ensure_tiny_random  # noqa: E402

TASK, SPLIT = "tiny_video_qa", "test"
FRAMES = 4
TOKENS = 10


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tiny_random(tmp_path_factory.mktemp("lmms-model"))


@pytest.fixture(scope="module")
def lm(model_dir: Path) -> Kangaroo:
    """The model as lmms-eval builds it: resolved by name in its registry, then from the arg string."""
    lmms_models.MODEL_REGISTRY_V2.register_manifest(lmms_eval_plugin.manifest(), overwrite=True)
    cls = lmms_models.get_model("kangaroo")
    model = cls.create_from_arg_string(f"pretrained={model_dir},max_frames_num={FRAMES}",
                                       {"batch_size": 1, "max_batch_size": None, "device": "cpu"})
    assert isinstance(model, Kangaroo) and model.processor.sampling.num_frames == FRAMES
    return model


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("lmms-videos")
    return [{"video": str(tiny_video(folder / f"v{i}.mp4", seed=i)), "question": f"What moves? ({i})"}
            for i in range(2)]


def instance(request_type: str, arguments: tuple, doc_id: int) -> Any:
    return lmms_instance.Instance(request_type=request_type, arguments=arguments, idx=0,
                                  metadata={"task": TASK, "doc_id": doc_id, "repeats": 1})


def direct(lm: Kangaroo, video: Any, question: str) -> str:
    return chat(lm.model, lm.processor, video, question, max_new_tokens=TOKENS)[0]


def test_generate_until_answers_each_instance_and_stops_at_until(lm: Kangaroo, docs: list[dict[str, Any]]):
    lm.task_dict = {TASK: {SPLIT: docs}}
    full = [direct(lm, doc["video"], doc["question"]) for doc in docs]
    assert all(full)
    until = [full[0][len(full[0]) // 2 :][:2]]  # a piece of the first answer: the reply stops before it
    gen_kwargs = {"max_new_tokens": TOKENS, "temperature": 0, "do_sample": False, "until": until}
    requests = [instance("generate_until", (doc["question"], dict(gen_kwargs), lambda d: [d["video"]], i, TASK,
                                            SPLIT), i) for i, doc in enumerate(docs)]
    replies = lm.generate_until(requests)
    assert replies == [truncate_at(answer, until) for answer in full]
    assert len(replies[0]) < len(full[0])


def test_images_are_accepted(lm: Kangaroo, docs: list[dict[str, Any]]):
    from PIL import Image

    red = Image.new("RGB", (40, 30), (200, 20, 20))
    blue = Image.new("RGB", (41, 31), (20, 20, 200))
    lm.task_dict = {TASK: {SPLIT: [{"images": [red]}, {"images": [red, blue]}]}}
    requests = [instance("generate_until", ("Which colour?", {"max_new_tokens": 4}, lambda d: d["images"], i, TASK,
                                            SPLIT), i) for i in range(2)]
    replies = lm.generate_until(requests)
    assert len(replies) == 2 and all(isinstance(reply, str) for reply in replies)


def test_multi_round_follows_doc_to_text(lm: Kangaroo, docs: list[dict[str, Any]]):
    lm.task_dict = {TASK: {SPLIT: docs}}
    seen = []

    def doc_to_text(doc, previous_output=None, round_idx=None, previous_round_info=None):
        seen.append((round_idx, list(previous_output)))
        return [doc["video"]], "And then?", round_idx >= 2, previous_output, None

    arguments = ("What moves?", {"max_new_tokens": TOKENS}, lambda d: [d["video"]], doc_to_text, 0, TASK, SPLIT)
    (rounds,) = lm.generate_until_multi_round([instance("generate_until_multi_round", arguments, 0)])
    assert rounds == [direct(lm, docs[0]["video"], "What moves?"), direct(lm, docs[0]["video"], "And then?")]
    assert [r for r, _ in seen] == [1, 2] and seen[1][1] == rounds


def test_loglikelihood_is_refused_clearly(lm: Kangaroo):
    with pytest.raises(NotImplementedError, match="generate_until"):
        lm.loglikelihood([instance("loglikelihood", ("ctx", " A"), 0)])


def test_rank_and_device_come_from_the_launcher(model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    model = Kangaroo(pretrained=str(model_dir), device="cpu")
    assert (model.rank, model.world_size, model.device) == (1, 2, "cpu")
    with pytest.raises(ValueError, match="pretrained"):
        Kangaroo(device="cpu")


def _lmms_eval_path() -> str:
    """Where lmms_eval was imported from, for the subprocesses."""
    return str(Path(lmms_models.__file__).resolve().parents[2])


@pytest.mark.parametrize("mechanism", ["entry_point", "LMMS_EVAL_PLUGINS"])
def test_lmms_eval_finds_the_model_by_name(mechanism: str, tmp_path: Path):
    """A fresh lmms-eval resolves ``kangaroo`` through an installed entry point (the pyproject lines,
    as a dist-info folder on the path) or through the ``LMMS_EVAL_PLUGINS`` variable."""
    env = {k: v for k, v in os.environ.items() if k != "LMMS_EVAL_PLUGINS"}
    path = [_lmms_eval_path(), env.get("PYTHONPATH", "")]
    if mechanism == "entry_point":
        info = tmp_path / "kangaroo_lmms_probe-0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kangaroo-lmms-probe\nVersion: 0.0\n")
        (info / "entry_points.txt").write_text(
            "[lmms_eval.models]\nkangaroo = kangaroo.eval.lmms_eval_plugin:manifest\n")
        path.insert(0, str(tmp_path))
    else:
        env["LMMS_EVAL_PLUGINS"] = "kangaroo.eval.lmms_eval_plugin"
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    script = textwrap.dedent("""
        import importlib.util, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        from lmms_eval.models import get_model
        cls = get_model("kangaroo")
        print(cls.__module__, cls.__name__, cls.is_simple)
        print(importlib.util.find_spec("kangaroo.eval.lmms_eval_plugin.tasks").submodule_search_locations[0])
    """)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.strip().splitlines()[-2:]
    assert first == "kangaroo.eval.lmms_eval_model Kangaroo True"
    assert Path(second).is_dir()
