"""One optimizer step: the micro-batches of the step's records, forward / backward over them with
the loss normalised to the mean over every label token of the step (all micro-batches, all ranks),
gradient clipping, the optimizer and scheduler steps, and the step's `StepMetrics`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from .distributed import DistributedContext
from .feeding import micro_batches
from .metrics import StepMetrics
from .recipe import Recipe

logger = logging.getLogger(__name__)

AUTOCAST = {"bf16": torch.bfloat16}  # recipe.precision -> autocast dtype (fp32: none)

EncodedRecord = tuple[Any, str | None, str]  # (example or None, skip reason, record id): `feeding.RecordEncoder`


@dataclass(frozen=True)
class StepParts:
    """What every optimizer step works with; built once by `trainer.StageTrainer.setup`."""

    model: torch.nn.Module  # the (sharded) model, in train mode
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler  # stepped once per optimizer step
    trainable: list[torch.nn.Parameter]  # clipped together (optim.grad_clip)
    pad_id: int  # padding token of the batches
    autocast: torch.dtype | None  # autocast dtype (None: fp32)
    ctx: DistributedContext  # this process's place in the run; ``ctx.device`` receives the batches


def main_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the groups at full scale (LLM, projector, patchify)."""
    for group in optimizer.param_groups:
        if float(group.get("lr_scale", 1.0)) == 1.0:
            return float(group["lr"])
    return float(optimizer.param_groups[0]["lr"])


def train_step(recipe: Recipe, parts: StepParts, encoded: list[EncodedRecord]) -> StepMetrics:
    """One optimizer step over ``grad_accum`` micro-batches of ``schedule.batch_size`` records;
    returns its metrics (summed over ranks).

    The loss of the step is the mean over all its label tokens (every micro-batch, every rank):
    each forward's loss is its token sum over this rank's label tokens (``num_items_in_batch``),
    scaled by `distributed.token_mean_loss_scale`'s factor so the gradients averaged over ranks are
    those of the global token mean. Records that cannot be encoded or do not fit
    ``data.max_length`` are skipped with a warning and counted.
    """
    from .distributed import all_reduce_sum

    ctx, model, optimizer = parts.ctx, parts.model, parts.optimizer
    size = recipe.schedule.batch_size
    skipped_ids = [rid for example, reason, rid in encoded if example is None]
    for example, reason, rid in encoded:
        if example is None:
            logger.warning("skipping %s: %s", rid, reason)
    forwards: list[Any] = []
    for start in range(0, len(encoded), size):
        chunk = [example for example, _, _ in encoded[start : start + size] if example is not None]
        batches, dropped = micro_batches(recipe, chunk, parts.pad_id)
        forwards += batches
        skipped_ids += dropped
        for rid in dropped:
            logger.warning("skipping %s: longer than data.max_length=%d without a clean cut",
                           rid, recipe.data.max_length)
    local_tokens = sum(b.num_label_tokens for b in forwards)
    if ctx.is_distributed:
        forwards = same_number_of_forwards(forwards, parts.pad_id, ctx)
    label_tokens = int(all_reduce_sum(local_tokens, ctx))
    scale = local_tokens * ctx.world_size / label_tokens if label_tokens else 0.0
    lr = main_lr(optimizer)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0  # this rank's token-loss sum
    grad_norm = float("nan")
    if label_tokens > 0:
        for batch in forwards:
            if batch.num_label_tokens == 0 and not ctx.is_distributed:
                continue  # (ranks must run the same forwards: FSDP gathers weights in each)
            inputs = batch.to(ctx.device).model_inputs()
            with torch.autocast(ctx.device.type, dtype=parts.autocast, enabled=parts.autocast is not None):
                out = model(**inputs, use_cache=False, num_items_in_batch=max(local_tokens, 1))
            (out.loss * scale).backward()
            loss_sum += float(out.loss.detach()) * local_tokens
        clip = recipe.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(parts.trainable, clip if clip > 0 else float("inf"))
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        optimizer.step()
    parts.scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    totals = [all_reduce_sum(v, ctx) for v in (loss_sum, sum(b.num_real_tokens for b in forwards),
                                               sum(b.num_tokens for b in forwards), len(encoded) - len(skipped_ids),
                                               len(skipped_ids))]
    return StepMetrics(
        loss=totals[0] / label_tokens if label_tokens > 0 else float("nan"),
        lr=lr,
        grad_norm=grad_norm,
        label_tokens=label_tokens,
        real_tokens=int(totals[1]),
        total_tokens=int(totals[2]),
        records=int(totals[3]),
        skipped=int(totals[4]),
        skipped_ids=tuple(skipped_ids),
    )


def same_number_of_forwards(forwards: list[Any], pad_id: int, ctx: DistributedContext) -> list[Any]:
    """Pad this rank's forwards with empty ones (two padding tokens, no labels, no video) up to the
    most any rank has: FSDP gathers each layer's weights with a collective in every forward."""
    import torch.distributed as dist

    from .batching import Batch
    from .examples import IGNORE_INDEX

    count = torch.tensor([len(forwards)], dtype=torch.long, device=ctx.device)
    dist.all_reduce(count, op=dist.ReduceOp.MAX)
    empty = Batch(input_ids=torch.full((1, 2), pad_id, dtype=torch.long),
                  labels=torch.full((1, 2), IGNORE_INDEX, dtype=torch.long),
                  attention_mask=None, position_ids=None, pixel_values_videos=None, video_timestamps=None,
                  video_frame_counts=None, num_real_tokens=0, num_label_tokens=0)
    return forwards + [empty] * (int(count.item()) - len(forwards))
