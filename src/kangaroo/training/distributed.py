"""Data-parallel training on torch.distributed: process groups, FSDP2 sharding, data shards, metrics.

Nothing here launches processes: `torchrun` (or `accelerate launch`, which runs torchrun) starts
one process per device and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; `init_distributed` reads them. Without them the run is a single process and
every function here is a cheap no-op, so the same training loop runs on a laptop and on a node::

    ctx = init_distributed()                      # gloo on CPU, nccl on CUDA
    model = shard_model(model, ctx, mixed_precision="bf16")   # FSDP2 (fully_shard)
    for index in shard_indices(len(dataset), ctx, seed=seed, epoch=epoch): ...
    loss = out.loss * token_mean_loss_scale(batch.num_label_tokens, ctx)   # global token mean
    state = full_state_dict(model, ctx)          # every rank calls; rank 0 gets the dict
    ctx.destroy()

Sharding rule (`shard_model`): every decoder layer of the LLM is its own FSDP2 unit; the root unit
holds the rest (embeddings, LM head, final norm) and, by default, the whole visual branch (vision
tower, patchify, projector). FSDP runs a collective each time a unit's parameters are gathered, so
all ranks must gather the same units in the same order. Keeping the visual branch in the root
(gathered once per step) lets ranks differ in their number of frames (the vision tower runs in
chunks of 64 frames) and lets a rank have no video at all (its visual gradients count as zeros).
``shard_vision_blocks=True`` also shards each ViT layer (less memory for a large ViT) but then
every rank must run the vision tower the same number of times in every step.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

_TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
MIXED_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class DistributedContext:
    """Where this process sits in the run.

    rank / world_size: global position and process count (0 / 1 for a single process).
    local_rank: position on this machine (selects the GPU).
    device: the device this process computes on (``cuda:{local_rank}`` or ``cpu``).
    is_main: rank 0, the process that writes logs and checkpoints.
    backend: ``"nccl"`` / ``"gloo"``, or None for a single process without a process group.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    is_main: bool = True
    backend: str | None = None
    owns_group: bool = field(default=False, repr=False)  # this context created the process group

    @property
    def is_distributed(self) -> bool:
        """True when a process group is up (collectives are real)."""
        return self.backend is not None and dist.is_available() and dist.is_initialized()

    def destroy(self) -> None:
        """Tear down the process group this context created (a no-op otherwise)."""
        if self.owns_group and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False
        self.backend = None


def init_distributed(
    device: str | torch.device | None = None, *, timeout: datetime.timedelta | None = None
) -> DistributedContext:
    """Join the process group that torchrun describes in the environment.

    Without ``RANK`` and ``WORLD_SIZE`` in the environment this is a single process and no group
    is created (``MASTER_ADDR`` / ``MASTER_PORT`` alone, as accelerate's one-process launch sets
    them, do not count). Otherwise the backend is nccl on CUDA (each process takes ``cuda:LOCAL_RANK``) and
    gloo on CPU; ``device="cpu"`` forces CPU/gloo even when GPUs are present. A group that is
    already up (e.g. made by accelerate) is reused, not re-created.

    Raises ``ValueError`` when the torchrun variables are only partly set.
    """
    requested = torch.device(device) if device is not None else None
    use_cuda = torch.cuda.is_available() if requested is None else requested.type == "cuda"
    if dist.is_available() and dist.is_initialized():
        return _context_from_group(use_cuda, owns_group=False)
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:  # MASTER_* alone: one process
        single = requested or torch.device("cuda" if use_cuda else "cpu")
        return DistributedContext(device=single)
    missing = [name for name in _TORCHRUN_ENV if name not in os.environ]
    if missing:
        present = [name for name in _TORCHRUN_ENV if name in os.environ]
        raise ValueError(
            f"distributed environment is incomplete: {', '.join(present)} set but {', '.join(missing)} "
            "missing; launch with `torchrun --nproc_per_node N ...` (or unset RANK and WORLD_SIZE for one process)"
        )
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed; it cannot join a multi-process run")
    local_rank = int(os.environ["LOCAL_RANK"])
    backend = "nccl" if use_cuda else "gloo"
    kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if use_cuda:
        cuda = torch.device("cuda", local_rank)
        torch.cuda.set_device(cuda)
        kwargs["device_id"] = cuda
    dist.init_process_group(backend, **kwargs)
    return _context_from_group(use_cuda, owns_group=True)


def _context_from_group(use_cuda: bool, *, owns_group: bool) -> DistributedContext:
    rank, world_size = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device,
                              is_main=rank == 0, backend=dist.get_backend(), owns_group=owns_group)


# -- model sharding ----------------------------------------------------------------------------


def transformer_blocks(module: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a transformers model, in order: the modules whose class the model
    names in ``_no_split_modules`` and that sit in an ``nn.ModuleList`` (so a vision tower's
    embeddings, also listed there, are left out). Works through wrappers such as PEFT's."""
    names: set[str] = set()
    for sub in module.modules():
        names.update(getattr(sub, "_no_split_modules", None) or ())
    blocks = []
    for sub in module.modules():
        if isinstance(sub, nn.ModuleList):
            blocks.extend(child for child in sub if type(child).__name__ in names)
    return blocks


def shard_model(
    model: nn.Module,
    ctx: DistributedContext,
    *,
    mixed_precision: str | None = None,
    reshard_after_forward: bool = True,
    shard_vision_blocks: bool = False,
) -> nn.Module:
    """Shard ``model`` (a `KangarooForCausalLM`) across the ranks with FSDP2 (``fully_shard``).

    Each LLM decoder layer becomes its own unit, then the root takes the remaining parameters
    (see the module docstring for why the visual branch stays in the root by default; with
    ``shard_vision_blocks=True`` each ViT layer is a unit too). The model is moved to
    ``ctx.device`` first; parameters become ``DTensor`` shards (dim 0) and keep their names, so
    optimizers, `full_state_dict` and ``save_pretrained(state_dict=...)`` see the usual keys.

    mixed_precision: None (fp32), ``"bf16"`` or ``"fp16"``: compute in that dtype, reduce
        gradients in fp32; the sharded parameters and optimizer state stay fp32 (fp16 also needs
        loss scaling, which is the caller's; prefer bf16).
    reshard_after_forward: free each layer's gathered parameters after its forward (ZeRO-3;
        gathered again in backward) or keep them until backward (ZeRO-2-like, more memory).

    Parameters that no rank gives a gradient in a step (e.g. the visual branch when no rank has
    a video) get a zero gradient, so AdamW still decays them; the ViT layers that never reach the
    loss are frozen here for that reason (`freeze_unused_vision_parameters`, also with a single
    process, so that 1 and N processes train the same parameters). Freeze parameters
    (`set_trainable`) and add LoRA before sharding. With a single process (no process group)
    the model is only moved to ``ctx.device`` and returned otherwise as is (mixed precision is
    then the caller's ``torch.autocast``).
    Raises ``ValueError`` for an unknown ``mixed_precision``.
    """
    if mixed_precision not in (None, "fp32", *MIXED_PRECISION):
        raise ValueError(f"mixed_precision must be one of None, 'fp32', 'bf16', 'fp16'; got {mixed_precision!r}")
    freeze_unused_vision_parameters(model)
    model.to(ctx.device)
    if not ctx.is_distributed:
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
    policy = MixedPrecisionPolicy()
    if mixed_precision in MIXED_PRECISION:
        policy = MixedPrecisionPolicy(param_dtype=MIXED_PRECISION[mixed_precision], reduce_dtype=torch.float32)
    options = dict(mesh=mesh, mp_policy=policy)
    units: list[nn.Module] = []
    if shard_vision_blocks and hasattr(model, "vision_tower"):
        units += transformer_blocks(model.vision_tower)
    llm = getattr(model, "language_model", model)
    units += transformer_blocks(llm)
    if not units:
        raise ValueError(f"found no transformer blocks to shard in {type(model).__name__}")
    for unit in units:
        fully_shard(unit, reshard_after_forward=reshard_after_forward, **options)
    fully_shard(model, **options)  # the root: reshards after backward, not after forward
    # A rank without a video computes no visual gradients; reduce zeros so the ranks stay in step.
    if not hasattr(model, "set_reduce_scatter_unused_params"):
        raise RuntimeError("this torch's FSDP2 lacks set_reduce_scatter_unused_params; install torch==2.13.0")
    model.set_reduce_scatter_unused_params(True)
    return model


def freeze_unused_vision_parameters(model: nn.Module) -> int:
    """Freeze the vision-tower parameters that never reach the loss; returns how many (elements).

    The model reads the ViT's hidden layer ``config.vision_feature_layer`` (-2: the penultimate),
    so the layers after it, and the tower's ``post_layernorm`` / pooling ``head`` (which only feed
    the unused pooled output), never get a gradient. Alone that is harmless (AdamW skips a
    parameter without a gradient), but FSDP reduces zeros for parameters without a gradient (see
    `shard_model`), and AdamW would then apply weight decay to them: freezing keeps a sharded run
    identical to a single process. A model without ``vision_tower`` is left alone.
    """
    tower = getattr(model, "vision_tower", None)
    config = getattr(model, "config", None)
    if tower is None or not hasattr(config, "vision_feature_layer"):
        return 0
    blocks = transformer_blocks(tower)
    first_unused = int(config.vision_feature_layer) % (len(blocks) + 1)  # hidden_states[i]: after i layers
    unused: list[nn.Module] = blocks[first_unused:]
    unused += [module for name, module in tower.named_modules()
               if name.rsplit(".", 1)[-1] in ("post_layernorm", "head")]
    count = 0
    for module in unused:
        for param in module.parameters():
            count += param.numel() if param.requires_grad else 0
            param.requires_grad_(False)
    return count


def full_state_dict(model: nn.Module, ctx: DistributedContext) -> dict[str, torch.Tensor] | None:
    """The whole model's state dict on CPU, unsharded, on rank 0 (None on the other ranks).

    A collective for a sharded model: every rank must call it. A model that is not sharded gives
    a CPU copy of its state dict.
    """
    if not any(isinstance(p, _dtensor_type()) for p in model.parameters()):
        if not ctx.is_main:
            return None
        return {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return state if ctx.is_main else None


def _dtensor_type() -> type:
    from torch.distributed.tensor import DTensor

    return DTensor


# -- data --------------------------------------------------------------------------------------


def shard_indices(num_items: int, ctx: DistributedContext, *, seed: int, epoch: int,
                  shuffle: bool = True) -> list[int]:
    """This rank's item indices for one epoch, as torch's ``DistributedSampler`` draws them.

    All ranks shuffle ``range(num_items)`` with the same generator (seeded ``seed + epoch``), pad
    the order by repeating it from the start up to a multiple of ``world_size``, and rank ``r``
    takes positions ``r, r + world_size, ...``. So the ranks' lists have equal length
    ``ceil(num_items / world_size)``, and together they cover every item once per epoch (plus
    the few repeats of the padding). Raises ``ValueError`` for a negative ``num_items``.
    """
    if num_items < 0:
        raise ValueError(f"num_items must be >= 0, got {num_items}")
    if not 0 <= ctx.rank < ctx.world_size:
        raise ValueError(f"rank {ctx.rank} is outside world_size {ctx.world_size}")
    if num_items == 0:
        return []
    if shuffle:
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(num_items, generator=generator).tolist()
    else:
        order = list(range(num_items))
    total = math.ceil(num_items / ctx.world_size) * ctx.world_size
    while len(order) < total:  # more ranks than items needs several rounds
        order += order[: total - len(order)]
    return order[ctx.rank : total : ctx.world_size]


# -- metrics and synchronisation ---------------------------------------------------------------


def _all_reduce(values: Iterable[float], ctx: DistributedContext) -> list[float]:
    values = [float(v) for v in values]
    if not ctx.is_distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def all_reduce_sum(value: float, ctx: DistributedContext) -> float:
    """Sum of ``value`` over all ranks (``value`` itself for one process). A collective."""
    return _all_reduce([value], ctx)[0]


def all_reduce_mean(value: float, ctx: DistributedContext) -> float:
    """Mean of ``value`` over all ranks (``value`` itself for one process). A collective."""
    return _all_reduce([value], ctx)[0] / ctx.world_size


def token_mean_loss_scale(num_tokens: int, ctx: DistributedContext) -> float:
    """Factor for a rank's token-mean loss so that training optimises the global token mean.

    Each rank's loss is a mean over its own ``num_tokens`` label tokens, and data parallelism
    averages gradients over ranks; ranks with different token counts would then be weighted
    equally, not their tokens. Multiplying by ``num_tokens * world_size / global_tokens`` makes
    the averaged gradient that of (sum of all token losses) / (all label tokens), the loss one
    process would compute on the whole batch; the mean of the scaled losses over ranks is that
    loss too. A collective (sums the token counts). Raises ``ValueError`` when no rank has tokens.
    """
    total = all_reduce_sum(num_tokens, ctx)
    if total <= 0:
        raise ValueError("no label tokens on any rank: nothing to train on in this step")
    return num_tokens * ctx.world_size / total


def barrier(ctx: DistributedContext) -> None:
    """Wait until every rank reaches this point (a no-op for one process)."""
    if not ctx.is_distributed:
        return
    if ctx.backend == "nccl":
        dist.barrier(device_ids=[ctx.local_rank])
    else:
        dist.barrier()
