"""Worker of `test_distributed.py`: a few FSDP2 training steps of the tiny model on 2 ranks.

Run by the test as ``python -m torch.distributed.run --standalone --nproc_per_node 2
distributed_worker.py OUT_DIR``. Each rank trains on its half of a fixed 4-example global batch;
rank 0 writes ``OUT_DIR/{setup}.json`` (losses, what the sharding looked like) and
``OUT_DIR/{setup}.pt`` (the full state dict after the last step). The test imports this file too,
to run the same steps in one process on the whole batch (`train_single_process`).

Setups (name -> global batch and `shard_model` options):
- ``root_visual``: [text, video, text, text] -> rank 1 has no video; the visual branch in the root unit.
- ``vision_blocks``: [text, video, text, video] -> both ranks have a video; every ViT layer a unit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.training.distributed import (
    DistributedContext,
    all_reduce_mean,
    full_state_dict,
    init_distributed,
    shard_model,
    token_mean_loss_scale,
)

STEPS, LR, CLIP = 3, 1e-3, 1.0
SETUPS = {
    "root_visual": (("text", "video", "text", "text"), {}),
    "vision_blocks": (("text", "video", "text", "video"), {"shard_vision_blocks": True}),
}
TEXTS = [("What colour is the sky?", "Blue, on a clear day."),
         ("Name a prime.", "Seven."),
         ("Count to three.", "One, two, three."),
         ("Say hi.", "Hi!")]


def build_model() -> tuple[torch.nn.Module, KangarooProcessor]:
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=0)
    return model, KangarooProcessor(tokenizer, model.config.layout)


def make_examples(processor: KangarooProcessor, kinds: tuple[str, ...]) -> list[dict]:
    """One example per kind: token ids with labels on the answer only; a video example has 3
    frames (an odd count: patchify pads the last group) of seeded noise at real timestamps."""
    tok = processor.tokenizer
    size = processor.layout.image_size
    examples = []
    for i, kind in enumerate(kinds):
        question, answer = TEXTS[i]
        prompt = [tok.bos_token_id]
        video = None
        if kind == "video":
            prompt += processor.video_ids(3)
            generator = torch.Generator().manual_seed(100 + i)
            video = (torch.randn(3, 3, size, size, generator=generator), torch.tensor([0.0, 0.5, 1.25]))
        prompt += tok.encode(question, add_special_tokens=False)
        target = [*tok.encode(answer, add_special_tokens=False), tok.eos_token_id]
        ids = torch.tensor(prompt + target)
        labels = torch.tensor([-100] * len(prompt) + target)
        examples.append({"input_ids": ids, "labels": labels, "video": video})
    return examples


def collate(examples: list[dict], pad_id: int) -> tuple[dict, int]:
    """Right-padded batch ``(B, L)`` and its label-token count (after the causal shift)."""
    length = max(len(e["input_ids"]) for e in examples)
    input_ids = torch.full((len(examples), length), pad_id)
    labels = torch.full((len(examples), length), -100)
    mask = torch.zeros(len(examples), length, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        input_ids[row, :n], labels[row, :n], mask[row, :n] = e["input_ids"], e["labels"], 1
    inputs = {"input_ids": input_ids, "labels": labels, "attention_mask": mask, "use_cache": False}
    videos = [e["video"] for e in examples if e["video"] is not None]
    if videos:
        inputs["pixel_values_videos"] = torch.cat([v[0] for v in videos])  # (F, 3, S, S)
        inputs["video_timestamps"] = torch.cat([v[1] for v in videos])  # (F,)
        inputs["video_frame_counts"] = torch.tensor([len(v[1]) for v in videos])  # (V,)
    return inputs, int((labels[:, 1:] != -100).sum())


def train_steps(model: torch.nn.Module, inputs: dict, num_tokens: int, ctx: DistributedContext) -> list[float]:
    """STEPS AdamW steps with gradient clipping; returns the global token-mean loss of each step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.05)
    scale = token_mean_loss_scale(num_tokens, ctx)
    losses = []
    for _ in range(STEPS):
        loss = model(**inputs).loss * scale
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(all_reduce_mean(loss.item(), ctx))
    return losses


def train_single_process(setup: str) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The reference: the same steps in this process, unsharded, on the whole global batch."""
    kinds, _ = SETUPS[setup]
    model, processor = build_model()
    inputs, num_tokens = collate(make_examples(processor, kinds), processor.tokenizer.pad_token_id)
    losses = train_steps(model, inputs, num_tokens, DistributedContext())
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_sharded(setup: str, ctx: DistributedContext, out_dir: Path) -> None:
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.tensor import DTensor

    kinds, options = SETUPS[setup]
    model, processor = build_model()
    model = shard_model(model, ctx, **options)
    half = len(kinds) // ctx.world_size
    mine = make_examples(processor, kinds)[ctx.rank * half : (ctx.rank + 1) * half]
    inputs, num_tokens = collate(mine, processor.tokenizer.pad_token_id)
    losses = train_steps(model, inputs, num_tokens, ctx)
    weight = model.language_model.model.layers[0].mlp.up_proj.weight
    vision_weight = model.vision_tower.encoder.layers[0].mlp.fc1.weight
    report = {
        "world_size": ctx.world_size,
        "backend": ctx.backend,
        "losses": losses,
        "ranks_with_video": all_reduce_mean(float("pixel_values_videos" in inputs), ctx) * ctx.world_size,
        "fsdp_units": sum(isinstance(m, FSDPModule) for m in model.modules()),
        "all_params_dtensor": all(isinstance(p, DTensor) for p in model.parameters()),
        "layer_weight_local_rows": weight.to_local().shape[0],
        "layer_weight_rows": weight.shape[0],
        "vision_weight_local_rows": vision_weight.to_local().shape[0],
    }
    state = full_state_dict(model, ctx)
    if ctx.is_main:
        torch.save(state, out_dir / f"{setup}.pt")
        (out_dir / f"{setup}.json").write_text(json.dumps(report))
    elif state is not None:
        raise AssertionError("full_state_dict gave a state dict on a rank other than 0")


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)
    ctx = init_distributed(device="cpu")
    try:
        for setup in SETUPS:
            train_sharded(setup, ctx, out_dir)
    finally:
        ctx.destroy()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
