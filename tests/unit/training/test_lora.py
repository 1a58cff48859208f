"""LoRA on the LLM through PEFT: only adapters train; merging keeps the logits; saving."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.modeling import KangarooForCausalLM
from kangaroo.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from kangaroo.training.freezing import set_trainable
from kangaroo.training.lora import add_lora, has_lora, merge_lora, save_adapter
from kangaroo.training.optim import build_optimizer

TARGETS = ["q_proj", "v_proj", "down_proj"]


def _inputs(model) -> dict:
    config = model.config
    ids = torch.tensor([[5, 6, config.video_start_token_id, *[config.video_pad_token_id] * 16,
                         config.video_end_token_id, 7, 8, 9]])  # 2 frames at 112 px: 16 tokens
    generator = torch.Generator().manual_seed(0)
    return dict(input_ids=ids, labels=ids, pixel_values_videos=torch.randn(2, 3, 112, 112, generator=generator),
                video_timestamps=torch.tensor([0.0, 1.5]), video_frame_counts=torch.tensor([2]))


def _lora_model_after_steps(steps: int = 2):
    model = add_lora(kangaroo_tiny(), r=4, alpha=8, target_modules=TARGETS)
    set_trainable(model, ["language_model"])  # a PEFT-wrapped LLM: its adapters only
    optimizer = build_optimizer(model, lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        model(**_inputs(model)).loss.backward()
        optimizer.step()
    return model


def test_a_lora_step_changes_only_adapter_weights():
    model = add_lora(kangaroo_tiny(), r=4, alpha=8, target_modules=TARGETS)
    counts = set_trainable(model, ["language_model"])
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    assert counts["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = build_optimizer(model, lr=1e-2)
    for _ in range(2):
        optimizer.zero_grad()
        model(**_inputs(model)).loss.backward()
        optimizer.step()
    for name, p in model.named_parameters():
        if ".lora_" in name:
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name


def test_merged_model_gives_the_adapted_logits_and_saves_as_a_plain_model(tmp_path):
    model = _lora_model_after_steps().eval()
    with torch.no_grad():
        adapted = model(**_inputs(model)).logits
        plain = kangaroo_tiny()(**_inputs(model)).logits
    assert not torch.allclose(adapted, plain, atol=1e-4)  # the adapters changed the model

    merge_lora(model)
    assert not has_lora(model)
    assert set(model.state_dict()) == set(kangaroo_tiny().state_dict())
    with torch.no_grad():
        merged = model(**_inputs(model)).logits
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=1e-5)

    model.save_pretrained(tmp_path / "merged")
    reloaded = KangarooForCausalLM.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**_inputs(model)).logits, adapted, atol=1e-5, rtol=1e-5)


def test_adapters_save_the_peft_way_and_checkpoints_round_trip(tmp_path):
    model = _lora_model_after_steps(1)
    save_adapter(model, tmp_path / "adapters")
    assert (tmp_path / "adapters" / "adapter_config.json").is_file()
    with safe_open(tmp_path / "adapters" / "adapter_model.safetensors", "pt") as handle:
        keys = list(handle.keys())
    assert keys and all("lora_" in key for key in keys)

    path = save_checkpoint(tmp_path / "run", 1, model=model, optimizer=None, scheduler=None, trainer_state={})
    assert (path / "adapter" / "adapter_config.json").is_file()
    fresh = add_lora(kangaroo_tiny(seed=1), r=4, alpha=8, target_modules=TARGETS)
    load_checkpoint(latest_checkpoint(tmp_path / "run"), model=fresh)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_lora_misuse_fails_clearly():
    model = kangaroo_tiny()
    with pytest.raises(ValueError, match="no LoRA adapters"):
        merge_lora(model)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        save_adapter(model, "unused")
    with pytest.raises(ValueError, match="target_modules"):
        add_lora(model, r=4, alpha=8, target_modules=[])
    with pytest.raises(ValueError, match="r >= 1"):
        add_lora(model, r=0, alpha=8, target_modules=TARGETS)
    add_lora(model, r=4, alpha=8, target_modules=TARGETS)
    with pytest.raises(ValueError, match="already has LoRA"):
        add_lora(model, r=4, alpha=8, target_modules=TARGETS)
