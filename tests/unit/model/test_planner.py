"""The planner: the paper's token counts and context lengths, parameter counts that match the built
model, exact KV-cache and FLOP formulas against hand-written Llama-3-8B / ViT-L shapes, and the
memory search."""

from __future__ import annotations

import inspect

import pytest

from kangaroo.model.builders import (
    UnknownModelError,
    kangaroo_8b,
    kangaroo_8b_config,
    kangaroo_tiny,
    kangaroo_tiny_config,
)
from kangaroo.model.modeling import KangarooForCausalLM
from kangaroo.model.planner import (
    VISION_CHUNK,
    max_frames_for_memory,
    plan,
    resolve_model_config,
)
from kangaroo.model.pretrained import ModelLoadError


@pytest.fixture(scope="module")
def config_8b():
    return kangaroo_8b_config()


def test_16_frames_give_the_papers_2048_visual_tokens_and_2560_context(config_8b) -> None:
    p = plan(config_8b, 16, text_tokens=512)
    assert (p.features_per_frame, p.visual_tokens_per_frame, p.frame_groups) == (1024, 128, 8)
    assert p.visual_tokens == 2048
    assert p.context_length == 2048 + 8 + 2 + 512  # placeholders, frame separators, start/end, text
    assert abs(p.context_length - 2560) / 2560 < 0.01  # Table II: "LLM sequence length 2560"


@pytest.mark.parametrize(("frames", "paper"), [(64, 10 * 1024), (160, 22 * 1024)])
def test_64_and_160_frames_match_the_papers_10k_and_22k_contexts(config_8b, frames: int, paper: int) -> None:
    p = plan(config_8b, frames, text_tokens=512)
    assert p.visual_tokens == frames * 128
    assert p.video_prompt_tokens == frames * 128 + frames // 2 + 2
    # the paper's 10K / 22K budgets leave about 2K tokens for instruction text beside the video
    assert 1000 < paper - p.video_prompt_tokens < 2500
    instruction = plan(config_8b, frames, text_tokens=2048)
    assert abs(instruction.context_length - paper) / paper < 0.01
    low, high = {64: (9_000, 11_000), 160: (20_500, 23_000)}[frames]
    assert low < instruction.context_length < high
    if frames == 160:
        assert 20_500 < p.context_length < 23_000  # ~22K even with 512 text tokens
        assert p.context_length < p.max_position_embeddings


def test_parameter_counts_match_the_built_8b_model(config_8b) -> None:
    model = kangaroo_8b()
    p = plan(config_8b, 160)
    assert p.params_total == sum(t.numel() for t in model.parameters())
    assert 8.2e9 < p.params_total < 8.45e9  # "8B": Llama-3-8B 8.03B + ViT-L 0.30B + projector
    assert p.params_vision == sum(t.numel() for t in model.vision_tower.parameters())
    assert p.params_llm == 8_030_326_784  # Llama-3-8B with 8 more embedding rows
    assert p.params_total == p.params_vision + p.params_projector + p.params_llm
    assert p.weight_bytes == 2 * p.params_total


def test_kv_cache_is_llama3_8b_gqa_and_scales_with_dtype_and_batch(config_8b) -> None:
    p = plan(config_8b, 160)
    assert p.kv_cache_bytes == 2 * 32 * 8 * 128 * p.context_length * 2  # K and V, 32 layers, 8 KV heads
    fp32 = plan(config_8b, 160, dtype_bytes=4, batch_size=3)
    assert fp32.kv_cache_bytes == 2 * 3 * p.kv_cache_bytes
    assert fp32.weight_bytes == 2 * p.weight_bytes
    assert p.total_bytes == p.weight_bytes + p.kv_cache_bytes + p.activation_bytes
    assert p.activation_bytes == max(p.vision_activation_bytes, p.llm_activation_bytes)


def test_prefill_flops_follow_the_documented_formulas(config_8b) -> None:
    """Reference values from the architectures written out by hand, not from the model's modules."""
    for frames in (16, 160):
        p = plan(config_8b, frames)
        seq, width, mlp = 1025, 1024, 2730  # EVA02-L/14 at 448: 1024 patches + class token, SwiGLU 2730
        attention = 4 * width * width + 2 * width + 2 * width + width  # q k v proj, q/v bias, inner LN, proj bias
        swiglu = 2 * (width * mlp + mlp) + 2 * mlp + mlp * width + width  # w1 w2, ffn LN, w3
        vit_layer = attention + swiglu + 4 * width  # + norm1, norm2
        vit_matmul = 24 * vit_layer + 3 * 14 * 14 * width + width + width  # + patch embed (with bias), class
        assert p.flops_vision == 2 * vit_matmul * frames * seq + 4 * 24 * frames * seq**2 * width

        ctx, d = p.context_length, 4096
        llm_layer = 2 * d * d + 2 * d * 1024 + 3 * d * 14336 + 2 * d  # q, o, k, v (GQA), MLP, norms
        body, head = 32 * llm_layer + d, (128256 + 8) * d
        assert p.flops_llm == 2 * body * ctx + 2 * head + 2 * 32 * ctx**2 * d  # causal: half of 4 L^2 d

        patchify, projector = width * 8 + width, width * d + d
        assert p.flops_projector == 2 * (patchify + projector) * p.visual_tokens
        assert p.flops_total == p.flops_vision + p.flops_projector + p.flops_llm


def test_max_frames_is_the_largest_count_that_fits_and_grows_with_memory(config_8b) -> None:
    needed = plan(config_8b, 160).total_bytes
    assert max_frames_for_memory(config_8b, needed) == 160
    assert max_frames_for_memory(config_8b, needed - 1) < 160
    counts = [max_frames_for_memory(config_8b, gib * 2**30) for gib in (15, 24, 40, 80)]
    assert counts[0] == 0  # 15 GiB: the bf16 weights alone take 15.5 GiB
    assert counts == sorted(counts) and counts[-1] > counts[1] > 0
    for budget, frames in zip((24, 40, 80), counts[1:], strict=True):
        assert plan(config_8b, frames).total_bytes <= budget * 2**30 < plan(config_8b, frames + 1).total_bytes
    assert max_frames_for_memory(config_8b, 30 * 2**30, dtype_bytes=4) == 0  # fp32 weights: 31.1 GiB
    assert 0 < max_frames_for_memory(config_8b, 40 * 2**30, dtype_bytes=4) < counts[2]
    with pytest.raises(ValueError, match="finite"):
        max_frames_for_memory(config_8b, float("inf"))


def test_image_size_override_changes_patches_and_tokens_only_in_the_plan(config_8b) -> None:
    p = plan(config_8b, 2, image_size=224)
    assert (p.image_size, p.features_per_frame, p.visual_tokens, p.visual_tokens_per_frame) == (224, 256, 64, 32)
    assert p.params_vision == plan(config_8b, 2).params_vision - (1025 - 257) * 1024  # smaller position table
    assert config_8b.vision_config.image_size == 448  # the caller's config is not changed
    with pytest.raises(ValueError, match="multiple"):
        plan(config_8b, 2, image_size=230)
    with pytest.raises(ValueError, match="multiple"):
        plan(config_8b, 2, image_size=238)  # 17 patches: not a multiple of the 2x2 patchify


@pytest.mark.parametrize("projector_type", ["linear", "ccam"])
def test_tiny_plans_match_the_tiny_models(projector_type: str) -> None:
    config = kangaroo_tiny_config(projector_type=projector_type)
    model = kangaroo_tiny(projector_type=projector_type)
    short, long = plan(config, 4), plan(config, 40)
    assert short.params_total == sum(t.numel() for t in model.parameters())
    layout = config.layout
    for p, frames in ((short, 4), (long, 40)):
        assert p.visual_tokens == layout.visual_tokens(frames)
        assert p.context_length == layout.prompt_tokens(frames) + 512
    if projector_type == "ccam":
        assert short.visual_tokens == long.visual_tokens == 32  # fixed queries, whatever the length
        assert long.flops_projector > short.flops_projector  # the queries read more frames
    else:
        assert (short.visual_tokens, long.visual_tokens) == (32, 320)  # 16 tokens per frame pair


def test_bad_counts_raise(config_8b) -> None:
    for kwargs in ({"num_frames": 0}, {"num_frames": 4, "text_tokens": -1}, {"num_frames": 4, "batch_size": 0}):
        with pytest.raises(ValueError):
            plan(config_8b, **kwargs)


def test_vision_chunk_matches_encode_frames() -> None:
    assert inspect.signature(KangarooForCausalLM.encode_frames).parameters["chunk"].default == VISION_CHUNK


def test_resolve_names_directories_and_unknowns(tmp_path) -> None:
    model_dir, empty = tmp_path / "model", tmp_path / "empty"
    empty.mkdir()
    assert resolve_model_config("8b").text_config.num_hidden_layers == 32
    assert resolve_model_config("kangaroo_tiny").vision_config.image_size == 112
    kangaroo_tiny_config(projector_type="ccam").save_pretrained(model_dir)
    assert resolve_model_config(str(model_dir)).projector_type == "ccam"
    with pytest.raises(UnknownModelError, match=r"kangaroo_tiny \(tiny\), kangaroo_mini \(mini\), kangaroo_8b \(8b\)"):
        resolve_model_config("llama-70b")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        resolve_model_config(str(empty))
    (empty / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelLoadError, match="model_type is 'llama', not 'kangaroo'"):
        resolve_model_config(str(empty))
