"""A 22K-token prefill never materialises an N x N mask or score matrix: memory grows linearly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer

CONTEXT = 22528  # 160 frames of the paper's model: 20480 visual tokens plus text

CHILD = r"""
import resource, sys, torch
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
n = int(sys.argv[1])
model = kangaroo_tiny(build_byte_tokenizer()).eval()
ids = torch.randint(0, 256, (1, n))
with torch.no_grad():
    model(input_ids=ids[:, :64], logits_to_keep=1)  # warm up kernels and the allocator
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.no_grad():
    model(input_ids=ids, logits_to_keep=1)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any operation produces (and which operation)."""

    def __init__(self) -> None:
        super().__init__()
        self.numel, self.op = 0, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.numel() > self.numel:
                self.numel, self.op = tensor.numel(), func
        return out


@pytest.mark.slow
@pytest.mark.integration
def test_22k_prefill_creates_no_quadratic_tensor():
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer).eval()
    layout = model.config.layout
    prefix = tokenizer(layout.expand(16))["input_ids"]
    ids = torch.tensor([prefix + torch.randint(0, 256, (CONTEXT - len(prefix),)).tolist()])
    frames = dict(pixel_values_videos=torch.randn(16, 3, 112, 112), video_timestamps=torch.arange(16.0),
                  video_frame_counts=torch.tensor([16]))
    largest = LargestTensor()
    with torch.no_grad(), largest:
        out = model(input_ids=ids, **frames, logits_to_keep=1, use_cache=True)
    assert out.cache.get_seq_length() == CONTEXT
    per_token = model.config.text_config.intermediate_size * 4  # generous: a few MLP-wide rows per token
    assert largest.numel <= per_token * CONTEXT, f"{largest.op} made a {largest.numel}-element tensor"


@pytest.mark.slow
@pytest.mark.integration
def test_22k_prefill_peak_memory_is_far_below_one_score_matrix():
    out = subprocess.run([sys.executable, "-c", CHILD, str(CONTEXT)], capture_output=True, text=True, check=True)
    grown = int(out.stdout.strip().splitlines()[-1])
    scores = CONTEXT * CONTEXT * 4  # one float32 N x N matrix, what eager attention builds per head
    assert grown < scores / 4, f"{grown / 2**20:.0f} MiB for {CONTEXT} tokens"
