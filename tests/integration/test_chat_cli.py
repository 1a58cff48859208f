"""`kangaroo ask` and `kangaroo chat` end to end: the random-weights tiny model cached under
$KANGAROO_CACHE, a saved model directory, multi-round chat over stdin, and errors.

Answers from the CLI are compared with ``model.chat`` called in-process on the same weights with
the same (greedy) settings. One chat session runs as a real subprocess; the rest use `CliRunner`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kangaroo.cli import RANDOM_WEIGHTS_WARNING, app
from kangaroo.inference.loading import RANDOM_WEIGHTS_MARKER, load_chat_model
from kangaroo.model.pretrained import ModelLoadError
from kangaroo.video import FrameSampling
from kangaroo.video.sample import make_sample_video

pytestmark = pytest.mark.integration

TOKENS = 8
FRAMES = 4
QUESTIONS = ("What happens in the video?", "And then?")
SEED = 3  # a tiny model whose greedy answers here are printable, one line each, not empty


@pytest.fixture(scope="module", autouse=True)
def kangaroo_cache(tmp_path_factory: pytest.TempPathFactory):
    """KANGAROO_CACHE in a temporary folder, so that nothing touches ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        cache = tmp_path_factory.mktemp("kangaroo-cache")
        patch.setenv("KANGAROO_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_video(tmp_path_factory.mktemp("video") / "clip.mp4", 3.0, 12, (128, 96))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved kangaroo_tiny (not random in the CLI's sense: it has no random-weights marker)."""
    from kangaroo.model.builders import kangaroo_tiny
    from kangaroo.model.tokenizer import build_byte_tokenizer
    from kangaroo.processing import KangarooProcessor

    directory = tmp_path_factory.mktemp("model")
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=SEED)
    model.save_pretrained(directory)
    KangarooProcessor(tokenizer, model.config.layout, sampling=FrameSampling(num_frames=FRAMES)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def expected(model_dir: Path, video: Path) -> tuple[str, str]:
    """The two greedy answers of a conversation, from ``model.chat`` in-process."""
    model, _, is_random = load_chat_model(model_dir)
    assert not is_random
    first, history = model.chat(video, QUESTIONS[0], max_new_tokens=TOKENS)
    second, _ = model.chat(video, QUESTIONS[1], history=history, max_new_tokens=TOKENS)
    assert first and second and "\n" not in first + second  # or the tests below compare little
    return first, second


def invoke(*args: object, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def test_ask_json_on_the_random_tiny_model(video: Path, kangaroo_cache: Path) -> None:
    result = invoke("ask", video, "What is shown?", "--model", "random", "--frames", FRAMES, "--max-new-tokens", 4,
                    "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["random_weights"] is True and isinstance(answer["answer"], str)
    assert (answer["video"], answer["question"], answer["frames"]) == (str(video), "What is shown?", FRAMES)
    assert len(answer["timestamps"]) == FRAMES and answer["timestamps"] == sorted(answer["timestamps"])
    assert answer["timestamps"][0] >= 0 and answer["timestamps"][-1] < 3.0
    assert RANDOM_WEIGHTS_WARNING in " ".join(result.stderr.split())
    cached = kangaroo_cache / "tiny-random"
    assert Path(answer["model"]) == cached and (cached / RANDOM_WEIGHTS_MARKER).is_file()
    assert not [p for p in kangaroo_cache.iterdir() if p.name.startswith(".")]  # no leftover temp dirs


def test_ask_with_a_model_dir_answers_like_model_chat(video: Path, model_dir: Path, expected) -> None:
    result = invoke("ask", video, QUESTIONS[0], "--model", model_dir, "--max-new-tokens", TOKENS, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["answer"] == expected[0]
    assert answer["random_weights"] is False and answer["frames"] == FRAMES
    assert "random weights" not in result.stderr

    plain = invoke("ask", video, QUESTIONS[0], "--model", model_dir, "--max-new-tokens", TOKENS)
    assert plain.exit_code == 0 and plain.stdout == expected[0] + "\n"


def test_a_plain_ask_prints_no_warning_but_kangaroos_own(video: Path, tmp_path: Path) -> None:
    """What a user sees on stderr from `kangaroo ask`: nothing with the bundled model (the default),
    and only kangaroo's random-weights warning with ``--model random`` -- no FutureWarning /
    DeprecationWarning / UserWarning or logger warning from the libraries below (every warning
    shown, as ``python -W default``), both when the tiny model is built and when it is read from
    the cache."""
    env = {**os.environ, "KANGAROO_CACHE": str(tmp_path / "cache"), "PYTHONWARNINGS": "default"}
    cmd = [sys.executable, "-m", "kangaroo.cli", "ask", str(video), "What happens?", "--max-new-tokens", "4"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert not (tmp_path / "cache").exists()  # the bundled model is read from the package
    for _ in ("build", "cached"):
        result = subprocess.run([*cmd, "--model", "random"], capture_output=True, text=True, timeout=180, env=env)
        assert result.returncode == 0, result.stderr
        assert " ".join(result.stderr.split()) == f"warning: {RANDOM_WEIGHTS_WARNING}", result.stderr


def test_chat_over_a_pipe_answers_each_question_then_exits(video: Path, model_dir: Path, expected) -> None:
    cmd = [sys.executable, "-m", "kangaroo.cli", "chat", str(video), "--model", str(model_dir),
           "--max-new-tokens", str(TOKENS)]
    result = subprocess.run(cmd, input="\n".join(QUESTIONS) + "\n", capture_output=True, text=True,
                            timeout=120, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == list(expected)  # the second answer continues the conversation
    assert "you>" not in result.stdout  # no prompt without a terminal
    assert "Warning" not in result.stderr and "[transformers]" not in result.stderr


def test_a_bad_video_command_reports_an_error_and_the_session_goes_on(
    video: Path, model_dir: Path, expected, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.mp4"
    script = f"{QUESTIONS[0]}\n/video {missing}\n{QUESTIONS[1]}\n/reset\n{QUESTIONS[0]}\n/quit\nnot asked\n"
    result = invoke("chat", video, "--model", model_dir, "--max-new-tokens", TOKENS, input=script)
    assert result.exit_code == 0, result.output
    assert str(missing) in result.stderr and "error:" in result.stderr
    # the failed switch keeps the conversation; /reset starts again; /quit stops reading
    assert result.stdout.splitlines() == [expected[0], expected[1], expected[0]]


def test_chat_on_the_random_model_warns_and_rejects_unknown_commands(video: Path) -> None:
    result = invoke("chat", video, "--model", "random", "--frames", FRAMES, input="/frobnicate\n")
    assert result.exit_code == 0, result.output
    assert RANDOM_WEIGHTS_WARNING in " ".join(result.stderr.split())
    assert "unknown command '/frobnicate'" in result.stderr and result.stdout == ""


def test_a_missing_video_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-video.mp4"
    for command in (("ask", missing, "What?"), ("chat", missing)):
        result = invoke(*command)
        assert result.exit_code == 2
        assert str(missing) in result.stderr and result.stderr.startswith("error:")
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_model_dir_exits_2(video: Path, tmp_path: Path) -> None:
    result = invoke("ask", video, "What?", "--model", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such model directory" in result.stderr
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    result = invoke("ask", video, "What?", "--model", tmp_path)
    assert result.exit_code == 2 and "not 'kangaroo'" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_chat_model(empty)


@pytest.mark.parametrize("command", [["ask"], ["chat"]])
def test_ask_and_chat_have_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "--model" in result.stdout


def test_a_cached_tiny_model_without_its_marker_is_rebuilt_not_read(tmp_path: Path) -> None:
    from kangaroo.inference.loading import ensure_tiny_random

    half_written = tmp_path / "tiny-random"
    half_written.mkdir()
    (half_written / "config.json").write_text("{")  # as if a build had stopped midway
    directory = ensure_tiny_random(tmp_path)
    assert directory == half_written and (directory / RANDOM_WEIGHTS_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-random"]
    assert json.loads((directory / "config.json").read_text())["model_type"] == "kangaroo"
