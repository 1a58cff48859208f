"""A few steps of every tiny curriculum stage, chained as the curriculum chains them: the loss goes
down in each, frozen modules stay frozen, the geometry changes between stages, and every run
writes its metrics log, loss curve and final model. Also: gradient accumulation and gradient
checkpointing compute the same step, LoRA trains and merges, the final model samples frames as its
stage trained, and the `kangaroo train` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

import kangaroo.cli.train_commands  # noqa: F401  (registers `train` on the app)
from kangaroo.cli import app
from kangaroo.inference.loading import load_chat_model
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.synth.options import WorldOptions
from kangaroo.training.feeding import prepare_synth_data
from kangaroo.training.metrics import read_metrics
from kangaroo.training.recipe import Recipe, SynthSpec, load_recipe
from kangaroo.training.trainer import run_curriculum, train
from kangaroo.video import FrameSampling
from kangaroo.video.sample import make_sample_video

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TINY = {p.stem: p for p in (REPO / "recipes" / "tiny").glob("stage*.yaml")}
METRIC_FIELDS = {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "padding_fraction", "label_tokens",
                 "real_tokens", "total_tokens", "records", "skipped", "step_s", "elapsed_s", "time"}


def small(name: str, out: Path, synth: list[SynthSpec], steps: int = 6, *overrides: str) -> Recipe:
    """A tiny stage recipe on a handful of records, every step seeing all of them."""
    recipe = load_recipe(TINY[name], [f"schedule.steps={steps}", "run.save_every=3", *overrides],
                         output_dir=out / name)
    recipe.data.synth = synth
    recipe.schedule.batch_size = sum(s.num for s in synth)
    recipe.optim.warmup_steps = min(recipe.optim.warmup_steps, 1)
    return recipe


def spec(task: str, num: int, duration: float | None = None, **kw) -> SynthSpec:
    return SynthSpec(task=task, num=num, seed=1, world=WorldOptions(size=(64, 48), duration=duration, **kw))


def weights(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def load_final(run: Path) -> torch.nn.Module:
    model, _, _ = load_chat_model(run / "final")
    return model


@pytest.mark.slow
def test_every_tiny_stage_trains_chained(tmp_path: Path) -> None:
    stages = [
        small("stage1_image_pretrain", tmp_path, [spec("image_caption", 4)]),
        small("stage2_video_pretrain", tmp_path, [spec("caption_short", 4, 3.0)]),
        small("stage3_refinement", tmp_path, [spec("caption_short", 3, 4.0)]),
        small("stage4_instruction", tmp_path, [spec("mcq_direction", 2, 4.0), spec("open_qa", 2, 9.0)]),
        small("stage5_long_video", tmp_path, [spec("needle", 2, 20.0, fps=2.0), spec("mcq_direction", 2, 4.0)]),
    ]
    results = [train(recipe, progress=False) for recipe in stages]
    for recipe, result in zip(stages, results, strict=True):
        losses = result.losses
        assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
        assert losses[-1] < losses[0] - 0.02, (recipe.stage, losses)
        run = result.run_dir
        entries = read_metrics(run / "metrics.jsonl")
        assert [e["step"] for e in entries] == list(range(1, 7))
        assert set(entries[0]) >= METRIC_FIELDS, set(entries[0])
        assert all(0 <= e["padding_fraction"] < 1 and e["tokens_per_s"] > 0 for e in entries)
        assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG"
        assert (run / "final" / "COMPLETE").is_file() and (run / "recipe.yaml").is_file()
        assert [p.name for p in sorted(run.glob("checkpoint-*"))] == ["checkpoint-00000003", "checkpoint-00000006"]

    first, second, third, fourth, fifth = (load_final(r.run_dir) for r in results)
    # geometry: 56 px without patchify, then 112 px with the 2x2x2 patchify from stage 3 on
    assert (first.config.vision_config.image_size, tuple(first.config.patchify_kernel)) == (56, (1, 1, 1))
    assert (third.config.vision_config.image_size, tuple(third.config.patchify_kernel)) == (112, (2, 2, 2))
    # the LLM is frozen through stages 1-3 (it is still kangaroo_tiny's seed-0 LLM), trains in 4
    initial_llm = weights(kangaroo_tiny(seed=0), "language_model.")
    assert same(weights(third, "language_model."), initial_llm)
    assert not same(weights(fourth, "language_model."), initial_llm)
    # each stage starts from the previous one: stage 2 changes the ViT stage 1 trained, not a fresh one
    assert not same(weights(second, "vision_tower."), weights(first, "vision_tower."))
    # stage 5 freezes the ViT and trains the rest
    assert same(weights(fifth, "vision_tower."), weights(fourth, "vision_tower."))
    assert not same(weights(fifth, "projector."), weights(fourth, "projector."))

    again = train(stages[0], progress=False)  # running a finished stage again does nothing
    assert again.steps_run == 0 and again.losses == results[0].losses


def _instruction(tmp_path: Path, name: str, *overrides: str) -> Recipe:
    recipe = load_recipe(TINY["stage4_instruction"], ["model.from_stage=null", "schedule.steps=2",
                                                      "precision=fp32", "run.save_every=10", *overrides],
                         output_dir=tmp_path / name)
    recipe.data.synth = [spec("mcq_direction", 2, 4.0), spec("mcq_count", 2, 6.0)]
    return recipe


def test_a_later_stage_reuses_an_earlier_stages_generated_data_through_synth_dir(tmp_path: Path) -> None:
    first = _instruction(tmp_path, "first")
    made = prepare_synth_data(first)
    stamps = [p.stat().st_mtime_ns for p in made]
    later = _instruction(tmp_path, "later", "data.synth_dir=../first/data")
    assert prepare_synth_data(later) == made  # the same files, not generated again
    assert [p.stat().st_mtime_ns for p in made] == stamps
    assert not (tmp_path / "later" / "data").exists()
    elsewhere = _instruction(tmp_path, "own")  # the default: the stage's own data/ folder
    assert all(p.is_relative_to(tmp_path / "own" / "data") for p in prepare_synth_data(elsewhere))


def test_accumulation_checkpointing_and_threads_compute_the_same_step(tmp_path: Path) -> None:
    whole = train(_instruction(tmp_path, "whole", "schedule.batch_size=4", "schedule.grad_accum=1"),
                  progress=False)
    split = train(_instruction(tmp_path, "split", "schedule.batch_size=2", "schedule.grad_accum=2"),
                  progress=False)
    recomputed = train(_instruction(tmp_path, "ckpt", "schedule.batch_size=4", "gradient_checkpointing=true"),
                       progress=False)
    threaded = train(_instruction(tmp_path, "threads", "schedule.batch_size=4", "data.workers=2"), progress=False)
    assert threaded.losses == whole.losses  # records decoded ahead in threads: the same examples
    # one step: the same 4 records, the loss a mean over all their label tokens however they are split
    torch.testing.assert_close(torch.tensor(split.losses), torch.tensor(whole.losses), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.tensor(recomputed.losses), torch.tensor(whole.losses), rtol=1e-6, atol=1e-6)
    assert len(whole.losses) == 2  # the second step's loss shows the first step's update was the same too


def test_lora_trains_adapters_and_merges(tmp_path: Path) -> None:
    recipe = _instruction(tmp_path, "lora", "schedule.batch_size=4", "lora.r=4", "lora.alpha=8", "schedule.steps=3",
                          "optim.lr=1e-2")
    result = train(recipe, progress=False)
    assert result.losses[-1] < result.losses[0]
    final = load_final(result.run_dir)
    assert not any("lora" in key for key in final.state_dict())
    initial = kangaroo_tiny(seed=0)
    assert not same(weights(final, "language_model.model.layers.0.self_attn.q_proj"),
                    weights(initial, "language_model.model.layers.0.self_attn.q_proj"))
    # LoRA freezes the LLM's other weights: the MLPs (targets here: attention only) keep theirs
    recipe2 = _instruction(tmp_path, "lora2", "schedule.batch_size=4", "lora.r=4", "lora.target_modules=[q_proj]")
    final2 = load_final(train(recipe2, progress=False).run_dir)
    assert same(weights(final2, "language_model.model.layers.0.mlp."), weights(initial, "language_model.model.layers.0.mlp."))


def test_the_final_model_samples_frames_as_its_stage_trained(tmp_path: Path) -> None:
    # stage 5 (dynamic sampling: 8-32 frames, 32-80 above 16 s), one step from the random tiny model
    recipe = load_recipe(TINY["stage5_long_video"], ["model.from_stage=null", "schedule.steps=1", "precision=fp32",
                                                     "run.save_every=10"], output_dir=tmp_path / "stage5")
    recipe.data.synth = [spec("mcq_direction", 1, 4.0)]
    recipe.schedule.batch_size = 1
    final = train(recipe, progress=False).final_dir
    saved = json.loads((final / "processor_config.json").read_text(encoding="utf-8"))
    assert FrameSampling.from_dict(saved["sampling"]) == recipe.data.frames
    _, processor, _ = load_chat_model(final)
    assert processor.sampling == recipe.data.frames

    # a user loading the final model gets the training-time counts: 2 per second, the long rule above 16 s
    short = make_sample_video(tmp_path / "short.mp4", duration=6.0, fps=8, size=(64, 64))
    long = make_sample_video(tmp_path / "long.mp4", duration=20.0, fps=4, size=(64, 64))
    assert [len(processor.load_video_frames(v)[1]) for v in (short, long)] == [12, 40]
    ask = ["ask", str(long), "What happens?", "--model", str(final), "--max-new-tokens", "1", "--json"]
    answered = CliRunner().invoke(app, ask)
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout)["frames"] == 40
    overridden = CliRunner().invoke(app, [*ask, "--frames", "4"])  # unless the user says otherwise
    assert overridden.exit_code == 0, overridden.output
    assert json.loads(overridden.stdout)["frames"] == 4


def test_train_command_runs_and_resumes_a_curriculum(tmp_path: Path) -> None:
    # two stages of the tiny curriculum, shrunk through overrides that apply to every stage
    curriculum = tmp_path / "curriculum.yaml"
    for name in ("stage1_image_pretrain", "stage2_video_pretrain"):
        data = yaml.safe_load(TINY[name].read_text(encoding="utf-8"))
        data["data"]["synth"][0]["num"] = 4
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    curriculum.write_text("stages: [stage1_image_pretrain.yaml, stage2_video_pretrain.yaml]\n", encoding="utf-8")
    out = tmp_path / "runs"
    args = ["train", str(curriculum), "--out", str(out), "--no-progress", "schedule.steps=3", "schedule.batch_size=2",
            "optim.warmup_steps=0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("done ") == 2
    for name in ("stage1_image_pretrain", "stage2_video_pretrain"):
        assert (out / name / "final" / "COMPLETE").is_file()
        assert len(read_metrics(out / name / "metrics.jsonl")) == 3
    saved = json.loads((out / "stage2_video_pretrain" / "final" / "training.json").read_text(encoding="utf-8"))
    assert saved["recipe"]["model"]["from_stage"] == "../stage1_image_pretrain"
    again = CliRunner().invoke(app, args)  # everything finished: nothing is trained again
    assert again.exit_code == 0 and "already finished" in again.output
    results = run_curriculum(curriculum, args[5:], out, progress=False)  # the Python API, same runs
    assert [r.steps_run for r in results] == [0, 0] and [len(r.losses) for r in results] == [3, 3]
    # a stage whose previous stage never ran says so
    missing = CliRunner().invoke(app, ["train", str(tmp_path / "stage2_video_pretrain.yaml"), "--out",
                                       str(tmp_path / "elsewhere" / "stage2"), "--no-progress"])
    assert missing.exit_code == 1 and "run the previous stage first" in missing.output


def test_a_world_vision_stage_trains_the_tower_probes_it_and_hands_it_on(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "tiny" / "world_vision.yaml", ["schedule.steps=8", "schedule.batch_size=4"],
                         output_dir=tmp_path / "world_vision")
    result = train(recipe, progress=False)
    assert result.steps_run == 8 and (result.final_dir / "COMPLETE").is_file() and len(result.losses) == 8
    probe = json.loads((result.run_dir / "world_vision.json").read_text(encoding="utf-8"))["probe"]
    assert set(probe) == {"colour", "shape", "background"} and all(0.0 <= v <= 1.0 for v in probe.values())
    from kangaroo.model.pretrained import load_pretrained

    trained, _ = load_pretrained(result.final_dir)
    fresh = kangaroo_tiny(seed=0)
    moved = {n.split(".")[0] for n, p in trained.state_dict().items() if not torch.equal(p, fresh.state_dict()[n])}
    assert moved == {"vision_tower"}  # the tower learnt; everything else is the seed-0 initialisation
    again = train(recipe, progress=False)  # finished: found, not rerun
    assert again.steps_run == 0 and again.losses == result.losses
    # the next stage starts from it
    nxt = small("stage1_image_pretrain", tmp_path, [SynthSpec("image_caption", 2, 1, world=WorldOptions(size=(64, 48)))],
                1, "model.from_stage=../world_vision", "optim.warmup_steps=0")
    assert train(nxt, progress=False).steps_run == 1


@pytest.mark.parametrize(("overrides", "message"), [
    (["trainable=[projector]"], "trains the vision tower only"),
    (["objective=pixels"], "objective: 'pixels' is not one of language_modelling, world_vision, world_align"),
    (["schedule.steps=null", "schedule.epochs=1"], "needs a number of steps"),
])
def test_a_world_vision_stage_refuses_what_it_cannot_do(tmp_path: Path, overrides: list[str], message: str) -> None:
    from kangaroo.training.recipe import RecipeError

    recipe = load_recipe(REPO / "recipes" / "tiny" / "world_vision.yaml", overrides, output_dir=tmp_path / "wv")
    with pytest.raises(RecipeError, match=message):
        train(recipe, progress=False)


def test_a_world_align_stage_makes_the_visual_tokens_say_their_words_and_hands_them_on(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "tiny" / "world_align.yaml",
                         ["schedule.steps=60", "model.from_stage=null", "run.threads=1"], output_dir=tmp_path / "wa")
    result = train(recipe, progress=False)
    assert result.steps_run == 60 and (result.final_dir / "COMPLETE").is_file() and len(result.losses) == 60
    assert sum(result.losses[-5:]) < 0.5 * sum(result.losses[:5])  # the tokens moved toward their words
    report = json.loads((result.run_dir / "world_align.json").read_text(encoding="utf-8"))
    assert set(report["held_out"]) == {"recall", "precision", "exact", "time"} and report["frames"] == 16
    from kangaroo.model.pretrained import load_pretrained

    trained, _ = load_pretrained(result.final_dir)
    fresh = kangaroo_tiny(seed=0)
    moved = {n.split(".")[0] for n, p in trained.state_dict().items() if not torch.equal(p, fresh.state_dict()[n])}
    assert moved == {"patchify", "projector"}  # the LLM, whose embeddings are the targets, is untouched
    assert train(recipe, progress=False).steps_run == 0  # finished: found, not rerun


@pytest.mark.parametrize(("overrides", "message"), [
    (["trainable=[projector, language_model]"], "not the LLM whose embeddings are its targets"),
    (["schedule.steps=null", "schedule.epochs=1"], "needs a number of steps"),
    (["data.frames.num_frames=null"], "set num_frames"),
])
def test_a_world_align_stage_refuses_what_it_cannot_do(tmp_path: Path, overrides: list[str], message: str) -> None:
    from kangaroo.training.recipe import RecipeError

    recipe = load_recipe(REPO / "recipes" / "tiny" / "world_align.yaml", [*overrides, "model.from_stage=null"],
                         output_dir=tmp_path / "wa")
    with pytest.raises(RecipeError, match=message):
        train(recipe, progress=False)


def test_a_frozen_vision_side_caches_visual_tokens_and_trains_exactly_as_without(tmp_path: Path) -> None:
    """Each video record is decoded once; the losses equal those of a run that decodes every visit;
    a still image (a new random time at each visit) is never cached."""
    synth = [spec("mcq_direction", 3, 3.0), spec("image_caption", 1)]
    runs = {}
    for cache in (True, False):
        recipe = small("stage4_instruction", tmp_path / str(cache), synth, 4, "model.from_stage=null",
                       "trainable=[language_model]", "data.packing=false", "data.workers=1",
                       f"data.cache_visual_tokens={str(cache).lower()}")
        loaded: list[str] = []
        import kangaroo.training.examples as examples

        original = examples._load_video

        def counting(record, *args, _original=original, _loaded=loaded):
            _loaded.append(record.id)
            return _original(record, *args)

        examples._load_video = counting
        try:
            messages: list[str] = []
            runs[cache] = (train(recipe, progress=False, log=messages.append).losses, loaded, messages)
        finally:
            examples._load_video = original
    (cached_losses, cached_loads, messages), (plain_losses, plain_loads, _) = runs[True], runs[False]
    assert cached_losses == pytest.approx(plain_losses, rel=1e-5, abs=1e-6)
    assert any("visual tokens are computed once" in m for m in messages)
    assert len(plain_loads) == 4 * 4  # 4 steps x 4 records, every visit decoded
    image = next(r for r in plain_loads if r.startswith("image_caption"))
    assert sorted(cached_loads) == sorted([*{r for r in plain_loads if r != image}, *[image] * 4])


def test_a_trained_vision_side_is_never_cached(tmp_path: Path) -> None:
    recipe = small("stage4_instruction", tmp_path, [spec("mcq_direction", 2, 3.0)], 1, "model.from_stage=null",
                   "trainable=[projector, language_model]")
    messages: list[str] = []
    train(recipe, progress=False, log=messages.append)
    assert not any("visual tokens are computed once" in m for m in messages)
