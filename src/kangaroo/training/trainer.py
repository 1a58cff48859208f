"""The training loop of one curriculum stage, and the curriculum of stages.

`train(recipe)` runs a `Recipe` (see `kangaroo.training.recipe`) in ``run.output_dir``:

1. data: the records files / mixture, plus ``data.synth`` datasets generated into
   ``<run_dir>/data/`` when missing; frames are sampled per ``data.frames`` (a `FrameSampling`,
   given to the processor; images are 1-frame videos with a random time);
2. model: `model_setup.build_model` (a builder, a saved model, or the previous stage's ``final/``),
   LoRA when configured, `set_trainable`, gradient checkpointing;
3. AdamW with layer-wise LR decay on the ViT, cosine with warm-up to ``min_lr``
   (`optim.build_optimizer`, `optim.cosine_with_warmup`), grad clip, bf16 autocast, gradient
   accumulation; the loss is the mean over every label token (assistant text only) of the step;
4. checkpoints every ``run.save_every`` steps and at the end (`checkpoint.save_checkpoint`:
   atomic, marker last), keeping ``run.keep_last``; ``metrics.jsonl`` and ``loss.png`` beside them;
5. at the end, ``<run_dir>/final/``: the model (LoRA merged) and its processor, which samples
   frames as the stage trained (``data.frames``), loadable with
   `kangaroo.model.pretrained.load_pretrained`, and the next stage's ``model.from_stage``.

Running the same recipe again resumes from the newest complete checkpoint: model, optimizer,
scheduler, RNG states and the data position are restored, and every record's randomness (image
timestamps) is drawn from ``(seed, epoch, record)``, so a run killed at any moment and resumed
computes the same losses, step for step, as one that never stopped.

Data order: epoch ``e`` visits the records in the order `distributed.shard_indices` gives for
``(run.seed, e)`` (this rank's share); a micro-batch is the next ``schedule.batch_size`` records,
crossing into the next epoch when one ends. The position ``(epoch, index)`` is saved.

The parts, in the order the data flows: `feeding` (records, their order, encoding, micro-batches),
`step` (`train_step`: one optimizer step, returning its `StepMetrics`), `run_state` (`TrainState`,
the recipe copy, checkpoints under FSDP, the final model); this module keeps `StageTrainer`, which
ties them together in torchtune's recipe shape: ``setup()``, then ``train()``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kangaroo.io import atomic_write_json
from kangaroo.model.quiet import no_progress_bars

from .feeding import (
    DataStream,
    RecordEncoder,
    load_training_records,
    pad_token_id,
    prepare_synth_data,
)
from .preflight import check_lengths, validate_recipe
from .recipe import (
    FINAL_DIR,
    Recipe,
    RecipeError,
    final_model_dir,
    load_curriculum,
    resolve_trainable,
    stage_recipes,
    total_steps,
)
from .run_state import Checkpoints, TrainState, export_final, write_recipe_copy
from .step import AUTOCAST, StepParts, train_step

__all__ = ["StageTrainer", "TrainResult", "TrainingInterrupted", "run_curriculum", "train"]

logger = logging.getLogger(__name__)


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
    errors = validate_recipe(recipe, build_model=False)
    if errors:
        raise RecipeError(errors)
    threads = torch.get_num_threads()
    if recipe.run.threads is not None:
        torch.set_num_threads(recipe.run.threads)
    try:
        if recipe.objective == "world_vision":
            return _train_world_vision(recipe, log or logger.info, started)
        if recipe.objective == "world_align":
            return _train_world_align(recipe, log or logger.info, started)
        trainer = StageTrainer(recipe, progress=progress, log=log or logger.info, stop_after=stop_after,
                               started=started)
        trainer.setup()
        return trainer.train()
    finally:
        torch.set_num_threads(threads)


class StageTrainer:
    """One stage, in the shape of torchtune's single-device recipes: `setup` builds everything a
    step needs (data, model, optimizer, schedule) and restores the newest checkpoint; `train` runs
    the steps from there, saving checkpoints, the metrics log and, at the end, the final model.

    Each process of a multi-process run makes its own; rank 0 writes logs, metrics and checkpoints.
    """

    def __init__(self, recipe: Recipe, *, progress: bool | None = None, log: Callable[[str], None] = logger.info,
                 stop_after: int | None = None, started: float | None = None) -> None:
        self.recipe = recipe
        self.run_dir = recipe.output_dir
        self.progress = progress
        self.log = log
        self.stop_after = stop_after
        self.started = time.perf_counter() if started is None else started
        self.already_finished = False  # set by setup: an earlier call finished the stage
        self.resumed_from: int | None = None  # step of the checkpoint setup restored
        self.checkpoint_path: Path | None = None  # the newest checkpoint of the run

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        """Data (``data.synth`` generated first), model, optimizer, schedule and the trainer state,
        restored from the newest complete checkpoint when there is one. Raises `RecipeError` for
        what only shows now (a missing previous stage, too many warm-up steps, too long inputs, a
        checkpoint made for another step or process count)."""
        from .checkpoint import latest_checkpoint, restore_rng_state
        from .distributed import barrier, init_distributed, shard_model
        from .metrics import METRICS_FILE, MetricsLog
        from .optim import build_optimizer, cosine_with_warmup

        recipe, run_dir = self.recipe, self.run_dir
        self.ctx = ctx = init_distributed(_device(recipe.run.device))
        if not ctx.is_main:
            self.log, self.progress = (lambda message: None), False  # one process writes logs, metrics and checkpoints
        if ctx.world_size > 1 and recipe.lora is not None:
            raise RecipeError(["lora: LoRA with several processes is not supported; run it on one process"])
        run_dir.mkdir(parents=True, exist_ok=True)
        latest = latest_checkpoint(run_dir)
        saved = TrainState.read(latest) if latest is not None else None
        if saved is not None and saved.finished and final_model_dir(run_dir) is not None:
            self.already_finished, self.state, self.resumed_from = True, saved, saved.step
            return
        if saved is not None and saved.world_size != ctx.world_size:
            raise RecipeError([f"{latest} was written by {saved.world_size} process(es); resume it with "
                               f"as many (this run has {ctx.world_size}), or use a new run.output_dir"])

        previous = recipe.from_stage_dir()
        if previous is not None and final_model_dir(previous) is None:  # before any data is generated
            raise RecipeError([f"model.from_stage: {previous} has no finished model ({previous}/{FINAL_DIR}); "
                               "run the previous stage first"])
        if ctx.is_main:
            write_recipe_copy(recipe, run_dir, self.log)
            prepare_synth_data(recipe, self.log)
        barrier(ctx)  # the other ranks read the data rank 0 generated
        self.items = load_training_records(recipe, self.log)
        self.stream = DataStream(len(self.items), seed=recipe.run.seed, shuffle=recipe.data.shuffle, ctx=ctx)
        self.total_steps = steps = total_steps(recipe, self.stream.epoch_length)
        if recipe.optim.warmup_steps >= steps:
            raise RecipeError([f"optim.warmup_steps ({recipe.optim.warmup_steps}) must be less than the "
                               f"stage's {steps} steps"])

        model, self.processor = _prepare_model(recipe)
        length_errors = check_lengths(recipe, model.config.layout,
                                      getattr(model.config.text_config, "max_position_embeddings", None))
        if length_errors:
            raise RecipeError(length_errors)
        self.processor = self.processor.with_sampling(recipe.data.frames)  # what it trains with; final/ keeps it
        self.checkpoints = Checkpoints(ctx, run_dir, recipe.run.keep_last, processor=self.processor)
        if latest is not None and ctx.is_distributed:  # weights go in before sharding
            self.checkpoints.load_model(latest, model)
        model = shard_model(model, ctx)  # one process: only moved to the device
        model.train()
        o = recipe.optim
        optimizer = build_optimizer(model, lr=o.lr, weight_decay=o.weight_decay, betas=(o.betas[0], o.betas[1]),
                                    vision_lr_decay=o.vision_lr_decay)
        scheduler = cosine_with_warmup(optimizer, warmup_steps=o.warmup_steps, total_steps=steps, min_lr=o.min_lr)

        self.metrics = MetricsLog(run_dir / METRICS_FILE)
        if latest is not None:
            self.state, rng = self.checkpoints.load(latest, model, optimizer, scheduler)
            if rng is not None:
                restore_rng_state(rng)
            self.resumed_from = self.state.step
            self.log(f"{recipe.stage}: resuming from {latest.name} (step {self.resumed_from} of {steps})")
            if self.state.total_steps != steps:
                raise RecipeError([f"the checkpoint was made for {self.state.total_steps} steps, the recipe now "
                                   f"gives {steps}; use a new run.output_dir"])
            self.state.stage = recipe.stage
        else:
            _seed_everything(recipe.run.seed)
            self.state = TrainState(total_steps=steps, stage=recipe.stage, world_size=ctx.world_size)
        if ctx.is_main:
            self.metrics.truncate(self.state.step)
        self.parts = StepParts(model=model, optimizer=optimizer, scheduler=scheduler,
                               trainable=[p for p in model.parameters() if p.requires_grad],
                               pad_id=pad_token_id(self.processor), autocast=AUTOCAST.get(recipe.precision), ctx=ctx)
        self.checkpoint_path = latest

    def _visual_cache(self) -> Any:
        """A `VisualTokenCache` when ``data.cache_visual_tokens`` is on, the vision side is frozen and
        the run is one process (a sharded model's forward is collective); else None."""
        from .visual_cache import VisualTokenCache, vision_is_frozen

        model = self.parts.model
        if not self.recipe.data.cache_visual_tokens or self.ctx.world_size > 1 or not vision_is_frozen(model):
            return None
        self.log(f"{self.recipe.stage}: vision side frozen: each record's visual tokens are computed once and kept")
        return VisualTokenCache(model, autocast=self.parts.autocast)

    # -- train ---------------------------------------------------------------------------------
    def train(self) -> TrainResult:
        """Run the remaining steps (call `setup` first). A checkpoint is saved every
        ``run.save_every`` steps, at the last step, after SIGINT / SIGTERM (then
        `TrainingInterrupted` is raised) and at ``stop_after``; the final model is exported at
        the end."""
        recipe, state, ctx = self.recipe, self.state, self.ctx
        if self.already_finished:
            self.log(f"{recipe.stage}: already finished ({self.run_dir / FINAL_DIR})")
            return self._result(steps_run=0)
        steps = self.total_steps
        steps_run = 0
        elapsed_before = state.elapsed_s
        loop_started = time.perf_counter()
        encoder = RecordEncoder(recipe, self.processor, self.items, workers=recipe.data.workers,
                                visual_cache=self._visual_cache())
        per_step = recipe.schedule.batch_size * recipe.schedule.grad_accum
        with _StopFlag() as stop, _progress_bar(self.progress, recipe.stage, steps, state.step) as bar, encoder:
            upcoming = encoder.submit(*self.stream.take(state.position, per_step)) if state.step < steps else None
            while state.step < steps:
                step_started = time.perf_counter()
                pending, position = upcoming
                examples = pending.result()
                upcoming = encoder.submit(*self.stream.take(position, per_step)) if state.step + 1 < steps else None
                metrics = train_step(recipe, self.parts, examples)
                state.record_step(metrics, position, elapsed_before + time.perf_counter() - loop_started)
                steps_run += 1
                step_seconds = time.perf_counter() - step_started
                if ctx.is_main and (state.step % recipe.run.log_every == 0 or state.step == steps):
                    entry = metrics.log_entry(step=state.step, epoch=position.epoch, step_seconds=step_seconds,
                                              elapsed_s=state.elapsed_s)
                    self.metrics.append(entry)
                    if bar is None:
                        self.log(f"{recipe.stage} step {state.step}/{steps} loss {_fmt(metrics.loss)} "
                                 f"lr {metrics.lr:.3g} {_fmt(entry['tokens_per_s'], '.0f')} tok/s")
                if bar is not None:
                    bar.advance(metrics.loss)
                finished = state.step == steps
                if finished or state.step % recipe.run.save_every == 0:
                    self.save_checkpoint(finished)
                stopping = stop.signal is not None
                if ctx.is_distributed:  # every rank stops after the same step
                    from .distributed import all_reduce_sum

                    stopping = all_reduce_sum(float(stopping), ctx) > 0
                if not finished and (stopping or (self.stop_after is not None and state.step >= self.stop_after)):
                    if state.step % recipe.run.save_every:
                        self.save_checkpoint(False)
                    if stopping:
                        raise TrainingInterrupted(state.step, self.checkpoint_path)
                    return self._result(steps_run)
        if not state.finished:  # a run that resumed from its last step's checkpoint
            self.save_checkpoint(True)
        export_final(self.parts.model, self.processor, self.run_dir, recipe, ctx)
        if ctx.is_main:
            self._plot_loss_curve()
        self.log(f"{recipe.stage}: finished {steps} steps; model in {self.run_dir / FINAL_DIR}")
        return self._result(steps_run)

    def save_checkpoint(self, finished: bool) -> Path:
        """Save the state after the last step (``finished`` marks the stage's last step) and
        redraw the loss curve."""
        self.state.finished = finished
        parts = self.parts
        self.checkpoint_path = self.checkpoints.save(self.state, parts.model, parts.optimizer, parts.scheduler)
        if self.ctx.is_main:
            self._plot_loss_curve()
        return self.checkpoint_path

    def _plot_loss_curve(self) -> None:
        from .metrics import LOSS_CURVE_FILE, plot_loss_curve

        plot_loss_curve(self.metrics.read(), self.run_dir / LOSS_CURVE_FILE, title=f"{self.recipe.stage} loss")

    def _result(self, steps_run: int) -> TrainResult:
        from .metrics import METRICS_FILE, read_metrics

        entries = read_metrics(self.run_dir / METRICS_FILE)
        return TrainResult(run_dir=self.run_dir, final_dir=self.run_dir / FINAL_DIR,
                           total_steps=self.state.total_steps, steps_run=steps_run, resumed_from=self.resumed_from,
                           losses=[e["loss"] for e in entries if e.get("loss") is not None],
                           seconds=time.perf_counter() - self.started, skipped_records=self.state.skipped)


WORLD_VISION_FILE = "world_vision.json"  # <run_dir>/world_vision.json: the probe of a world-vision stage


def _finished_world_stage(recipe: Recipe, report: str, log: Callable[[str], None],
                          started: float) -> TrainResult | None:
    """The result of a world stage that already finished (its report read back), or None. Checks that
    the previous stage finished when this one has not."""
    run_dir, steps = recipe.output_dir, int(recipe.schedule.steps or 0)
    if final_model_dir(run_dir) is not None:
        log(f"{recipe.stage}: already finished ({run_dir / FINAL_DIR})")
        done = json.loads((run_dir / report).read_text(encoding="utf-8"))
        return TrainResult(run_dir=run_dir, final_dir=run_dir / FINAL_DIR, total_steps=steps, steps_run=0,
                           resumed_from=steps, losses=done["losses"], seconds=time.perf_counter() - started)
    previous = recipe.from_stage_dir()
    if previous is not None and final_model_dir(previous) is None:
        raise RecipeError([f"model.from_stage: {previous} has no finished model ({previous}/{FINAL_DIR}); "
                           "run the previous stage first"])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_recipe_copy(recipe, run_dir, log)
    _seed_everything(recipe.run.seed)
    return None


def _finish_world_stage(recipe: Recipe, model: Any, processor: Any, losses: list[float], log: Callable[[str], None],
                        started: float) -> TrainResult:
    run_dir, steps = recipe.output_dir, int(recipe.schedule.steps or 0)
    export_final(model, processor, run_dir, recipe)
    log(f"{recipe.stage}: finished {steps} steps; model in {run_dir / FINAL_DIR}")
    return TrainResult(run_dir=run_dir, final_dir=run_dir / FINAL_DIR, total_steps=steps, steps_run=steps,
                       resumed_from=None, losses=losses, seconds=time.perf_counter() - started)


def _train_world_vision(recipe: Recipe, log: Callable[[str], None], started: float) -> TrainResult:
    """A world-vision stage: the tower learns the world's ground truth (`world_vision.pretrain_vision`),
    a fresh linear probe on held-out scenes measures what it sees (written to ``world_vision.json``
    and logged), and ``final/`` holds the whole model for the next stage. Short enough to rerun
    from the start when interrupted; a finished one is found, not rerun."""
    from .world_vision import linear_probe, pretrain_vision

    done = _finished_world_stage(recipe, WORLD_VISION_FILE, log, started)
    if done is not None:
        return done
    model, processor = _prepare_model(recipe)
    losses: list[float] = []
    steps = int(recipe.schedule.steps or 0)
    pretrain_vision(model, processor, steps=steps, batch_size=recipe.schedule.batch_size, lr=recipe.optim.lr,
                    seed=recipe.run.seed, log=lambda message: log(f"{recipe.stage}: {message}"),
                    on_step=lambda step, loss: losses.append(loss))
    probe = linear_probe(model, processor, seed=recipe.run.seed)
    atomic_write_json(recipe.output_dir / WORLD_VISION_FILE,
                      {"steps": steps, "frames_per_step": recipe.schedule.batch_size, "probe": asdict(probe),
                       "losses": losses})
    log(f"{recipe.stage}: linear probe on held-out scenes, per patch: colour {probe.colour:.1%}, "
        f"shape {probe.shape:.1%}, background {probe.background:.1%}")
    return _finish_world_stage(recipe, model, processor, losses, log, started)


WORLD_ALIGN_FILE = "world_align.json"  # <run_dir>/world_align.json: what the aligned visual tokens say


def _train_world_align(recipe: Recipe, log: Callable[[str], None], started: float) -> TrainResult:
    """A world-align stage: the trainable vision side learns to turn rendered clips into visual tokens
    equal to the text embeddings of what they show (`world_align.align_visual_tokens`); the words
    decoded back from held-out clips' tokens (recall, precision) go to ``world_align.json``."""
    from .world_align import align_visual_tokens, alignment_score

    done = _finished_world_stage(recipe, WORLD_ALIGN_FILE, log, started)
    if done is not None:
        return done
    model, processor = _prepare_model(recipe)
    params = [p for p in model.parameters() if p.requires_grad]
    losses: list[float] = []
    steps, frames = int(recipe.schedule.steps or 0), int(recipe.data.frames.num_frames or 0)
    model.train()
    vectors = align_visual_tokens(model, processor, params, steps=steps, clips=recipe.schedule.batch_size,
                                  num_frames=frames, lr=recipe.optim.lr, seed=recipe.run.seed,
                                  log=lambda message: log(f"{recipe.stage}: {message}"),
                                  on_step=lambda step, loss: losses.append(loss))
    model.eval()
    score = alignment_score(model, processor, vectors, num_frames=frames, seed=recipe.run.seed)
    atomic_write_json(recipe.output_dir / WORLD_ALIGN_FILE,
                      {"steps": steps, "clips_per_step": recipe.schedule.batch_size, "frames": frames,
                       "held_out": asdict(score), "losses": losses})
    log(f"{recipe.stage}: words read back from held-out clips' visual tokens: recall {score.recall:.1%}, "
        f"precision {score.precision:.1%}, tokens exact {score.exact:.1%}, time word {score.time:.1%}")
    return _finish_world_stage(recipe, model, processor, losses, log, started)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _prepare_model(recipe: Recipe) -> tuple[Any, Any]:
    """The stage's model with LoRA, trainable modules and gradient checkpointing set."""
    from .freezing import set_trainable
    from .model_setup import build_model

    with no_progress_bars():
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
