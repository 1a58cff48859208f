"""The EVA02-CLIP tower against the vendored EVA-CLIP reference (tests/eva_clip_reference.py)."""

from __future__ import annotations

import pytest
import torch

from eva_clip_reference import VisionRotaryEmbeddingFast, eva02_clip_vit
from kangaroo.model.builders import kangaroo_8b_config
from kangaroo.model.convert import eva_clip_targets
from kangaroo.model.eva import EvaVisionConfig, EvaVisionModel, eva_rope_tables
from kangaroo.model.weight_files import open_weights


@pytest.mark.parametrize(("image_size", "depth"), [(56, 3), (84, 2)], ids=["grid4", "grid6"])
def test_every_layer_equals_the_eva_clip_reference(tmp_path, image_size, depth):
    torch.manual_seed(0)
    reference = eva02_clip_vit(width=64, depth=depth, head_width=16, image_size=image_size).eval()
    torch.save(reference.state_dict(), tmp_path / "tower.bin")
    config = EvaVisionConfig(hidden_size=64, intermediate_size=170, num_hidden_layers=depth, num_attention_heads=4,
                             image_size=image_size, patch_size=14)
    dropped: dict[str, str] = {}
    targets = eva_clip_targets(open_weights(tmp_path / "tower.bin"), "", config, dropped)  # the converter's key map
    model = EvaVisionModel(config).eval()
    model.load_state_dict({name.removeprefix("vision_tower."): t.build() for name, t in targets.items()}, strict=True)
    assert {k for k in dropped if "rope" in k} == {k for k in reference.state_dict() if "rope" in k}

    pixels = torch.randn(2, 3, image_size, image_size)
    with torch.no_grad():
        ours = model(pixels, output_hidden_states=True).hidden_states
        x = reference.patch_embed(pixels)
        x = torch.cat([reference.cls_token.expand(2, -1, -1), x], dim=1) + reference.pos_embed
        expected = [x]
        for block in reference.blocks:
            expected.append(x := block(x))
        assert torch.equal(expected[-1], reference(pixels, return_all_features=True))
    assert len(ours) == depth + 1
    for layer, (a, b) in enumerate(zip(ours, expected, strict=True)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=f"layer {layer}")


@pytest.mark.parametrize("grid", [4, 16, 32])
def test_rope_tables_are_the_reference_buffers(grid):
    """head width 64 as EVA02-CLIP-L; grid 32 is the released 448 px tower, 16 its 224 px pre-training."""
    reference = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=grid)
    cos, sin = eva_rope_tables(64, grid, pretrain_grid=16)
    assert torch.equal(cos, reference.freqs_cos) and torch.equal(sin, reference.freqs_sin)
    with pytest.raises(ValueError, match="without interpolation"):
        eva_rope_tables(64, grid + 1, interpolate=False)


def test_the_8b_model_uses_the_eva02_l_tower():
    vision = kangaroo_8b_config().vision_config
    assert isinstance(vision, EvaVisionConfig)
    assert (vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers, vision.num_attention_heads,
            vision.image_size, vision.patch_size, vision.layer_norm_eps) == (1024, 2730, 24, 16, 448, 14, 1e-6)
    with torch.device("meta"):
        tower = EvaVisionModel(vision)
    assert 300e6 < sum(p.numel() for p in tower.parameters()) < 306e6  # EVA02-CLIP-L's ViT: 0.30B
