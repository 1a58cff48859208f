"""Prefill memory against context length: kangaroo's SDPA path vs eager attention.

Each measurement runs in a fresh subprocess: a tiny Kangaroo LLM (the bundled model's shape) prefills
N tokens, and the peak RSS growth during the forward is reported. Eager attention (the named
baseline, what a plain ``softmax(QK^T)V`` implementation does) materialises an N x N score matrix
per head; SDPA with the causal flag does not, so its memory grows linearly.

    .venv/bin/python benchmarks/prefill_memory.py [--contexts 2048,5632,11264,22528] [--markdown]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import resource, sys, torch
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
n, attention = int(sys.argv[1]), sys.argv[2]
model = kangaroo_tiny(build_byte_tokenizer()).eval()
model.language_model.config._attn_implementation = attention
ids = torch.randint(0, 256, (1, n))
with torch.no_grad():
    model(input_ids=ids[:, :16], logits_to_keep=1)  # warm-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.no_grad():
    model(input_ids=ids, logits_to_keep=1)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def peak_growth(tokens: int, attention: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tokens), attention],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", default="2048,5632,11264,22528", help="comma-separated token counts")
    parser.add_argument("--eager-limit", type=int, default=11264,
                        help="largest context measured with eager attention (its N x N scores grow fast)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    contexts = [int(c) for c in args.contexts.split(",")]
    rows = []
    for n in contexts:
        sdpa = peak_growth(n, "sdpa")
        eager = peak_growth(n, "eager") if n <= args.eager_limit else None
        rows.append((n, sdpa, eager))
        print(f"{n:>6} tokens  sdpa {sdpa / 2**20:8.1f} MiB  eager "
              f"{'skipped' if eager is None else f'{eager / 2**20:8.1f} MiB'}", file=sys.stderr)
    if args.markdown:
        print("| context (tokens) | kangaroo SDPA peak growth (MiB) | eager attention (MiB) | SDPA / eager |")
        print("|---|---|---|---|")
        for n, sdpa, eager in rows:
            ratio = f"{sdpa / eager:.2f}x" if eager else "-"
            eager_text = f"{eager / 2**20:.1f}" if eager else f"not run (scores alone: {n * n * 4 * 4 / 2**30:.1f} GiB)"
            print(f"| {n} | {sdpa / 2**20:.1f} | {eager_text} | {ratio} |")


if __name__ == "__main__":
    main()
