"""The named builders: the paper's 8B shape on the meta device, and assembly from components."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from kangaroo.model.builders import kangaroo_8b, kangaroo_from_components
from kangaroo.model.layout import VIDEO_PAD
from kangaroo.model.tokenizer import build_byte_tokenizer


def test_8b_has_the_papers_shape_without_allocating():
    model = kangaroo_8b()  # meta device: no memory for weights
    assert all(p.device.type == "meta" for p in model.parameters())
    params = sum(p.numel() for p in model.parameters())
    assert 8.2e9 < params < 8.45e9  # Llama-3-8B (8.03B) + ViT-L (0.30B) + projector
    layout = model.config.layout
    assert layout.features_per_frame == 1024 and layout.tokens_per_group == 256
    assert layout.visual_tokens(16) == 2048 and layout.visual_tokens(160) == 20480
    assert model.config.text_config.num_hidden_layers == 32
    assert model.config.vision_config.image_size == 448


VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=56,
              patch_size=14)


def clip_vision():
    return CLIPVisionModel(CLIPVisionConfig(**VISION))


def siglip_vision():
    return SiglipVisionModel(SiglipVisionConfig(**VISION))


def full_clip():
    return CLIPModel(CLIPConfig(vision_config=VISION, text_config=dict(hidden_size=32, intermediate_size=64,
                                                                        num_hidden_layers=1, num_attention_heads=2)))


@pytest.mark.parametrize("make_tower", [clip_vision, siglip_vision, full_clip], ids=["clip", "siglip", "full-clip"])
def test_from_components_keeps_the_component_weights(tmp_path, make_tower):
    vision_dir, llm_dir = tmp_path / "vision", tmp_path / "llm"
    torch.manual_seed(0)
    tower = make_tower()
    tower.save_pretrained(vision_dir)
    if hasattr(tower, "text_model"):  # a full CLIP checkpoint: only its vision half is used
        tower = tower.vision_model
    tokenizer = build_byte_tokenizer()
    llm = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tokenizer)))
    llm.save_pretrained(llm_dir)
    tokenizer.save_pretrained(llm_dir)

    model, tok = kangaroo_from_components(vision_dir, llm_dir)
    assert model.config.text_config.model_type == "qwen2"
    assert model.config.video_pad_token_id == tok.convert_tokens_to_ids(VIDEO_PAD)
    tower_weights = model.vision_tower.state_dict()
    for name, value in tower.state_dict().items():
        assert torch.equal(tower_weights[name], value), name
    frames = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        assert model.get_video_features(frames, torch.tensor([0.0, 1.0]), [2])[0].shape == (4, 32)
    for name, value in llm.state_dict().items():  # embedding rows added for new tokens come after the old ones
        assert torch.equal(model.language_model.state_dict()[name][: len(value)], value), name
    assert model.language_model.get_input_embeddings().weight.shape[0] == len(tok)
