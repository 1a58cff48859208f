"""A 22K-token prefill never materialises an N x N mask or score matrix: memory grows linearly."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = r"""
import resource, sys, torch
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
n = int(sys.argv[1])
tok = build_byte_tokenizer()
model = kangaroo_tiny(tok).eval()
video = model.config.layout.expand(16)
prefix = tok(video)["input_ids"]
ids = torch.tensor([prefix + torch.randint(0, 256, (n - len(prefix),)).tolist()])
frames = dict(pixel_values_videos=torch.randn(16, 3, 112, 112), video_timestamps=torch.arange(16.0),
              video_frame_counts=torch.tensor([16]))
with torch.no_grad():  # warm up kernels and allocator on a short prompt first
    model(input_ids=ids[:, :len(prefix) + 8], **frames, logits_to_keep=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.no_grad():
    out = model(input_ids=ids, **frames, logits_to_keep=1, use_cache=True)
assert out.past_key_values.get_seq_length() == n
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def prefill_peak_bytes(tokens: int) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tokens)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.integration
def test_22k_prefill_memory_is_linear_in_context():
    half, full = 11264, 22528
    grow_half, grow_full = prefill_peak_bytes(half), prefill_peak_bytes(full)
    scores = full * full * 4  # one float32 N x N score matrix (per head), what eager attention builds
    assert grow_full < scores / 4, f"{grow_full / 2**20:.0f} MiB for {full} tokens: an N x N tensor was allocated"
    # doubling the context doubles the memory (quadratic attention would quadruple it)
    assert grow_full < 2.6 * grow_half, (grow_half, grow_full)
