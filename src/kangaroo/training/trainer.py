"""The training loop of one curriculum stage, and the curriculum of stages.

`train(recipe)` runs a `Recipe` (see `kangaroo.training.recipe`) in ``run.output_dir``:

1. data: the records files / mixture, plus ``data.synth`` datasets generated into
   ``<run_dir>/data/`` when missing; frames are sampled per ``data.frames`` through the shared
   samplers (`DynamicFrameRule` by duration; images are 1-frame videos with a random time);
2. model: `model_setup.build_model` (a builder, a saved model, or the previous stage's ``final/``),
   LoRA when configured, `set_trainable`, gradient checkpointing;
3. AdamW with layer-wise LR decay on the ViT, cosine with warm-up to ``min_lr``
   (`optim.build_optimizer`, `optim.cosine_with_warmup`), grad clip, bf16 autocast, gradient
   accumulation; the loss is the mean over every label token (assistant text only) of the step;
4. checkpoints every ``run.save_every`` steps and at the end (`checkpoint.save_checkpoint`:
   atomic, marker last), keeping ``run.keep_last``; ``metrics.jsonl`` and ``loss.png`` beside them;
5. at the end, ``<run_dir>/final/``: the model (LoRA merged) and its processor, loadable with
   ``from_pretrained`` / `load_chat_model`, and the next stage's ``model.from_stage``.

Running the same recipe again resumes from the newest complete checkpoint: model, optimizer,
scheduler, RNG states and the data position are restored, and every record's randomness (image
timestamps) is drawn from ``(seed, epoch, record)``, so a run killed at any moment and resumed
computes the same losses, step for step, as one that never stopped.

Data order: epoch ``e`` visits the records in the order `distributed.shard_indices` gives for
``(run.seed, e)`` (this rank's share); a micro-batch is the next ``schedule.batch_size`` records,
crossing into the next epoch when one ends. The position ``(epoch, index)`` is saved.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .recipe import (
    FINAL_DIR,
    FINAL_MARKER,
    Recipe,
    RecipeError,
    check_lengths,
    final_model_dir,
    load_curriculum,
    resolve_trainable,
    stage_recipes,
    total_steps,
    validate_recipe,
)

logger = logging.getLogger(__name__)

RECIPE_COPY = "recipe.yaml"  # the resolved recipe, written into the run directory
DATA_DIR = "data"  # generated (synth) datasets, under the run directory
AUTOCAST = {"bf16": torch.bfloat16}  # recipe.precision -> autocast dtype (fp32: none)


class TrainingInterrupted(RuntimeError):
    """SIGINT / SIGTERM stopped the run after a step; a checkpoint of that step was saved."""

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        self.step = step
        self.checkpoint = checkpoint
        super().__init__(f"interrupted after step {step}; resume by running the same command again")


@dataclass
class TrainResult:
    """What a `train` call did."""

    run_dir: Path  # the stage's run directory
    final_dir: Path  # <run_dir>/final: the trained model and processor
    total_steps: int  # steps of the stage
    steps_run: int  # steps computed by this call (0: it had already finished)
    resumed_from: int | None  # step of the checkpoint this call started from, if any
    losses: list[float] = field(default_factory=list)  # loss of every logged step, whole run (from the log)
    seconds: float = 0.0  # wall time of this call
    skipped_records: int = 0  # records that could not be encoded (whole run)


# ---------------------------------------------------------------------------------------------
# data


@dataclass
class TrainingRecord:
    """A record and the folder its video paths are relative to."""

    record: Any  # kangaroo.data.Record
    root: Path


def synth_dir(recipe: Recipe, spec: Any) -> Path:
    """Where a ``data.synth`` entry is generated: ``<run_dir>/data/{task}-{split}-{hash}``, the hash
    of the entry's settings, so that a changed entry gets a new dataset."""
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:10]
    return recipe.output_dir / DATA_DIR / f"{spec.task}-{spec.split}-{digest}"


def prepare_synth_data(recipe: Recipe, log: Callable[[str], None] | None = None) -> list[Path]:
    """Generate the recipe's ``data.synth`` datasets that do not exist yet; returns their JSONLs."""
    from kangaroo.synth.generate import dataset_path, generate_dataset

    paths = []
    for spec in recipe.data.synth:
        out = synth_dir(recipe, spec)
        path = dataset_path(out, spec.task, spec.split)
        if not path.is_file():  # written atomically when complete
            if log is not None:
                log(f"generating {spec.num} synthetic {spec.task} records into {out}")
            path = generate_dataset(spec.task, spec.num, spec.seed, out, split=spec.split, size=tuple(spec.size),
                                    duration=spec.duration, fps=spec.fps, language=spec.language)
        paths.append(path)
    return paths


def load_training_records(recipe: Recipe, log: Callable[[str], None] | None = None) -> list[TrainingRecord]:
    """Every training record of the recipe, in a fixed order: records files, mixture, synth
    (generated first when missing)."""
    from kangaroo.data.mixture import load_mixture
    from kangaroo.data.records import read_records

    out: list[TrainingRecord] = []
    data = recipe.data
    for name in data.records:
        path = Path(name)
        root = Path(data.root) if data.root is not None else path.parent
        out += [TrainingRecord(r, root) for r in read_records(path)]
    if data.mixture is not None:
        out += [TrainingRecord(r, Path()) for r in load_mixture(data.mixture, seed=recipe.run.seed)]
    for path in prepare_synth_data(recipe, log):
        out += [TrainingRecord(r, path.parent) for r in read_records(path)]
    if not out:
        raise RecipeError(["data: no training records"])
    return out


class FramePolicy:
    """Chooses the processor (frame sampling) of each record from ``data.frames``."""

    def __init__(self, recipe: Recipe, processor: Any) -> None:
        from kangaroo.video.sampling import DynamicFrameRule

        frames = recipe.data.frames
        self.frames = frames
        self.base = copy.copy(processor)
        self.base.fps, self.base.max_frames = None, None
        if frames.sampling == "uniform":
            self.base.sampling, self.base.num_frames, self.base.rule = "uniform", frames.num_frames, None
            self.long = None
        else:
            self.base.sampling = "dynamic"
            self.base.rule = DynamicFrameRule(min_frames=frames.min_frames, max_frames=frames.max_frames,
                                              frames_per_second=frames.frames_per_second)
            self.long = None
            if frames.long_min_duration is not None:
                self.long = copy.copy(self.base)
                self.long.rule = DynamicFrameRule(min_frames=frames.long_min_frames, max_frames=frames.long_max_frames,
                                                  frames_per_second=frames.frames_per_second)
        self._durations: dict[Path, float] = {}

    def processor_for(self, item: TrainingRecord) -> Any:
        if self.long is None:
            return self.base
        record = item.record
        if record.start is not None and record.end is not None:
            duration = record.end - record.start
        else:
            from kangaroo.data.records import video_paths

            durations = [self._duration(p) for p in video_paths(record, item.root)]
            duration = max(durations, default=0.0)
            if record.start is not None:
                duration -= record.start
        return self.long if duration > self.frames.long_min_duration else self.base

    def _duration(self, path: Path) -> float:
        if path not in self._durations:
            from kangaroo.video import VideoError, probe

            try:
                self._durations[path] = float(probe(path).duration or 0.0)
            except (VideoError, OSError):
                self._durations[path] = 0.0  # the encoder reports the broken video
        return self._durations[path]


@dataclass
class Position:
    """Where the data stream is: ``index`` records into epoch ``epoch``'s order."""

    epoch: int = 0
    index: int = 0


class DataStream:
    """Deterministic record order: `distributed.shard_indices` per epoch, micro-batches of
    ``batch_size`` records that cross epoch boundaries."""

    def __init__(self, num_records: int, *, seed: int, shuffle: bool, ctx: Any) -> None:
        self.num_records = num_records
        self.seed = seed
        self.shuffle = shuffle
        self.ctx = ctx
        self._orders: dict[int, list[int]] = {}

    def order(self, epoch: int) -> list[int]:
        from .distributed import shard_indices

        if epoch not in self._orders:
            self._orders = {epoch: shard_indices(self.num_records, self.ctx, seed=self.seed, epoch=epoch,
                                                 shuffle=self.shuffle)}
        return self._orders[epoch]

    @property
    def epoch_length(self) -> int:
        return len(self.order(0))

    def take(self, position: Position, count: int) -> tuple[list[tuple[int, int]], Position]:
        """``count`` ``(epoch, record index)`` pairs from ``position``, and the position after them."""
        out = []
        epoch, index = position.epoch, position.index
        for _ in range(count):
            order = self.order(epoch)
            if index >= len(order):
                epoch, index = epoch + 1, 0
                order = self.order(epoch)
            out.append((epoch, order[index]))
            index += 1
        return out, Position(epoch, index)


# ---------------------------------------------------------------------------------------------
# the loop


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _main_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the groups at full scale (LLM, projector, patchify)."""
    for group in optimizer.param_groups:
        if float(group.get("lr_scale", 1.0)) == 1.0:
            return float(group["lr"])
    return float(optimizer.param_groups[0]["lr"])


class _StopFlag:
    """SIGINT / SIGTERM set a flag the loop checks after each step (a second SIGINT raises)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _write_recipe_copy(recipe: Recipe, run_dir: Path, log: Callable[[str], None]) -> None:
    """Write ``run_dir/recipe.yaml``; on a resume, warn about settings that changed."""
    import yaml

    path = run_dir / RECIPE_COPY
    current = recipe.to_dict()
    if path.is_file():
        try:
            saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            saved = {}
        changed = sorted(_diff_keys(saved, current) - {"run.output_dir"})
        if changed:
            log(f"warning: the recipe differs from the one this run started with: {', '.join(changed)}")
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"# resolved recipe of {recipe.stage!r}\n" + recipe.to_yaml(), encoding="utf-8")
    os.replace(tmp, path)


def _diff_keys(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= _diff_keys(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return set() if a == b else {prefix}


def train(
    recipe: Recipe,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Run (or resume, or find finished) one stage; see the module docstring.

    progress:   show a progress bar (default: when stderr is a terminal).
    log:        receives one-line messages (default: the ``kangaroo.training.trainer`` logger).
    stop_after: stop after this step (a checkpoint is saved), as if interrupted: for tests.

    Raises `RecipeError` listing every problem of the recipe, `TrainingInterrupted` after
    SIGINT / SIGTERM (a checkpoint of the last step was saved).
    """
    started = time.perf_counter()
    log = log or logger.info
    errors = validate_recipe(recipe, build_model=False)
    if errors:
        raise RecipeError(errors)
    threads = torch.get_num_threads()
    if recipe.run.threads is not None:
        torch.set_num_threads(recipe.run.threads)
    try:
        return _train(recipe, progress=progress, log=log, stop_after=stop_after, started=started)
    finally:
        torch.set_num_threads(threads)


def _train(recipe: Recipe, *, progress: bool | None, log: Callable[[str], None], stop_after: int | None,
           started: float) -> TrainResult:
    from .checkpoint import capture_rng_state, latest_checkpoint, restore_rng_state
    from .distributed import all_reduce_sum, barrier, init_distributed, shard_model

    run_dir = recipe.output_dir
    ctx = init_distributed(_device(recipe.run.device))
    if not ctx.is_main:
        log, progress = (lambda message: None), False  # one process writes logs, metrics and checkpoints
    if ctx.world_size > 1 and recipe.lora is not None:
        raise RecipeError(["lora: LoRA with several processes is not supported; run it on one process"])
    device = ctx.device
    run_dir.mkdir(parents=True, exist_ok=True)
    latest = latest_checkpoint(run_dir)
    latest_state = _read_trainer_state(latest) if latest is not None else None
    if latest_state is not None and latest_state.get("finished") and final_model_dir(run_dir) is not None:
        log(f"{recipe.stage}: already finished ({run_dir / FINAL_DIR})")
        return _result(run_dir, latest_state, 0, latest_state["step"], started)
    if latest_state is not None and int(latest_state.get("world_size", 1)) != ctx.world_size:
        raise RecipeError([f"{latest} was written by {latest_state.get('world_size', 1)} process(es); resume it with "
                           f"as many (this run has {ctx.world_size}), or use a new run.output_dir"])

    previous = recipe.from_stage_dir()
    if previous is not None and final_model_dir(previous) is None:  # before any data is generated
        raise RecipeError([f"model.from_stage: {previous} has no finished model ({previous}/{FINAL_DIR}); "
                           "run the previous stage first"])
    if ctx.is_main:
        _write_recipe_copy(recipe, run_dir, log)
        prepare_synth_data(recipe, log)
    barrier(ctx)  # the other ranks read the data rank 0 generated
    items = load_training_records(recipe, log)
    stream = DataStream(len(items), seed=recipe.run.seed, shuffle=recipe.data.shuffle, ctx=ctx)
    steps = total_steps(recipe, stream.epoch_length)
    if recipe.optim.warmup_steps >= steps:
        raise RecipeError([f"optim.warmup_steps ({recipe.optim.warmup_steps}) must be less than the "
                           f"stage's {steps} steps"])

    model, processor = _prepare_model(recipe)
    length_errors = check_lengths(recipe, model.config.layout,
                                  getattr(model.config.text_config, "max_position_embeddings", None))
    if length_errors:
        raise RecipeError(length_errors)
    checkpoints = _Checkpoints(ctx, run_dir, recipe.run.keep_last)
    state: dict[str, Any] | None = None
    if latest is not None and ctx.is_distributed:  # weights go in before sharding
        state = checkpoints.load_model(latest, model)
    model = shard_model(model, ctx)  # one process: only moved to the device
    model.train()
    from .optim import build_optimizer, cosine_with_warmup

    o = recipe.optim
    optimizer = build_optimizer(model, lr=o.lr, weight_decay=o.weight_decay, betas=(o.betas[0], o.betas[1]),
                                vision_lr_decay=o.vision_lr_decay)
    scheduler = cosine_with_warmup(optimizer, warmup_steps=o.warmup_steps, total_steps=steps, min_lr=o.min_lr)

    from .metrics import LOSS_CURVE_FILE, METRICS_FILE, MetricsLog, plot_loss_curve

    metrics = MetricsLog(run_dir / METRICS_FILE)
    resumed_from = None
    if latest is not None:
        state = checkpoints.load(latest, model, optimizer, scheduler, state)
        if "rng" in state:
            restore_rng_state(state.pop("rng"))
        resumed_from = int(state["step"])
        log(f"{recipe.stage}: resuming from {latest.name} (step {resumed_from} of {steps})")
    else:
        _seed_everything(recipe.run.seed)
        state = {"step": 0, "epoch": 0, "index": 0, "skipped": 0, "skipped_ids": [], "finished": False}
    if int(state.get("total_steps", steps)) != steps:
        raise RecipeError([f"the checkpoint was made for {state['total_steps']} steps, the recipe now gives {steps}; "
                           "use a new run.output_dir"])
    if ctx.is_main:
        metrics.truncate(int(state["step"]))
    policy = FramePolicy(recipe, processor)
    pad_id = _pad_token_id(processor)
    autocast = AUTOCAST.get(recipe.precision)
    trainable = [p for p in model.parameters() if p.requires_grad]

    step = int(state["step"])
    position = Position(int(state["epoch"]), int(state["index"]))
    checkpoint_path = latest

    def save(finished: bool) -> Path:
        state.update(step=step, epoch=position.epoch, index=position.index, total_steps=steps, finished=finished,
                     stage=recipe.stage, world_size=ctx.world_size)
        path = checkpoints.save(step, model, optimizer, scheduler, {**state, "rng": capture_rng_state()})
        if ctx.is_main:
            plot_loss_curve(metrics.read(), run_dir / LOSS_CURVE_FILE, title=f"{recipe.stage} loss")
        return path

    steps_run = 0
    elapsed_before = float(state.get("elapsed_s", 0.0))
    loop_started = time.perf_counter()
    encoder = _Encoder(recipe, policy, items, workers=recipe.data.workers)
    per_step = recipe.schedule.batch_size * recipe.schedule.grad_accum
    with _StopFlag() as stop, _progress_bar(progress, recipe.stage, steps, step) as bar, encoder:
        upcoming = encoder.submit(*stream.take(position, per_step)) if step < steps else None
        while step < steps:
            step_started = time.perf_counter()
            pending, position = upcoming
            examples = pending.result()
            upcoming = encoder.submit(*stream.take(position, per_step)) if step + 1 < steps else None
            out = _train_step(recipe, model, optimizer, scheduler, examples, pad_id, autocast, trainable, device, ctx)
            step += 1
            steps_run += 1
            state["skipped"] = int(state.get("skipped", 0)) + out["skipped"]
            state["skipped_ids"] = (state.get("skipped_ids", []) + out["skipped_ids"])[-100:]
            state["elapsed_s"] = elapsed_before + time.perf_counter() - loop_started
            step_seconds = time.perf_counter() - step_started
            if ctx.is_main and (step % recipe.run.log_every == 0 or step == steps):
                entry = {
                    "step": step, "epoch": position.epoch, "loss": out["loss"], "lr": out["lr"],
                    "grad_norm": out["grad_norm"],
                    "tokens_per_s": out["real_tokens"] / step_seconds if step_seconds > 0 else None,
                    "padding_fraction": 1 - out["real_tokens"] / out["total_tokens"] if out["total_tokens"] else None,
                    "label_tokens": out["label_tokens"], "real_tokens": out["real_tokens"],
                    "total_tokens": out["total_tokens"], "records": out["records"], "skipped": out["skipped"],
                    "step_s": round(step_seconds, 4), "elapsed_s": round(state["elapsed_s"], 3),
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                metrics.append(entry)
                if bar is None:
                    log(f"{recipe.stage} step {step}/{steps} loss {_fmt(out['loss'])} lr {out['lr']:.3g} "
                        f"{_fmt(entry['tokens_per_s'], '.0f')} tok/s")
            if bar is not None:
                bar.advance(out["loss"])
            finished = step == steps
            if finished or step % recipe.run.save_every == 0:
                checkpoint_path = save(finished)
            stopping = stop.signal is not None
            if ctx.is_distributed:  # every rank stops after the same step
                stopping = all_reduce_sum(float(stopping), ctx) > 0
            if not finished and (stopping or (stop_after is not None and step >= stop_after)):
                if step % recipe.run.save_every:
                    checkpoint_path = save(False)
                if stopping:
                    raise TrainingInterrupted(step, checkpoint_path)
                return _result(run_dir, state, steps_run, resumed_from, started)
    if not state.get("finished"):  # a run that resumed from its last step's checkpoint
        checkpoint_path = save(True)
    export_final(model, processor, run_dir, recipe, ctx)
    if ctx.is_main:
        plot_loss_curve(metrics.read(), run_dir / LOSS_CURVE_FILE, title=f"{recipe.stage} loss")
    log(f"{recipe.stage}: finished {steps} steps; model in {run_dir / FINAL_DIR}")
    return _result(run_dir, state, steps_run, resumed_from, started)


class _Snapshot:
    """A gathered state dict standing in for a module / optimizer when a checkpoint is written."""

    def __init__(self, state: dict[str, Any], config: Any = None) -> None:
        self._state = state
        self.config = config

    def state_dict(self) -> dict[str, Any]:
        return self._state


class _Checkpoints:
    """`checkpoint.save_checkpoint` / `load_checkpoint`, with the state gathered from (and spread
    back to) the ranks in a multi-process run: full model and optimizer state dicts on rank 0,
    keyed by parameter name (`torch.distributed.checkpoint.state_dict`)."""

    def __init__(self, ctx: Any, run_dir: Path, keep: int) -> None:
        self.ctx = ctx
        self.run_dir = run_dir
        self.keep = keep

    def save(self, step: int, model: Any, optimizer: Any, scheduler: Any, trainer_state: dict[str, Any]) -> Path:
        from .checkpoint import keep_last, save_checkpoint
        from .distributed import barrier

        path = self.run_dir / f"checkpoint-{step:08d}"
        if not self.ctx.is_distributed:
            path = save_checkpoint(self.run_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                   trainer_state=trainer_state)
            keep_last(self.run_dir, self.keep)
            return path
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_state = get_model_state_dict(model, options=options)  # collectives: every rank
        optimizer_state = get_optimizer_state_dict(model, optimizer, options=options)
        if self.ctx.is_main:
            model_state = {k: v.detach().clone() for k, v in model_state.items()}  # own storage each (safetensors)
            path = save_checkpoint(self.run_dir, step, model=_Snapshot(model_state, model.config),
                                   optimizer=_Snapshot(optimizer_state), scheduler=scheduler,
                                   trainer_state=trainer_state)
            keep_last(self.run_dir, self.keep)
        barrier(self.ctx)
        return path

    def load_model(self, path: Path, model: Any) -> dict[str, Any]:
        """Multi-process runs: the model's weights, before it is sharded; returns the trainer state."""
        from .checkpoint import load_checkpoint

        return load_checkpoint(path, model=model)

    def load(self, path: Path, model: Any, optimizer: Any, scheduler: Any,
             state: dict[str, Any] | None) -> dict[str, Any]:
        from .checkpoint import OPTIMIZER_FILE, SCHEDULER_FILE, load_checkpoint

        if not self.ctx.is_distributed:
            return load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        full = torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        set_optimizer_state_dict(model, optimizer, full, options=StateDictOptions(full_state_dict=True))
        scheduler.load_state_dict(torch.load(path / SCHEDULER_FILE, map_location="cpu", weights_only=True))
        assert state is not None
        return state


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _read_trainer_state(path: Path) -> dict[str, Any]:
    from .checkpoint import TRAINER_STATE_FILE

    return json.loads((path / TRAINER_STATE_FILE).read_text(encoding="utf-8"))


def _result(run_dir: Path, state: dict[str, Any], steps_run: int, resumed_from: int | None,
            started: float) -> TrainResult:
    from .metrics import METRICS_FILE, read_metrics

    entries = read_metrics(run_dir / METRICS_FILE)
    return TrainResult(run_dir=run_dir, final_dir=run_dir / FINAL_DIR, total_steps=int(state.get("total_steps", 0)),
                       steps_run=steps_run, resumed_from=resumed_from,
                       losses=[e["loss"] for e in entries if e.get("loss") is not None],
                       seconds=time.perf_counter() - started, skipped_records=int(state.get("skipped", 0)))


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No per-file progress bars from transformers while saving / loading small checkpoints."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _pad_token_id(processor: Any) -> int:
    tokenizer = processor.tokenizer
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if value is not None:
            return int(value)
    return 0


def _prepare_model(recipe: Recipe) -> tuple[Any, Any]:
    """The stage's model with LoRA, trainable modules and gradient checkpointing set."""
    from .freezing import set_trainable
    from .model_setup import build_model

    with _quiet_transformers():
        model, processor = build_model(recipe)
    model.config.use_cache = False
    model.language_model.config.use_cache = False
    if recipe.data.packing:  # one causal SDPA call per packed record (kangaroo.model.packing)
        model.language_model.set_attn_implementation("sdpa_packed")
    if recipe.lora is not None:
        from .lora import add_lora

        lo = recipe.lora
        add_lora(model, r=lo.r, alpha=lo.alpha, dropout=lo.dropout, target_modules=lo.target_modules)
    set_trainable(model, resolve_trainable(recipe.trainable))
    if recipe.gradient_checkpointing:  # non-reentrant: works when the inputs need no grad (frozen embeddings)
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, processor


class _Encoder:
    """Encodes the records of a step: inline, or ahead of time in ``workers`` threads (one task per
    record; each thread has its own copy of the processors, as tokenizers are not thread-safe)."""

    def __init__(self, recipe: Recipe, policy: FramePolicy, items: Sequence[TrainingRecord], workers: int) -> None:
        import threading

        self.recipe = recipe
        self.policy = policy
        self.items = items
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") if workers > 0 else None
        self._local = threading.local()

    def __enter__(self) -> _Encoder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, picks: list[tuple[int, int]], position: Position) -> tuple[_Pending, Position]:
        if self.pool is None:
            return _Pending([self._encode(epoch, index, self.policy) for epoch, index in picks]), position
        return _Pending([self.pool.submit(self._encode_in_thread, epoch, index) for epoch, index in picks]), position

    def _encode_in_thread(self, epoch: int, index: int) -> tuple[Any, str | None, str]:
        policy = getattr(self._local, "policy", None)
        if policy is None:
            policy = self._local.policy = copy.deepcopy(self.policy)
        return self._encode(epoch, index, policy)

    def _encode(self, epoch: int, index: int, policy: FramePolicy) -> tuple[Any, str | None, str]:
        """``(example or None, skip reason, record id)``."""
        from .examples import ExampleError, encode_record

        item = self.items[index]
        rng = np.random.default_rng([self.recipe.run.seed, epoch, index])
        low, high = self.recipe.data.image_time_range
        try:
            example = encode_record(item.record, policy.processor_for(item), item.root, rng=rng,
                                    image_time_range=(low, high))
        except ExampleError as exc:
            return None, str(exc), item.record.id
        return example, None, item.record.id


class _Pending:
    """The encoded records of a step, in order (results, or futures of them)."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def result(self) -> list[tuple[Any, str | None, str]]:
        return [part.result() if isinstance(part, Future) else part for part in self.parts]


def _micro_batches(recipe: Recipe, examples: list[Any], pad_id: int) -> tuple[list[Any], list[str]]:
    """The forwards of one micro-batch: packed rows or one padded batch; and dropped ids."""
    from .batching import pack_examples_with_stats, pad_examples, truncate_example

    if not examples:
        return [], []
    max_length = recipe.data.max_length
    if recipe.data.packing:
        batches, stats = pack_examples_with_stats(examples, max_length, pad_id,
                                                  rows_per_batch=recipe.schedule.batch_size)
        return batches, list(stats.dropped)
    kept, dropped = [], []
    for example in examples:
        fitted, _ = truncate_example(example, max_length)
        if fitted is None or fitted.num_label_tokens == 0:
            dropped.append(example.record_id)
        else:
            kept.append(fitted)
    return ([pad_examples(kept, pad_id)] if kept else []), dropped


def _train_step(recipe: Recipe, model: Any, optimizer: Any, scheduler: Any, encoded: list[tuple[Any, str | None, str]],
                pad_id: int, autocast: torch.dtype | None, trainable: list[torch.nn.Parameter],
                device: torch.device, ctx: Any) -> dict[str, Any]:
    """One optimizer step over ``grad_accum`` micro-batches; returns its metrics (summed over ranks).

    The loss of the step is the mean over all its label tokens (every micro-batch, every rank):
    each forward's loss is its token sum over this rank's label tokens (``num_items_in_batch``),
    scaled by `distributed.token_mean_loss_scale`'s factor so the gradients averaged over ranks are
    those of the global token mean.
    """
    from .distributed import all_reduce_sum

    size = recipe.schedule.batch_size
    skipped_ids = [rid for example, reason, rid in encoded if example is None]
    for example, reason, rid in encoded:
        if example is None:
            logger.warning("skipping %s: %s", rid, reason)
    forwards: list[Any] = []
    for start in range(0, len(encoded), size):
        chunk = [example for example, _, _ in encoded[start : start + size] if example is not None]
        batches, dropped = _micro_batches(recipe, chunk, pad_id)
        forwards += batches
        skipped_ids += dropped
        for rid in dropped:
            logger.warning("skipping %s: longer than data.max_length=%d without a clean cut",
                           rid, recipe.data.max_length)
    local_tokens = sum(b.num_label_tokens for b in forwards)
    if ctx.is_distributed:
        forwards = _same_number_of_forwards(forwards, pad_id, ctx)
    label_tokens = int(all_reduce_sum(local_tokens, ctx))
    scale = local_tokens * ctx.world_size / label_tokens if label_tokens else 0.0
    lr = _main_lr(optimizer)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0  # this rank's token-loss sum
    grad_norm = float("nan")
    if label_tokens > 0:
        for batch in forwards:
            if batch.num_label_tokens == 0 and not ctx.is_distributed:
                continue  # (ranks must run the same forwards: FSDP gathers weights in each)
            inputs = batch.to(device).model_inputs()
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                out = model(**inputs, use_cache=False, num_items_in_batch=max(local_tokens, 1))
            (out.loss * scale).backward()
            loss_sum += float(out.loss.detach()) * local_tokens
        clip = recipe.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(trainable, clip if clip > 0 else float("inf"))
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    totals = [all_reduce_sum(v, ctx) for v in (loss_sum, sum(b.num_real_tokens for b in forwards),
                                               sum(b.num_tokens for b in forwards), len(encoded) - len(skipped_ids),
                                               len(skipped_ids))]
    return {
        "loss": totals[0] / label_tokens if label_tokens > 0 else float("nan"),
        "lr": lr,
        "grad_norm": grad_norm,
        "label_tokens": label_tokens,
        "real_tokens": int(totals[1]),
        "total_tokens": int(totals[2]),
        "records": int(totals[3]),
        "skipped": int(totals[4]),
        "skipped_ids": skipped_ids,
    }


def _same_number_of_forwards(forwards: list[Any], pad_id: int, ctx: Any) -> list[Any]:
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


# ---------------------------------------------------------------------------------------------
# final model


def export_final(model: Any, processor: Any, run_dir: Path, recipe: Recipe, ctx: Any = None) -> Path:
    """Write ``run_dir/final``: the model (LoRA merged, on the CPU) and its processor, atomically
    (temporary directory, then rename; marker last). In a multi-process run every rank calls it
    (the weights are gathered) and rank 0 writes."""
    import shutil

    from .distributed import barrier, full_state_dict
    from .lora import has_lora, merge_lora

    final = run_dir / FINAL_DIR
    state = None
    if ctx is not None and ctx.is_distributed:
        state = full_state_dict(model, ctx)  # a collective; rank 0 gets the whole model
        if not ctx.is_main:
            barrier(ctx)
            return final
    tmp = run_dir / f".tmp-{FINAL_DIR}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    export = model
    if has_lora(model):
        export = merge_lora(copy.deepcopy(model).cpu())
    export.config.use_cache = True  # for generation with the saved model
    with _quiet_transformers():
        export.save_pretrained(tmp, **({"state_dict": state} if state is not None else {}))
        processor.save_pretrained(tmp)
    export.config.use_cache = False
    (tmp / "training.json").write_text(json.dumps({"stage": recipe.stage, "recipe": recipe.to_dict()}, indent=2)
                                       + "\n", encoding="utf-8")
    if final.exists():
        old = run_dir / f".old-{FINAL_DIR}-{os.getpid()}"
        os.rename(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, final)
    marker = final / f"{FINAL_MARKER}.tmp"
    marker.write_text(json.dumps({"stage": recipe.stage}) + "\n", encoding="utf-8")
    os.replace(marker, final / FINAL_MARKER)
    if ctx is not None and ctx.is_distributed:
        barrier(ctx)
    return final


# ---------------------------------------------------------------------------------------------
# progress


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self.progress = progress
        self.task = task

    def advance(self, loss: float) -> None:
        self.progress.update(self.task, advance=1, loss=_fmt(loss))


@contextlib.contextmanager
def _progress_bar(enabled: bool | None, stage: str, total: int, done: int) -> Iterator[_Bar | None]:
    from rich.console import Console

    console = Console(stderr=True)
    if enabled is None:
        enabled = console.is_terminal
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(stage), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(stage, total=total, completed=done, loss="-")
        yield _Bar(progress, task)


# ---------------------------------------------------------------------------------------------
# curriculum


def run_curriculum(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    output_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> list[TrainResult]:
    """Run a curriculum YAML's stages in order, each from the previous one's final model (see
    `recipe.stage_recipes` for ``overrides`` and ``output_dir``). Finished stages are skipped, so
    running it again resumes. Raises `RecipeError` listing the problems of every stage first."""
    recipes = stage_recipes(load_curriculum(path), overrides, output_dir)
    return [train(recipe, progress=progress, log=log) for recipe in recipes]
