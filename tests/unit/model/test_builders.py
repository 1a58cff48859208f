"""The named builders: the paper's 8B shape on the meta device, assembly from components, the
registry, and the one convention for video-token ids (read from the tokenizer)."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer
from tokenizers import models as tokenizer_models
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from kangaroo.model.builders import (
    UnknownModelError,
    find_model_builder,
    kangaroo_8b,
    kangaroo_8b_config,
    kangaroo_from_components,
    kangaroo_tiny,
    kangaroo_tiny_config,
    model_builder,
)
from kangaroo.model.configuration import VIDEO_TOKEN_ID_FIELDS
from kangaroo.model.layout import SPECIAL_VIDEO_TOKENS, VIDEO_PAD
from kangaroo.model.pretrained import load_pretrained
from kangaroo.model.tokenizer import (
    CHAT_TOKENS,
    add_video_tokens,
    build_byte_tokenizer,
    llama3_chat_template,
    video_token_ids,
)
from kangaroo.model.tokenizer_training import train_bpe_tokenizer
from kangaroo.processing import KangarooProcessor


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


# -- the registry -----------------------------------------------------------------------------


def test_builders_are_looked_up_by_name_or_alias():
    assert model_builder("kangaroo_tiny") is model_builder("tiny") is model_builder("Kangaroo_Tiny")
    assert model_builder("8b").name == "kangaroo_8b" and model_builder("8b").tokenizer is None
    tiny = model_builder("tiny")
    assert tiny.config().vision_config.image_size == 112
    a, b = tiny.build(seed=3), kangaroo_tiny(seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_an_unknown_name_lists_the_known_ones():
    assert find_model_builder("llama-70b") is None
    with pytest.raises(UnknownModelError, match=r"'llama-70b'.*kangaroo_tiny \(tiny\), kangaroo_mini \(mini\), kangaroo_8b \(8b\)"):
        model_builder("llama-70b")


# -- one convention for the video-token ids ---------------------------------------------------


def _config_ids(model) -> dict[str, int]:
    return {token: getattr(model.config, field) for token, field in VIDEO_TOKEN_ID_FIELDS.items()}


def _runs_a_video(model, processor) -> None:
    """The processor's placeholders are where the model scatters its features (2 frames)."""
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Hi"}]}]
    size = processor.layout.image_size
    inputs = processor.build_inputs(messages, [(torch.randn(2, 3, size, size), torch.tensor([0.0, 1.0]))])
    with torch.no_grad():
        assert model(**inputs).logits.shape[:2] == inputs["input_ids"].shape


def test_built_saved_and_bpe_models_agree_on_the_video_token_ids(tmp_path):
    bpe = train_bpe_tokenizer(["a kangaroo jumps over the fence", "袋鼠跳过了篱笆", "the kangaroo jumps"] * 4,
                              vocab_size=300)
    byte = build_byte_tokenizer()
    built = kangaroo_tiny(byte, seed=0)
    built.save_pretrained(tmp_path)
    KangarooProcessor(byte, built.config.layout).save_pretrained(tmp_path)
    loaded, loaded_processor = load_pretrained(tmp_path)
    with_bpe = kangaroo_tiny(bpe, seed=0)
    models = {
        "built": (built, KangarooProcessor(byte, built.config.layout), byte),
        "saved+loaded": (loaded, loaded_processor, loaded_processor.tokenizer),
        "trained bpe": (with_bpe, KangarooProcessor(bpe, with_bpe.config.layout), bpe),
    }
    expected = dict(zip(SPECIAL_VIDEO_TOKENS, range(262, 267), strict=True))  # after bytes and chat tokens
    for name, (model, processor, tokenizer) in models.items():
        assert video_token_ids(tokenizer) == processor.video_token_ids == expected, name
        assert _config_ids(model) == {t: expected[t] for t in VIDEO_TOKEN_ID_FIELDS}, name
        _runs_a_video(model.eval(), processor)


def test_appended_video_tokens_are_read_from_the_tokenizer():
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(tokenizer_models.WordLevel(
        {"[UNK]": 0, "hi": 1}, unk_token="[UNK]")), unk_token="[UNK]", chat_template=llama3_chat_template())
    tokenizer.add_tokens(list(CHAT_TOKENS), special_tokens=True)
    ids = add_video_tokens(tokenizer)
    model = kangaroo_tiny(tokenizer)
    processor = KangarooProcessor(tokenizer, model.config.layout)
    assert processor.video_token_ids == ids and _config_ids(model) == {t: ids[t] for t in VIDEO_TOKEN_ID_FIELDS}
    assert model.config.video_pad_token_id == len(tokenizer) - 1  # appended last, in SPECIAL_VIDEO_TOKENS order
    _runs_a_video(model.eval(), processor)


def test_8b_ids_are_those_add_video_tokens_gives_llama3():
    llama3_sized = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(tokenizer_models.WordLevel(
        {f"t{i}": i for i in range(128256)}, unk_token="t0")))
    ids = add_video_tokens(llama3_sized)
    config = kangaroo_8b_config()
    config.check_video_token_ids(ids)  # raises when they differ
    assert config.text_config.vocab_size >= len(llama3_sized)
    assert kangaroo_8b_config(llama3_sized).video_pad_token_id == ids[VIDEO_PAD]


def test_a_config_rejects_a_tokenizer_with_other_ids():
    config = kangaroo_tiny_config()
    with pytest.raises(ValueError, match=r"<\|video_pad\|>: config 266, tokenizer 7"):
        config.check_video_token_ids({**video_token_ids(build_byte_tokenizer()), VIDEO_PAD: 7})


def test_from_components_keeps_a_padded_vocabulary(tmp_path):
    vision_dir, llm_dir = tmp_path / "vision", tmp_path / "llm"
    clip_vision().save_pretrained(vision_dir)
    tokenizer = build_byte_tokenizer()
    padded = len(tokenizer) + 13  # as Qwen2's table is larger than its tokenizer
    Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 num_key_value_heads=1, vocab_size=padded)).save_pretrained(llm_dir)
    tokenizer.save_pretrained(llm_dir)
    model, tok = kangaroo_from_components(vision_dir, llm_dir)
    assert model.language_model.get_input_embeddings().weight.shape[0] == padded
    model.config.check_video_token_ids(video_token_ids(tok))


def test_the_mini_builder_uses_the_shipped_world_tokenizer_and_resolves_objects_at_the_world_size():
    from kangaroo.model.builders import build_world_tokenizer, kangaroo_mini

    mini = model_builder("mini")
    tokenizer = build_world_tokenizer()
    assert mini.tokenizer is build_world_tokenizer and len(tokenizer) == 2048
    for word in ("red", "ring", "left", "down", "triangle"):  # the world's words are single tokens
        assert len(tokenizer(" " + word, add_special_tokens=False)["input_ids"]) == 1
    config = mini.config()
    assert (config.vision_config.image_size, config.vision_config.patch_size) == (128, 16)  # 128 x 96 frames, no upscaling
    assert config.text_config.vocab_size >= len(tokenizer) and config.projector_type == "mlp"
    a, b = mini.build(seed=1), kangaroo_mini(seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.slow
def test_the_shipped_world_tokenizer_is_what_its_recipe_trains():
    from kangaroo.model.builders import build_world_tokenizer, train_world_tokenizer

    assert train_world_tokenizer().get_vocab() == build_world_tokenizer().get_vocab()
