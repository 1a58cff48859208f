"""Task YAMLs: every built-in task loads; errors name the file and the problem; bases merge."""

import numpy as np
import pytest

from kangaroo.eval.prompting import render_prompt
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import TaskConfigError, builtin_tasks, load_task
from kangaroo.video import FrameSampling
from kangaroo.video.subtitles import SubtitleLine, Subtitles

EXPECTED_TASKS = {"mvbench", "videomme", "videomme_sub", "mlvu", "egoschema", "egoschema_full", "tempcompass",
                  "longvideobench", "lvbench", "nextqa", "seedbench_video", "synth_mcq", "synth_mcq_zh",
                  "synth_needle", "synth_grounding", "synth_grounding_zh"}


def test_every_builtin_task_loads_and_renders():
    assert set(builtin_tasks()) >= EXPECTED_TASKS
    sample = EvalSample("1", "What moves?", ["cat", "dog"], answer="A",
                        subtitles=Subtitles([SubtitleLine(0.0, 5.0, "<font color=\"white\">hello</font>")]))
    for name in builtin_tasks():
        task = load_task(name)
        for variant in task.prompts:
            rendered = render_prompt(task.prompt_variant(variant), sample, np.array([1.0, 2.0]))
            assert "What moves?" in rendered.user, (name, variant)
            assert "{" not in rendered.user.replace("{question}", ""), (name, variant)


def test_mvbench_official_prompt_is_exact():
    task = load_task("mvbench")
    rendered = render_prompt(task.prompt_variant(), EvalSample("1", "What happened?", ["Ate.", "Slept."]),
                             np.array([0.5]))
    assert rendered.user == "Question: What happened?\nOptions:\n(A) Ate.\n(B) Slept.\nOnly give the best option."
    assert rendered.assistant_prefix == "Best option:("
    assert rendered.system.startswith("Carefully watch the video")


def test_subtitles_are_the_lines_at_the_sampled_frames_without_tags():
    task = load_task("videomme_sub")
    subs = Subtitles([SubtitleLine(0.0, 1.0, '<font color="white" size=".72c">first</font>'),
                      SubtitleLine(1.0, 2.0, "second"), SubtitleLine(5.0, 6.0, "never shown")])
    sample = EvalSample("1", "Q?", ["a", "b", "c", "d"], subtitles=subs)
    user = render_prompt(task.prompt_variant(), sample, np.array([0.5, 0.7, 1.5])).user
    assert "first\nsecond" in user and "never shown" not in user and "<font" not in user
    no_subs = render_prompt(task.prompt_variant(), EvalSample("2", "Q?", ["a"]), np.array([0.5])).user
    assert task.prompt_variant().no_subtitles in no_subs


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_task_files_raise_clear_errors(tmp_path):
    with pytest.raises(TaskConfigError, match="unknown task 'nope'"):
        load_task("nope")
    with pytest.raises(TaskConfigError, match=r"a\.yaml: format: missing"):
        load_task(_write(tmp_path / "a.yaml", "name: a\nprompts: {p: {user: '{question}'}}\n"))
    with pytest.raises(TaskConfigError, match=r"b\.yaml: frame: unknown key; TaskConfig has name, format"):
        load_task(_write(tmp_path / "b.yaml", "name: b\nformat: synth\nframe: 3\nprompts: {p: {user: x}}\n"))
    with pytest.raises(TaskConfigError, match=r"prompts\.p: user: bad template"):
        load_task(_write(tmp_path / "c.yaml", "name: c\nformat: synth\nprompts: {p: {user: '{qestion}'}}\n"))
    with pytest.raises(TaskConfigError, match="macro needs average_over"):
        load_task(_write(tmp_path / "d.yaml", "name: d\nformat: synth\naverage: macro\nprompts: {p: {user: x}}\n"))
    with pytest.raises(TaskConfigError, match="no prompt 'other'"):
        load_task("mvbench").prompt_variant("other")


def test_every_problem_of_a_task_file_is_reported_at_once(tmp_path):
    path = _write(tmp_path / "bad.yaml", "name: bad\nformat: synth\nscoring: exact\nmax_new_tokens: many\n"
                                         "frames: {sampling: fps, num_frames: 8}\nsource: x.yaml\n"
                                         "prompts: {p: {user: '{qestion}', systm: ''}}\n")
    with pytest.raises(TaskConfigError) as info:
        load_task(path)
    assert info.value.source == str(path) and str(path) in str(info.value)
    assert info.value.errors == [
        "scoring: expected one of choice, seconds, keywords, got 'exact'",
        "max_new_tokens: expected an integer, got 'many'",
        "frames: num_frames is for sampling='uniform', not 'fps'; use max_frames",
        "frames: sampling='fps' needs fps > 0 (frames per second to sample), got None",
        "source: unknown key; TaskConfig has name, format, prompts, title, prompt, data, frames, subtitles, "
        "scoring, average, average_over, report_groups, max_new_tokens, submission, description",
        "prompts.p.systm: unknown key; Prompt has user, system, option, assistant_prefix, no_subtitles",
        "prompts.p: user: bad template '{qestion}' (KeyError('qestion')); fields: "
        "['question', 'options', 'subtitles', 'letters', 'duration']",
    ]


def test_a_task_needs_a_frame_budget(tmp_path):
    with pytest.raises(TaskConfigError, match="frames: 1 per second has no frame budget"):
        load_task(_write(tmp_path / "a.yaml", "name: a\nformat: synth\nframes: {sampling: fps, fps: 1}\n"
                                              "prompts: {p: {user: x}}\n"))
    task = load_task(_write(tmp_path / "b.yaml", "name: b\nformat: synth\nprompts: {p: {user: x}}\n"
                                                 "frames: {sampling: fps, fps: 1, max_frames: 32}\n"))
    assert task.frames.most_frames == 32 and task.title == "b" and task.prompt == "p"


def test_a_task_can_start_from_another(tmp_path):
    path = _write(tmp_path / "mine.yaml", "base: mvbench\nname: mvbench_32\nframes: {num_frames: 32}\n"
                                          "prompts: {official: {assistant_prefix: ''}}\n")
    task = load_task(path)
    assert (task.name, task.frames, task.format) == ("mvbench_32", FrameSampling(num_frames=32), "mvbench")
    assert task.prompt_variant().assistant_prefix == ""
    assert task.prompt_variant().user.startswith("Question: {question}")  # the rest is inherited
