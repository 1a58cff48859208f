"""Packed rows compute what their records compute one by one, videos included."""

from __future__ import annotations

import pytest
import torch

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.packing import block_diagonal_causal_mask, packed_position_ids, packed_sequence_ids
from kangaroo.model.tokenizer import build_byte_tokenizer


def test_position_and_sequence_ids():
    assert packed_position_ids([3, 1, 2]).tolist() == [[0, 1, 2, 0, 0, 1]]
    assert packed_sequence_ids([3, 1, 2]).tolist() == [[0, 0, 0, 1, 2, 2]]
    with pytest.raises(ValueError):
        packed_position_ids([2, 0])


def test_block_diagonal_mask():
    mask = block_diagonal_causal_mask([2, 3])[0, 0].int().tolist()
    assert mask == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 1, 1, 1],
    ]


def test_packed_forward_equals_records_one_by_one():
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=0).eval()
    layout = model.config.layout
    g = torch.Generator().manual_seed(0)
    records = []
    for text, frames in (("first video, then text", 2), ("no video here at all", 0), ("another one", 3)):
        prompt = (layout.expand(frames) if frames else "") + text
        ids = torch.tensor([tokenizer(prompt)["input_ids"]])
        video = None
        if frames:
            video = dict(pixel_values_videos=torch.randn(frames, 3, 112, 112, generator=g),
                         video_timestamps=torch.rand(frames, generator=g).cumsum(0).double(),
                         video_frame_counts=torch.tensor([frames]))
        records.append((ids, video))

    with torch.no_grad():
        alone = [model(input_ids=ids, **(video or {})).logits[0] for ids, video in records]
        videos = [v for _, v in records if v]
        packed = model(
            input_ids=torch.cat([ids for ids, _ in records], dim=1),
            position_ids=packed_position_ids([ids.shape[1] for ids, _ in records]),
            pixel_values_videos=torch.cat([v["pixel_values_videos"] for v in videos]),
            video_timestamps=torch.cat([v["video_timestamps"] for v in videos]),
            video_frame_counts=torch.cat([v["video_frame_counts"] for v in videos]),
            use_cache=False,  # as in training: packing is read from position ids when no cache is kept
        ).logits[0]
    torch.testing.assert_close(packed, torch.cat(alone), atol=2e-5, rtol=1e-4)


def test_sdpa_packed_attention_matches_the_mask_path_and_falls_back():
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    lengths = [7, 12, 5]
    ids = torch.randint(0, 256, (1, sum(lengths)), generator=g)
    packed = dict(input_ids=ids, position_ids=packed_position_ids(lengths), use_cache=False)
    padded = dict(input_ids=torch.randint(0, 256, (2, 9), generator=g),
                  attention_mask=torch.tensor([[1] * 9, [1] * 6 + [0] * 3]))
    with torch.no_grad():
        reference = model(**packed).logits, model(**padded).logits
        model.language_model.config._attn_implementation = "sdpa_packed"
        try:
            per_record = model(**packed).logits, model(**padded).logits
            generated = model.generate(input_ids=ids[:, :6], max_new_tokens=3, do_sample=False)
        finally:
            model.language_model.config._attn_implementation = "sdpa"
        expected_generation = model.generate(input_ids=ids[:, :6], max_new_tokens=3, do_sample=False)
    torch.testing.assert_close(per_record[0], reference[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(per_record[1][1, :6], reference[1][1, :6], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(per_record[1][0], reference[1][0], atol=1e-5, rtol=1e-4)
    assert torch.equal(generated, expected_generation)
