"""Sequence packing against right padding: real tokens per position and per second of training.

Builds a realistic mix of training records from the synthetic world (images, short MCQs, open
questions, multi-turn chats, captions, grounding, long detailed captions: about 100 to 1,000
tokens each with the bundled model's 112 px layout and dynamic frame sampling), encodes them with
`kangaroo.training.examples.encode_record`, and trains three copies of the bundled tiny model
(`kangaroo_tiny(seed=0)`, AdamW lr 1e-3) on the same records:

- padded (the named baseline): each step's records in one right-padded batch (`pad_examples`,
  attention mask);
- packed, block mask: `pack_examples` rows of ``--max-length`` tokens (first fit, in record
  order), ``--rows-per-batch`` rows per optimizer step, plain SDPA: transformers makes a
  block-diagonal mask from the restarting position ids;
- packed, per-record attention: the same rows with ``attn_implementation="sdpa_packed"``
  (`kangaroo.model.packing.packed_sdpa_attention`: one causal SDPA call per record), what
  training uses for packed rows.

A padded step holds exactly the records of the packed step, so every run takes the same optimizer
steps over the same records with the same loss (mean over the same label tokens); their losses
should agree. Steps rotate between the runs so that load from other processes hits all alike; time
is the process's CPU time (one torch thread by default) and wall time. Reports real tokens / all
positions (target: packed >= 95%, checked on a longer stream with the same length mix) and real
tokens per second (target: packed >= 1.5x padded).

    .venv/bin/python benchmarks/packing.py [--per-task 16] [--max-length 2048] [--steps N] [--markdown]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kangaroo.data.records import read_records
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.training.batching import Batch, PackingStats, pack_examples_with_stats, pad_examples
from kangaroo.training.examples import IGNORE_INDEX, Example, encode_record
from kangaroo.video import DynamicFrameRule, FrameSampling

# (task, video seconds): short to long records
MIX = (
    ("image_caption", None),
    ("mcq_count", 4.0),
    ("open_qa", 6.0),
    ("multi_round", 8.0),
    ("caption_short", 10.0),
    ("grounding", 16.0),
    ("caption_detailed", 24.0),
)
FRAME_SAMPLING = FrameSampling(sampling="dynamic",
                               rule=DynamicFrameRule(min_frames=2, max_frames=48, frames_per_second=2.0))


def build_examples(root: Path, per_task: int, seed: int, processor: KangarooProcessor) -> list[Example]:
    """Generate ``per_task`` records of each task in `MIX`, encode them, shuffle them."""
    rng = np.random.default_rng(seed)
    examples = []
    for task, duration in MIX:
        path = generate_dataset(task, per_task, seed, root / task, world=WorldOptions(size=(64, 48), duration=duration))
        examples += [encode_record(r, processor, root / task, rng=rng) for r in read_records(path)]
    return [examples[i] for i in rng.permutation(len(examples))]


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> tuple[float, float, float]:
    """One optimizer step; returns (CPU seconds of this process, wall seconds, loss)."""
    cpu, wall = time.process_time(), time.perf_counter()
    loss = model(**batch.model_inputs(), use_cache=False).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.process_time() - cpu, time.perf_counter() - wall, loss.detach().item()


RUNS = ("padded", "packed, block mask", "packed, per-record attention")


def stream_stats(lengths: list[int], max_length: int, repeats: int, seed: int) -> PackingStats:
    """Packing statistics of a longer stream with the same length mix: ``repeats`` shuffled copies
    of ``lengths`` (packing depends on lengths only, so stand-in text examples are used)."""
    rng = np.random.default_rng(seed + 1)
    stream = [n for _ in range(repeats) for n in rng.permutation(lengths)]
    stand_ins = []
    for i, n in enumerate(stream):
        labels = torch.full((int(n),), IGNORE_INDEX)
        labels[-1] = 0
        stand_ins.append(Example(torch.zeros(int(n), dtype=torch.long), labels, None, None, [], f"s{i}"))
    return pack_examples_with_stats(stand_ins, max_length, 0)[1]


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=0)
    processor = KangarooProcessor(tokenizer, model.config.layout, sampling=FRAME_SAMPLING)
    with tempfile.TemporaryDirectory() as tmp:
        examples = build_examples(Path(tmp), args.per_task, args.seed, processor)
    lengths = [len(e) for e in examples]
    packed, stats = pack_examples_with_stats(examples, args.max_length, tokenizer.pad_token_id, args.rows_per_batch)
    steps = min(args.steps or len(packed), len(packed))
    by_id = {e.record_id: e for e in examples}
    padded = [pad_examples([by_id[r] for r in batch.record_ids], tokenizer.pad_token_id) for batch in packed]
    batches = {"padded": padded, "packed, block mask": packed, "packed, per-record attention": packed}

    def fresh(name: str) -> torch.nn.Module:
        copy_ = copy.deepcopy(model)
        if name == "packed, per-record attention":
            copy_.language_model.set_attn_implementation("sdpa_packed")
        return copy_

    models = {name: fresh(name) for name in RUNS}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=args.lr) for name, m in models.items()}
    for name in RUNS:  # warm-up on throwaway copies: allocator, kernels, mask code paths
        warm = fresh(name)
        train_step(warm, torch.optim.AdamW(warm.parameters(), lr=args.lr), batches[name][0])
    cpu = dict.fromkeys(RUNS, 0.0)
    wall = dict.fromkeys(RUNS, 0.0)
    losses: dict[str, list[float]] = {name: [] for name in RUNS}
    for step in range(steps):
        order = RUNS[step % len(RUNS):] + RUNS[: step % len(RUNS)]  # rotate who goes first
        for name in order:
            dt_cpu, dt_wall, loss = train_step(models[name], optimizers[name], batches[name][step])
            cpu[name] += dt_cpu
            wall[name] += dt_wall
            losses[name].append(loss)
    tail = max(1, steps // 4)
    trained = packed[:steps]
    result = {
        "records": len(examples), "trained_records": sum(len(b.record_ids) for b in trained), "steps": steps,
        "min_len": min(lengths), "max_len": max(lengths), "mean_len": float(np.mean(lengths)),
        "max_length": args.max_length, "rows_per_batch": args.rows_per_batch, "threads": torch.get_num_threads(),
        "stats": stats, "runs": {}, "repeats": args.stream_repeats,
        "stream": stream_stats(lengths, args.max_length, args.stream_repeats, args.seed),
    }
    for name in RUNS:
        used = batches[name][:steps]
        real = sum(b.num_real_tokens for b in used)
        total = sum(b.num_tokens for b in used)
        result["runs"][name] = {
            "real": real, "total": total, "fill": real / total, "cpu": cpu[name], "wall": wall[name],
            "per_cpu": real / cpu[name], "per_wall": real / wall[name],
            "loss": float(np.mean(losses[name][-tail:])),
        }
    base = result["runs"]["padded"]
    for r in result["runs"].values():
        r["speedup_cpu"] = r["per_cpu"] / base["per_cpu"]
        r["speedup_wall"] = r["per_wall"] / base["per_wall"]
    return result


def report(result: dict, markdown: bool) -> str:
    runs = result["runs"]
    packed = runs["packed, per-record attention"]
    stream = result["stream"]
    fill_ok = stream.fill >= 0.95
    head = (f"{result['records']} records ({result['min_len']}-{result['max_len']} tokens, mean "
            f"{result['mean_len']:.0f}); packing all of them at max_length {result['max_length']}: "
            f"{result['stats'].summary()}; a stream of {stream.examples} records with the same length mix "
            f"({result['repeats']} shuffled copies): {stream.rows} rows, {100 * stream.fill:.1f}% real tokens. Trained: {result['steps']} optimizer steps over the same "
            f"{result['trained_records']} records in each run, {result['rows_per_batch']} packed row(s) per step, "
            f"{result['threads']} thread(s).")
    targets = [
        (f"packed real / all positions >= 95% ({stream.examples}-record stream)", fill_ok,
         f"{100 * stream.fill:.1f}%; {100 * result['stats'].fill:.1f}% for the {result['records']} records alone"),
        ("packed (per-record attention) >= 1.5x padded real tokens per second (CPU time)",
         packed["speedup_cpu"] >= 1.5, f"{packed['speedup_cpu']:.2f}x"),
    ]
    if markdown:
        lines = [head, "",
                 "| run | real tokens | positions | real / positions | CPU s | wall s | real tokens / CPU s | "
                 "vs padded (CPU) | vs padded (wall) | loss, last quarter |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in runs.items():
            label = "padded (baseline)" if name == "padded" else name
            lines.append(f"| {label} | {r['real']:,} | {r['total']:,} | {100 * r['fill']:.1f}% | {r['cpu']:.1f} | "
                         f"{r['wall']:.1f} | {r['per_cpu']:,.0f} | {r['speedup_cpu']:.2f}x | "
                         f"{r['speedup_wall']:.2f}x | {r['loss']:.4f} |")
        lines.append("")
        lines += [f"- {text}: {'PASS' if ok else 'MISS'} ({value})" for text, ok, value in targets]
        return "\n".join(lines)
    lines = [head]
    for name, r in runs.items():
        lines.append(f"{name:30s} real/all {100 * r['fill']:5.1f}%  cpu {r['cpu']:6.1f} s  wall {r['wall']:6.1f} s  "
                     f"{r['per_cpu']:8,.0f} real tok/cpu-s  {r['speedup_cpu']:.2f}x (wall {r['speedup_wall']:.2f}x)"
                     f"  loss {r['loss']:.4f}")
    lines += [f"{text}: {'PASS' if ok else 'MISS'} ({value})" for text, ok, value in targets]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-task", type=int, default=16, help="records of each task in the mix")
    parser.add_argument("--max-length", type=int, default=2048, help="tokens per packed row")
    parser.add_argument("--rows-per-batch", type=int, default=1, help="packed rows per optimizer step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stream-repeats", type=int, default=10,
                        help="copies of the records' lengths in the stream whose packing fill is reported")
    parser.add_argument("--steps", type=int, default=0, help="optimizer steps to time (0: every packed step)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: CPU time then measures compute, even on a shared machine)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    print(report(run(args), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
