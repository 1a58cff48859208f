"""Training recipes: parsing, overrides, validation (every problem at once), the bundled recipe
files, `kangaroo train --validate` exit codes, the stage geometry changes and the metrics log."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

import kangaroo.cli.train_commands  # noqa: F401  (registers `train` on the app)
from kangaroo.cli import app
from kangaroo.config import ConfigError, apply_overrides, parse_override
from kangaroo.model.surgery import adapt_model
from kangaroo.training.metrics import MetricsLog, plot_loss_curve, read_metrics
from kangaroo.training.model_setup import build_model, meta_model
from kangaroo.training.preflight import validate_recipe
from kangaroo.training.recipe import (
    Recipe,
    RecipeError,
    load_curriculum,
    load_recipe,
    parse_recipe,
    recipe_from_dict,
    stage_recipes,
)
from kangaroo.video import DynamicFrameRule, FrameSampling

REPO = Path(__file__).resolve().parents[3]
TINY = sorted((REPO / "recipes" / "tiny").glob("stage*.yaml"))
BIG = sorted((REPO / "recipes" / "8b").glob("stage*.yaml"))


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# -- the bundled recipe files ----------------------------------------------------------------


def test_five_stages_per_size_each_starting_with_its_command() -> None:
    assert [p.name[:6] for p in TINY] == [f"stage{i}" for i in range(1, 6)]
    assert [p.name[:6] for p in BIG] == [f"stage{i}" for i in range(1, 6)]
    for path in [*TINY, *BIG]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# kangaroo train recipes/{path.parent.name}/{path.name}", path
    curriculum = (REPO / "recipes" / "tiny" / "curriculum.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert curriculum.startswith("# kangaroo train recipes/tiny/curriculum.yaml")


def test_every_field_of_the_bundled_recipes_has_a_comment() -> None:
    for path in [*TINY, *BIG]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("- {"):
                continue  # blank, comment, or a synth entry (its keys are documented in SynthSpec)
            if stripped.endswith(":"):
                continue  # a section header
            assert "#" in line, f"{path.name}:{number}: no comment: {line!r}"


def test_8b_recipes_carry_table_ii() -> None:
    recipes = {p.stem: load_recipe(p) for p in BIG}
    table = {  # stage: (px, frames, LLM length, lr, warm-up, packing)
        "stage1_image_pretrain": (224, 1, 512, 1e-4, 1000, False),
        "stage2_video_pretrain": (224, 8, 2560, 3e-5, 1000, False),
        "stage3_refinement": (448, 16, 2560, 3e-5, 0, False),
        "stage4_instruction": (448, 64, 10240, 1e-5, 0, True),
        "stage5_long_video": (448, 160, 22528, 1e-5, 0, True),
    }
    for name, (px, frames, length, lr, warmup, packing) in table.items():
        r = recipes[name]
        assert (r.model.image_size, r.data.frames.most_frames, r.data.max_length) == (px, frames, length), name
        assert (r.optim.lr, r.optim.warmup_steps, r.data.packing) == (lr, warmup, packing), name
        assert (r.optim.min_lr, r.optim.weight_decay, r.optim.vision_lr_decay, r.optim.grad_clip) == (1e-6, 0.05, 0.9, 1.0)
        assert r.precision == "bf16"
        assert r.schedule.batch_size * r.schedule.grad_accum == (4096 if name == "stage1_image_pretrain" else 128)
    assert recipes["stage4_instruction"].data.frames == FrameSampling(sampling="dynamic", rule=DynamicFrameRule(16, 64))
    long_video = recipes["stage5_long_video"].data.frames
    assert (long_video.rule, long_video.long_rule, long_video.long_min_duration) == (
        DynamicFrameRule(16, 64), DynamicFrameRule(64, 160), 64)
    assert [recipes[n].model.patchify_kernel for n in table] == [[1, 1, 1]] * 2 + [[2, 2, 2]] * 3
    assert [recipes[n].trainable for n in table] == ["image_pretraining", "video_pretraining",
                                                     "pretraining_refinement", "instruction_tuning",
                                                     "long_video_tuning"]


def test_curriculum_lists_the_tiny_stages_and_out_moves_each(tmp_path: Path) -> None:
    curriculum = load_curriculum(REPO / "recipes" / "tiny" / "curriculum.yaml")
    assert [p.name for p in curriculum.stages] == [p.name for p in TINY]
    recipes = stage_recipes(curriculum, ["run.seed=3"], output_dir=tmp_path)
    assert [r.run.output_dir for r in recipes] == [str(tmp_path / p.stem) for p in TINY]
    assert all(r.run.seed == 3 for r in recipes)
    # each stage starts from the previous one's run directory
    for previous, recipe in itertools.pairwise(recipes):
        assert recipe.from_stage_dir() == Path(previous.run.output_dir).resolve()


# -- parsing and overrides --------------------------------------------------------------------


def test_overrides_parse_yaml_scalars() -> None:
    assert parse_override("optim.lr=3e-5") == (["optim", "lr"], 3e-5)
    assert parse_override("data.packing=false") == (["data", "packing"], False)
    assert parse_override("schedule.steps=10") == (["schedule", "steps"], 10)
    assert parse_override("data.records=[a.jsonl, b.jsonl]") == (["data", "records"], ["a.jsonl", "b.jsonl"])
    assert parse_override("model.from_stage=null") == (["model", "from_stage"], None)
    with pytest.raises(ConfigError):
        parse_override("optim.lr")
    data = apply_overrides({"data": {"synth": [{"task": "open_qa", "num": 3}]}},
                           ["data.synth.0.num=8", "optim.lr=1e-3", "run.output_dir=x"])
    assert data == {"data": {"synth": [{"task": "open_qa", "num": 8}]}, "optim": {"lr": 1e-3},
                    "run": {"output_dir": "x"}}
    with pytest.raises(ConfigError, match="no item 3"):
        apply_overrides({"data": {"synth": []}}, ["data.synth.3.num=1"])


def test_unknown_keys_and_bad_types_are_all_reported(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "r.yaml", {
        "stage": "x", "modle": {}, "optim": {"lr": "fast", "min_lr": 1e-6, "lr_decay": 0.9},
        "schedule": {"steps": 2.5}, "data": {"packing": "yes", "frames": {"num_frame": 4}},
    })
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    text = "\n".join(info.value.errors)
    for expected in ("modle: unknown key", "optim.lr: expected a number", "optim.lr_decay: unknown key",
                     "schedule.steps: expected an integer or null", "data.packing: expected true/false",
                     "data.frames.num_frame: unknown key"):
        assert expected in text
    assert len(info.value.errors) == 6
    recipe, errors = parse_recipe(path, ["optim.lr=2e-3"])  # a good override fixes one
    assert len(errors) == 5 and recipe.optim.lr == 2e-3 and recipe.optim.min_lr == 1e-6


def test_unknown_override_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"optim\.learning_rate: unknown key"):
        load_recipe(TINY[0], ["optim.learning_rate=1"])


def test_recipe_round_trips_through_yaml() -> None:
    recipe = load_recipe(TINY[3])
    again = recipe_from_dict(yaml.safe_load(recipe.to_yaml()))
    assert again == recipe


# -- validation -------------------------------------------------------------------------------


def _bad_recipe(tmp_path: Path) -> Recipe:
    return recipe_from_dict({
        "model": {"init": "kangaroo_tiny", "dtype": "float8"},
        "data": {"records": [str(tmp_path / "missing.jsonl")], "max_length": 40,
                 "frames": {"sampling": "uniform", "num_frames": 16}},
        "optim": {"lr": 1e-3, "warmup_steps": 10, "vision_lr_decay": 1.5},
        "schedule": {"steps": 5},
        "trainable": ["vision_tower", "decoder"],
        "precision": "int8",
        "run": {"output_dir": str(tmp_path / "run")},
    })


def test_validation_reports_every_problem_at_once(tmp_path: Path) -> None:
    errors = validate_recipe(_bad_recipe(tmp_path))
    text = "\n".join(errors)
    for expected in (
        "model.dtype: 'float8'",
        "precision: 'int8'",
        "missing.jsonl: no such records file",
        "optim.warmup_steps (10) must be less than schedule.steps (5)",
        "optim.vision_lr_decay",
        "unknown module 'decoder'",
        # 16 frames at 112 px: 8 groups x (16 tokens + a separator) + 2 markers
        "data.max_length (40) is shorter than one video: 16 frames at 112 px take 138 tokens",
    ):
        assert expected in text, (expected, errors)
    assert len(errors) == 7


def test_validation_checks_lengths_at_the_stage_geometry(tmp_path: Path) -> None:
    recipe = load_recipe(TINY[1], [f"run.output_dir={tmp_path / 'run'}", "data.max_length=100"])
    errors = validate_recipe(recipe)  # 8 frames at 56 px without patchify: 8 x (16 + 1) + 2 = 138
    assert errors == ["data.max_length (100) is shorter than one video: 8 frames at 56 px take 138 tokens "
                      "(+ the text)"]
    warnings: list[str] = []
    assert validate_recipe(load_recipe(TINY[1], [f"run.output_dir={tmp_path / 'run'}"]), warnings=warnings) == []
    assert len(warnings) == 1 and "has no finished model yet" in warnings[0]


def test_every_bundled_tiny_recipe_validates(tmp_path: Path) -> None:
    for path in TINY:
        recipe = load_recipe(path, output_dir=tmp_path / path.stem)
        assert validate_recipe(recipe) == [], path


@pytest.mark.parametrize("arm", ["true", "false"])
def test_the_tpe_ablation_validates_in_both_arms(tmp_path: Path, arm: str) -> None:
    out = tmp_path / "runs" / "ablations" / f"tpe_{arm}"  # the depth its from_stage expects
    result = invoke("train", "--validate", REPO / "recipes" / "ablations" / "tpe" / "curriculum.yaml", "--out", out,
                    f"model.temporal_embedding={arm}", "run.seed=2")
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == 2
    recipe = load_recipe(REPO / "recipes" / "ablations" / "tpe" / "2_align.yaml", [f"model.temporal_embedding={arm}"],
                         output_dir=out / "2_align")
    assert recipe.model.temporal_embedding is (arm == "true")
    assert recipe.from_stage_dir() == (tmp_path / "runs" / "bundled" / "1_world_vision").resolve()


def _mixture(tmp_path: Path) -> Path:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"not checked without decoding")
    record = {"id": "a", "video": "videos/a.mp4", "messages": [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]},
        {"role": "assistant", "content": "Nothing."}]}
    (tmp_path / "train.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return write_yaml(tmp_path / "mix.yaml", {"datasets": [{"path": "train.jsonl", "root": "."}]})


def test_8b_instruction_recipe_validates_on_the_meta_device(tmp_path: Path) -> None:
    path = REPO / "recipes" / "8b" / "stage4_instruction.yaml"
    missing = validate_recipe(load_recipe(path, output_dir=tmp_path / "run"))
    assert len(missing) == 1 and "data.mixture: data/kangaroo/stage4_instruction.yaml: no such mixture file" in missing[0]
    warnings: list[str] = []
    recipe = load_recipe(path, [f"data.mixture={_mixture(tmp_path)}"], output_dir=tmp_path / "run")
    assert validate_recipe(recipe, warnings=warnings) == []
    assert "kangaroo_8b architecture" in warnings[0]
    model = meta_model(recipe)
    assert model.config.layout.prompt_tokens(64) == 8226 and next(model.parameters()).is_meta
    too_short = load_recipe(path, [f"data.mixture={tmp_path / 'mix.yaml'}", "data.max_length=8000"],
                            output_dir=tmp_path / "run")
    assert validate_recipe(too_short) == ["data.max_length (8000) is shorter than one video: 64 frames at 448 px "
                                          "take 8226 tokens (+ the text)"]


def test_8b_stage1_names_the_missing_checkpoints(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "8b" / "stage1_image_pretrain.yaml",
                         [f"data.mixture={_mixture(tmp_path)}"], output_dir=tmp_path / "run")
    assert validate_recipe(recipe) == ["model: init=components needs model.vision_dir and model.llm_dir"]


# -- the command line --------------------------------------------------------------------------


def test_validate_exit_codes(tmp_path: Path) -> None:
    ok = invoke("train", "--validate", TINY[0], "--out", tmp_path / "run")
    assert ok.exit_code == 0, ok.output
    assert "ok image_pretrain" in ok.output

    bad = write_yaml(tmp_path / "bad.yaml", {"optim": {"lr": -1.0, "betas": [0.9]}, "precison": "bf16",
                                             "schedule": {"steps": 3}, "data": {"records": ["nope.jsonl"]}})
    result = invoke("train", "--validate", bad, "schedule.batch_size=0")
    assert result.exit_code == 1
    for expected in ("precison: unknown key", "optim.lr: must be > 0", "optim.betas", "schedule.batch_size",
                     "nope.jsonl: no such records file"):
        assert expected in result.output, result.output
    assert "6 problems" in result.output  # and optim.min_lr, now above optim.lr

    assert invoke("train", "--validate", tmp_path / "absent.yaml").exit_code == 2
    assert invoke("train", "--validate", TINY[0], "optim.lr").exit_code == 2
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n", encoding="utf-8")
    assert invoke("train", "--validate", tmp_path / "broken.yaml").exit_code == 2


def test_validate_a_curriculum_reports_per_stage(tmp_path: Path) -> None:
    result = invoke("train", "--validate", REPO / "recipes" / "tiny" / "curriculum.yaml", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == 5
    result = invoke("train", "--validate", REPO / "recipes" / "tiny" / "curriculum.yaml", "--out", tmp_path,
                    "data.max_length=64")
    assert result.exit_code == 1
    assert "stage5_long_video.yaml: data.max_length (64)" in result.output
    assert "4 problems" in result.output  # a 56 px image (19 tokens) still fits in stage 1


# -- stage geometry ---------------------------------------------------------------------------


def _embeddings(model: torch.nn.Module) -> torch.nn.Module:
    tower = model.vision_tower
    return tower.vision_model.embeddings if hasattr(tower, "vision_model") else tower.embeddings


def test_image_size_and_patchify_changes(tmp_path: Path) -> None:
    recipe = load_recipe(TINY[0], output_dir=tmp_path)
    model, processor = build_model(recipe)
    assert model.config.vision_config.image_size == 56 and tuple(model.config.patchify_kernel) == (1, 1, 1)
    assert processor.layout == model.config.layout and processor.layout.prompt_tokens(1) == 19
    pixels = torch.randn(3, 3, 56, 56)
    features = model.get_video_features(pixels, torch.tensor([0.0, 1.0, 2.0]), [1, 2])
    assert [f.shape for f in features] == [(16, 128), (32, 128)]  # 16 patches per frame, one token each

    table = _embeddings(model).position_embedding.weight.detach().clone()  # (17, 64)
    assert adapt_model(model, image_size=112, patchify_kernel=[2, 2, 2]) == ["image_size 112",
                                                                            "patchify_kernel (2, 2, 2)"]
    grown = _embeddings(model).position_embedding.weight
    assert grown.shape == (65, 64)
    assert torch.equal(grown[0], table[0])  # the class token's position is kept
    # bicubic interpolation of a 4x4 grid to 8x8 keeps the mean of the table close
    assert torch.allclose(grown[1:].mean(0), table[1:].mean(0), atol=0.05)
    conv = model.patchify.conv
    assert conv.kernel_size == (2, 2, 2) and torch.all(conv.weight == 1 / 8) and torch.all(conv.bias == 0)
    out = model.get_video_features(torch.randn(4, 3, 112, 112), torch.arange(4.0), [4])
    assert out[0].shape == (2 * 16, 128)
    assert adapt_model(model, image_size=112, patchify_kernel=[2, 2, 2]) == []


def test_data_frames_is_a_frame_sampling_checked_when_read(tmp_path: Path) -> None:
    frames = load_recipe(TINY[4]).data.frames  # 8-32 frames, 32-80 above 16 s, 2 per second
    assert [frames.frame_count(d) for d in (2, 8, 16, 20, 50)] == [8, 16, 32, 40, 80]
    assert load_recipe(TINY[1]).data.frames == FrameSampling(num_frames=8)
    path = write_yaml(tmp_path / "r.yaml", {"data": {"frames": {"sampling": "dynamic", "num_frames": 8,
                                                                "rule": {"min_frames": 0}}},
                                            "optim": {"lr": "fast"}})
    _, errors = parse_recipe(path)
    assert errors == ["data.frames.rule: need 1 <= min_frames <= max_frames, got 0, 64",
                      "data.frames: num_frames is for sampling='uniform', not 'dynamic'; use max_frames",
                      "optim.lr: expected a number, got 'fast'"]
    unbounded = load_recipe(TINY[1], ["data.frames.num_frames=null"], output_dir=tmp_path / "run")
    assert "data.frames: every frame has no frame budget" in validate_recipe(unbounded, build_model=False)[0]


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_log_truncates_and_skips_torn_lines(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in range(1, 6):
        log.append({"step": step, "loss": 5.0 - step / 10, "lr": 1e-3, "bad": float("nan")})
    with log.path.open("a", encoding="utf-8") as handle:
        handle.write('{"step": 6, "loss": 4.')  # a kill mid-write
    entries = read_metrics(log.path)
    assert [e["step"] for e in entries] == [1, 2, 3, 4, 5] and entries[0]["bad"] is None
    log.truncate(3)
    assert [e["step"] for e in log.read()] == [1, 2, 3]
    log.append({"step": 4, "loss": 1.0})
    assert [e["step"] for e in log.read()] == [1, 2, 3, 4]
    png = plot_loss_curve(log.read(), tmp_path / "loss.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
