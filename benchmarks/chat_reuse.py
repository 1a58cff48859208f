"""Time to first token of a follow-up question: reused prefix cache vs recomputing the conversation.

Turn 1 decodes the video, runs the visual branch and prefills the prompt. Turn 2 (kangaroo) reuses
the video's features and the KV cache of the conversation so far. The named baseline is what the
original Kangaroo ``chat`` does on every turn: decode the video and recompute everything.
Reports medians over ``--repeats`` conversations and the ratio turn 2 / turn 1 (target <= 0.2x).

    .venv/bin/python benchmarks/chat_reuse.py [--size tiny|small] [--frames 16] [--answer-tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers.generation.streamers import BaseStreamer

from kangaroo.inference.chat import chat, video_features
from kangaroo.model.builders import kangaroo_tiny_config
from kangaroo.model.configuration import KangarooConfig
from kangaroo.model.modeling import KangarooForCausalLM
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.video.sample import make_sample_video
from kangaroo.video.sampling import FrameSampling

SMALL = dict(  # a mid-size model where prefill, not decoding, dominates turn 1
    vision_config=dict(model_type="clip_vision_model", hidden_size=256, intermediate_size=1024, num_hidden_layers=6,
                       num_attention_heads=8, image_size=224, patch_size=14, attn_implementation="sdpa"),
    text_config=dict(model_type="llama", hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
                     num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=32768,
                     attn_implementation="sdpa"),
)


class FirstTokenClock(BaseStreamer):
    """Records when generation emits its first new token (the first ``put`` is the prompt)."""

    def __init__(self) -> None:
        self.calls, self.first_token_at = 0, None

    def put(self, value: torch.Tensor) -> None:
        self.calls += 1
        if self.calls == 2 and self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


def build(size: str, frames: int) -> tuple[KangarooForCausalLM, KangarooProcessor]:
    tokenizer = build_byte_tokenizer()
    config = kangaroo_tiny_config(tokenizer)
    if size == "small":
        text = {**SMALL["text_config"], "vocab_size": config.text_config.vocab_size,
                "eos_token_id": config.text_config.eos_token_id, "pad_token_id": config.text_config.pad_token_id}
        config = KangarooConfig(**{**config.to_dict(), "vision_config": SMALL["vision_config"], "text_config": text})
    torch.manual_seed(0)
    model = KangarooForCausalLM(config).eval()
    return model, KangarooProcessor(tokenizer, config.layout, sampling=FrameSampling(num_frames=frames))


def conversation(model, processor, video: Path, gen: dict) -> tuple[float, float, float]:
    """Times to first token: turn 1, turn 2 with reuse, turn 2 recomputed from scratch."""
    clocks = [FirstTokenClock() for _ in range(3)]
    start = time.perf_counter()
    _, history = chat(model, processor, video, "Describe the video.", streamer=clocks[0], **gen)
    turn1 = clocks[0].first_token_at - start

    start = time.perf_counter()
    chat(model, processor, video, "What happens next?", history=history, streamer=clocks[1], **gen)
    turn2 = clocks[1].first_token_at - start

    start = time.perf_counter()  # the baseline: decode the video and recompute the whole conversation
    features, _ = video_features(model, processor, video)
    fresh = replace(history, video_features=features, cache=None, cached_ids=None)
    chat(model, processor, video, "What happens next?", history=fresh, streamer=clocks[2], **gen)
    recomputed = clocks[2].first_token_at - start
    return turn1, turn2, recomputed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "small"), default="small")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--answer-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    model, processor = build(args.size, args.frames)
    video = make_sample_video(Path(tempfile.mkdtemp()) / "sample.mp4", duration=30.0)
    gen = dict(max_new_tokens=args.answer_tokens, min_new_tokens=args.answer_tokens, do_sample=False)
    runs = [conversation(model, processor, video, gen) for _ in range(args.repeats + 1)][1:]  # first: warm-up
    first, reused, recomputed = zip(*runs, strict=True)
    m1, m2, mb = (statistics.median(x) for x in (first, reused, recomputed))
    params = sum(p.numel() for p in model.parameters())
    context = processor.token_count([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe the video."}]}], [args.frames])
    print(f"model {args.size} ({params / 1e6:.1f}M parameters), {args.frames} frames, turn-1 prompt "
          f"{context} tokens, answers of {args.answer_tokens} tokens, median of {args.repeats}", file=sys.stderr)
    rows = [("turn 1 (video + prefill)", m1), ("turn 2, kangaroo (reused features + KV)", m2),
            ("turn 2, recomputed (original Kangaroo)", mb)]
    if args.markdown:
        print("| turn | time to first token (s) | / turn 1 |\n|---|---|---|")
        for name, value in rows:
            print(f"| {name} | {value:.3f} | {value / m1:.2f}x |")
    else:
        for name, value in rows:
            print(f"{name:42s} {value:7.3f} s  {value / m1:5.2f}x turn 1")
    verdict = "PASS" if m2 <= 0.2 * m1 else "MISS"
    print(f"{verdict}  turn 2 / turn 1 = {m2 / m1:.3f} (target <= 0.2); recomputing instead: {mb / m1:.2f}x")


if __name__ == "__main__":
    main()
