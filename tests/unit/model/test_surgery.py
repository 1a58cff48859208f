"""Model surgery between stages: frame size, patchify kernel and temporal embedding changed in place."""

from __future__ import annotations

import pytest
import torch

from kangaroo.model.builders import kangaroo_8b, kangaroo_tiny
from kangaroo.model.surgery import adapt_model


def _positions(model) -> torch.Tensor:
    return model.vision_tower.embeddings.position_embedding.weight


def test_a_larger_frame_interpolates_the_position_table():
    model = kangaroo_tiny(seed=0)  # 112 px, patch 14: an 8x8 grid + the class token
    table = _positions(model).detach().clone()  # (65, 64)
    assert adapt_model(model, image_size=224) == ["image_size 224"]
    grown = _positions(model)
    assert grown.shape == (1 + 16 * 16, 64) and torch.equal(grown[0], table[0])  # class position kept
    assert model.config.layout.image_size == 224 and model.config.layout.features_per_frame == 256
    with torch.no_grad():
        features = model.get_video_features(torch.randn(2, 3, 224, 224), torch.tensor([0.0, 1.0]), [2])
    assert features[0].shape == (model.config.layout.visual_tokens(2), 128)


def test_a_new_patchify_kernel_starts_as_averaging():
    model = kangaroo_tiny(seed=0)
    assert adapt_model(model, patchify_kernel=[1, 1, 1]) == ["patchify_kernel (1, 1, 1)"]
    assert model.config.layout.tokens_per_group == 64 and model.patchify.conv.kernel_size == (1, 1, 1)
    assert adapt_model(model, patchify_kernel=(2, 2, 2)) == ["patchify_kernel (2, 2, 2)"]
    assert torch.all(model.patchify.conv.weight == 1 / 8) and torch.all(model.patchify.conv.bias == 0)
    assert adapt_model(model, image_size=112, patchify_kernel=[2, 2, 2]) == []  # nothing to change


def test_the_temporal_embedding_switches_off_and_on_and_is_saved(tmp_path):
    from kangaroo.model.modeling import KangarooForCausalLM

    model = kangaroo_tiny(seed=0).eval()
    frames = torch.randn(2, 3, 112, 112)

    def features(times):
        with torch.no_grad():
            return model.get_video_features(frames, torch.tensor(times), [2])[0]

    assert not torch.allclose(features([0.0, 1.0]), features([5.0, 9.0]))  # the time is in the tokens
    assert adapt_model(model, temporal_embedding=False) == ["temporal_embedding off"]
    assert model.temporal_embedding is None and torch.equal(features([0.0, 1.0]), features([5.0, 9.0]))
    model.save_pretrained(tmp_path)
    assert KangarooForCausalLM.from_pretrained(tmp_path).temporal_embedding is None
    assert adapt_model(model, temporal_embedding=False) == []
    assert adapt_model(model, temporal_embedding=True) == ["temporal_embedding on"]
    assert not torch.allclose(features([0.0, 1.0]), features([5.0, 9.0]))


def test_surgery_plans_on_the_meta_device_and_checks_the_geometry():
    model = kangaroo_8b()  # 448 px on the meta device
    assert adapt_model(model, image_size=224, patchify_kernel=[1, 1, 1]) == ["image_size 224",
                                                                            "patchify_kernel (1, 1, 1)"]
    assert next(model.parameters()).is_meta and model.config.layout.prompt_tokens(1) == 2 + 1 + 256
    with pytest.raises(ValueError, match="not a multiple of the ViT patch size 14"):
        adapt_model(kangaroo_tiny(), image_size=100)
