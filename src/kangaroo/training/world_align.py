"""Ground the visual tokens in words: every token becomes the text embedding of what it shows.

The paper's stage 1 aligns a pre-trained vision encoder with a pre-trained LLM through captions.
A tiny model has neither, and next-token loss alone never teaches its projector to say anything:
the LLM learns the text prior first and the visual tokens collapse to a constant prefix (see
docs/results.md, "Toward a model that sees"). A planted word embedding, by contrast, is read by
the tiny LLM within a few hundred steps. So this stage makes the real visual tokens word-like:
clips of random scenes are rendered, and each visual token (one patchify cell: ``kt`` frames x
``kh x kw`` patches) is regressed onto

    target = WORD_SCALE * sum of the word vectors of the colours and shapes present in its cell

plus, where the cell holds an object, where it is: the cell's column as a blend of "left" and
"right" (all "left" in the first column, all "right" in the last) and its row as a blend of "up"
and "down" (zero where the cell is background); and in every cell, when it is: the digit of its
whole second ("5" for a frame pair around 5.5 s; none from 10 s on), the token a question or an
answer writes for that second ("at 5.52 seconds"). A word's vector is the LLM's current input
embedding of that word (the mean over its tokens). Cells with an object weigh `OBJECT_WEIGHT`
times more.
`alignment_score` decodes each token back into words (its projection on every word vector) and
reports recall and precision on held-out scenes: the check that the tokens say what they show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kangaroo.synth.splits import allowed_for
from kangaroo.synth.supervision import (
    COLOUR_CLASSES,
    SHAPE_CLASSES,
    canvas_geometry,
    patch_targets,
    render_on_canvas,
)
from kangaroo.synth.world import sample_scene

from .world_vision import train_world_steps

OBJECT_WORDS: tuple[str, ...] = (*COLOUR_CLASSES[1:], *SHAPE_CLASSES[1:])  # what a cell shows
PLACE_WORDS: tuple[str, ...] = ("left", "right", "up", "down")  # where it is (column, row blends)
TIME_WORDS: tuple[str, ...] = tuple(str(second) for second in range(10))  # when it is: the whole second
WORDS: tuple[str, ...] = (*OBJECT_WORDS, *PLACE_WORDS, *TIME_WORDS)  # a target is a weighted sum of these words' vectors
WORD_SCALE = 4.0  # a token showing one object is this many times its word's embedding
OBJECT_WEIGHT = 5.0  # cells with an object weigh this much more than background cells
PRESENT = 0.5  # a decoded word is present when the token's projection on it exceeds this share of WORD_SCALE


@dataclass(frozen=True)
class AlignmentScore:
    """Words decoded from visual tokens on held-out scenes: ``recall`` of the colours and shapes
    present, ``precision`` of those decoded, ``exact`` share of tokens whose colours and shapes are
    decoded exactly (background included), ``time`` share of tokens whose likeliest time word is
    their second."""

    recall: float
    precision: float
    exact: float
    time: float


@dataclass(frozen=True)
class WorldClip:
    """One rendered clip: normalised frames ``(T, 3, S, S)``, their times ``(T,)`` and each visual
    token's word weights ``(N, len(WORDS))`` (`cell_words`)."""

    pixels: torch.Tensor
    timestamps: torch.Tensor
    words: torch.Tensor


def word_vectors(model, tokenizer) -> torch.Tensor:
    """``(len(WORDS), D)``: each word's input embedding, the mean over its tokens (with a leading space;
    a time word as its digit alone, as in " 5.52")."""
    table = model.get_input_embeddings().weight
    rows = []
    for word in WORDS:
        ids = tokenizer(word if word in TIME_WORDS else " " + word, add_special_tokens=False)["input_ids"]
        rows.append(table[torch.tensor(ids, device=table.device)].mean(0))
    return torch.stack(rows)


def cell_words(colours: np.ndarray, shapes: np.ndarray, times: np.ndarray, kernel: tuple[int, int, int]) -> np.ndarray:
    """Per-patch classes of ``T`` frames, ``(T, g, g)`` each (0 = none), and the frames' times ``(T,)``
    in seconds, to each patchify cell's word weights ``(ceil(T / kt) * (g / kh) * (g / kw), len(WORDS))``:
    1 for each colour and shape present, for a cell with an object its place (``left``/``right`` and
    ``up``/``down`` weights summing to 1 each), and 1 for the time word of the whole second of its
    frames' mean time (every cell; none from 10 s on). The last frame is repeated up to a multiple
    of ``kt``, as `SpatioTemporalPatchify` pads."""
    kt, kh, kw = kernel
    pad = -colours.shape[0] % kt
    if pad:
        colours = np.concatenate([colours, np.repeat(colours[-1:], pad, axis=0)])
        shapes = np.concatenate([shapes, np.repeat(shapes[-1:], pad, axis=0)])
        times = np.concatenate([times, np.repeat(times[-1:], pad)])
    frames, grid, _ = colours.shape
    per_patch = np.zeros((frames, grid, grid, len(OBJECT_WORDS)), np.float32)  # (T, g, g, K_obj)
    n_colours = len(COLOUR_CLASSES) - 1
    t, i, j = np.nonzero(colours)
    per_patch[t, i, j, colours[t, i, j] - 1] = 1
    t, i, j = np.nonzero(shapes)
    per_patch[t, i, j, n_colours + shapes[t, i, j] - 1] = 1
    cells = per_patch.reshape(frames // kt, kt, grid // kh, kh, grid // kw, kw, len(OBJECT_WORDS))
    present = cells.max(axis=(1, 3, 5))  # (G, h', w', K_obj)
    rows, cols = present.shape[1:3]
    across = np.broadcast_to(((np.arange(cols) + 0.5) / cols)[None, None, :], present.shape[:3])  # (G, h', w')
    down = np.broadcast_to(((np.arange(rows) + 0.5) / rows)[None, :, None], present.shape[:3])
    place = np.stack([1 - across, across, 1 - down, down], axis=-1)  # (G, h', w', 4)
    place = place * (present.sum(-1, keepdims=True) > 0)  # background says nowhere
    second = np.floor(times.reshape(-1, kt).mean(1)).astype(np.int64)  # (G,)
    when = np.zeros((len(second), len(TIME_WORDS)), np.float32)  # (G, 10)
    known = second < len(TIME_WORDS)
    when[np.nonzero(known)[0], second[known]] = 1
    when = np.broadcast_to(when[:, None, None, :], (*present.shape[:3], len(TIME_WORDS)))  # (G, h', w', 10)
    return np.concatenate([present, place, when], axis=-1).reshape(-1, len(WORDS)).astype(np.float32)


def world_clip(rng: np.random.Generator, processor, num_frames: int, kernel: tuple[int, int, int],
               split: str = "train", size: tuple[int, int] = (128, 96)) -> WorldClip:
    """A random scene's clip of ``num_frames`` frames at uniform times, as the processor prepares video."""
    layout = processor.layout
    canvas, patch = layout.image_size, layout.patch_size
    scene = sample_scene(rng, size=size, allowed=allowed_for(split))
    times = (np.arange(num_frames) + 0.5) * scene.duration / num_frames
    scale, left, top = canvas_geometry(size[0], size[1], canvas)
    inside = torch.zeros(canvas, canvas, dtype=torch.bool)  # (S, S): where the frame lies on the canvas
    inside[top : top + round(size[1] * scale), left : left + round(size[0] * scale)] = True
    frames = np.stack([render_on_canvas(scene, float(t), canvas) for t in times])
    targets = [patch_targets(scene, float(t), canvas, patch) for t in times]
    words = cell_words(np.stack([x.colour for x in targets]), np.stack([x.shape for x in targets]), times, kernel)
    pixels = processor.normalize_frames(frames).masked_fill_(~inside, 0.0)  # (T, 3, S, S)
    return WorldClip(pixels, torch.from_numpy(times).float(), torch.from_numpy(words))


def _tokens(model, clips: list[WorldClip]) -> torch.Tensor:
    pixels = torch.cat([c.pixels for c in clips])
    times = torch.cat([c.timestamps for c in clips])
    counts = [c.pixels.shape[0] for c in clips]
    return torch.cat(model.get_video_features(pixels, times, counts))  # (sum N, D)


def _loss(tokens: torch.Tensor, words: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    target = WORD_SCALE * words @ vectors  # (N, D)
    weight = torch.where(words[:, : len(OBJECT_WORDS)].sum(-1) > 0, OBJECT_WEIGHT, 1.0)  # (N,)
    scale = WORD_SCALE**2 * vectors.norm(dim=-1).pow(2).mean()  # the loss of a token that says nothing
    return (((tokens - target) ** 2).sum(-1) * weight).mean() / scale


def alignment_score(model, processor, vectors: torch.Tensor, *, clips: int = 24, num_frames: int = 16,
                    seed: int = 0) -> AlignmentScore:
    """Decode the colours and shapes said by the visual tokens of ``clips`` test-split clips (held-out
    seeds and compositions)."""
    rng = np.random.default_rng(seed + 7919)
    kernel = tuple(model.patchify.kernel)
    with torch.no_grad():
        batch = [world_clip(rng, processor, num_frames, kernel, split="test") for _ in range(clips)]
        tokens = _tokens(model, batch).float()
    objects, first_time = len(OBJECT_WORDS), len(OBJECT_WORDS) + len(PLACE_WORDS)
    all_words = torch.cat([c.words for c in batch])  # (N, K)
    words = all_words[:, :objects] > 0  # (N, K_obj)
    said = tokens @ vectors[:objects].T / vectors[:objects].norm(dim=-1).pow(2) > PRESENT * WORD_SCALE
    hits = (said & words).sum().item()
    when = all_words[:, first_time:]  # (N, 10)
    timed = when.sum(-1) > 0
    time_vectors = vectors[first_time:]
    said_time = (tokens @ time_vectors.T / time_vectors.norm(dim=-1).pow(2)).argmax(-1)  # (N,)
    time_right = (said_time == when.argmax(-1))[timed].float().mean() if timed.any() else torch.tensor(0.0)
    return AlignmentScore(recall=hits / max(1, int(words.sum())), precision=hits / max(1, int(said.sum())),
                          exact=float((said == words).all(-1).float().mean()), time=float(time_right))


def align_visual_tokens(model, processor, params: list[torch.nn.Parameter], *, steps: int, clips: int = 4,
                        num_frames: int = 16, lr: float = 1e-3, seed: int = 0,
                        log: Callable[[str], None] | None = None,
                        on_step: Callable[[int, float], None] | None = None) -> torch.Tensor:
    """Train ``params`` (the vision side: patchify, projector, optionally the tower) for ``steps``
    steps of ``clips`` rendered clips so the visual tokens say their cells' words; AdamW, warm-up
    then cosine. The word vectors are the LLM's input embeddings, fixed during the stage. Returns them."""
    if steps < 1 or clips < 1:
        raise ValueError(f"steps and clips must be >= 1, got {steps}, {clips}")
    vectors = word_vectors(model, processor.tokenizer).detach().float()  # (K, D)
    rng = np.random.default_rng(seed)
    kernel = tuple(model.patchify.kernel)

    def batch_loss() -> torch.Tensor:
        batch = [world_clip(rng, processor, num_frames, kernel) for _ in range(clips)]
        return _loss(_tokens(model, batch).float(), torch.cat([c.words for c in batch]), vectors)

    train_world_steps(params, batch_loss, steps=steps, lr=lr, warmup_steps=max(1, steps // 20), name="align",
                      log=log, on_step=on_step)
    return vectors
