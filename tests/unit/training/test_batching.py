"""Packing and padding: same losses and gradients as records one by one, no cross-record attention,
truncation that never splits a video, little padding."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kangaroo.data.records import Record, read_records
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.layout import VIDEO_PAD
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.training.batching import (
    DROP_NO_LABEL_LEFT,
    DROP_SPLITS_VIDEO,
    Batch,
    pack_examples,
    pack_examples_with_stats,
    pad_examples,
    truncate_example,
)
from kangaroo.training.examples import IGNORE_INDEX, Example, encode_record
from kangaroo.video import FrameSampling

PAD_ID = build_byte_tokenizer().pad_token_id


@pytest.fixture(scope="module")
def tokenizer():
    return build_byte_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return kangaroo_tiny(tokenizer, seed=0)  # fp32 LLM


@pytest.fixture(scope="module")
def processor(tokenizer, model):
    return KangarooProcessor(tokenizer, model.config.layout, sampling=FrameSampling(num_frames=4))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    records = [r for task in ("caption_short", "multi_round", "image_caption")
               for r in read_records(generate_dataset(task, 1, 0, root, world=WorldOptions(size=(64, 48), duration=4.0)))]
    return root, {r.meta["task"]: r for r in records}


@pytest.fixture(scope="module")
def examples(data, processor):
    """A video record, a text-only record, a multi-turn video record and an image record."""
    root, records = data
    text = Record(id="text-only", messages=[{"role": "user", "content": "Name a shape with three sides."},
                                            {"role": "assistant", "content": "A triangle."}])
    rng = np.random.default_rng(0)
    chosen = (records["caption_short"], text, records["multi_round"], records["image_caption"])
    return [encode_record(r, processor, root, rng=rng) for r in chosen]


def token_loss_sum(model, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed token cross-entropy over shifted labels, the model's own labels= loss)."""
    out = model(**inputs, use_cache=False)
    logits, labels = out.logits[:, :-1], inputs["labels"][:, 1:]  # (B, L-1, V), (B, L-1)
    total = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX,
                            reduction="sum")
    return total, out.loss


def alone_inputs(example: Example) -> dict:
    """One record's inputs, built without the batching code."""
    inputs = {"input_ids": example.input_ids[None], "labels": example.labels[None]}
    if example.frame_counts:
        inputs |= {"pixel_values_videos": example.pixel_values, "video_timestamps": example.timestamps,
                   "video_frame_counts": torch.tensor(example.frame_counts)}
    return inputs


def gradients(model) -> dict[str, torch.Tensor | None]:
    return {n: (p.grad.clone() if p.grad is not None else None) for n, p in model.named_parameters()}


def test_packed_rows_give_the_losses_and_gradients_of_records_one_by_one(model, examples):
    three = examples[:3]  # video, text only, multi-turn video
    model.zero_grad()
    total = torch.zeros(())
    for example in three:
        loss, _ = token_loss_sum(model, alone_inputs(example))
        loss.backward()
        total = total + loss.detach()
    expected_grads = gradients(model)

    lengths = [len(e) for e in three]
    batches, stats = pack_examples_with_stats(three, sum(lengths) + 5, PAD_ID)
    assert len(batches) == 1 and batches[0].input_ids.shape == (1, sum(lengths) + 5)
    assert stats.packed == 3 and not stats.dropped and not stats.truncated
    batch = batches[0]
    model.zero_grad()
    packed, model_loss = token_loss_sum(model, batch.model_inputs())
    packed.backward()
    torch.testing.assert_close(packed, total, rtol=1e-6, atol=1e-5)
    labelled = sum(e.num_label_tokens for e in three)
    assert batch.num_label_tokens == labelled and batch.num_real_tokens == sum(lengths)
    torch.testing.assert_close(model_loss, packed / labelled, rtol=1e-6, atol=1e-7)
    grads = gradients(model)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert (grad is None) == (expected_grads[name] is None), name
        if grad is not None:
            torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6, msg=name)

    # two rows per batch: transformers reads the restarts row by row
    two_rows = pack_examples(three, max(lengths[0] + lengths[1], lengths[2]) + 3, PAD_ID, rows_per_batch=2)
    assert len(two_rows) == 1 and two_rows[0].input_ids.shape[0] == 2
    with torch.no_grad():
        torch.testing.assert_close(token_loss_sum(model, two_rows[0].model_inputs())[0], total,
                                   rtol=1e-6, atol=1e-5)


@torch.no_grad()
def test_no_token_attends_to_another_record(model, examples, processor):
    a, b = examples[0], examples[2]  # both with videos
    other = Example(**{**b.__dict__})
    text = (b.labels != IGNORE_INDEX) | (b.input_ids < 256)  # bytes and answers, not special tokens
    other.input_ids = torch.where(text, (b.input_ids + 1) % 256, b.input_ids)
    other.labels = torch.where(b.labels != IGNORE_INDEX, other.input_ids, b.labels)
    other.pixel_values = torch.randn_like(b.pixel_values)
    other.timestamps = b.timestamps + 1.5
    length = len(a) + len(b) + 9

    def logits_of_a(pair, max_length=length):
        batch = pack_examples(pair, max_length, PAD_ID)[0]
        return model(**batch.model_inputs(), use_cache=False).logits[0, : len(a)]

    reference = logits_of_a([a, b])
    changed = logits_of_a([a, other])
    torch.testing.assert_close(changed, reference, rtol=0, atol=1e-6)
    assert not torch.equal(pack_examples([a, other], length, PAD_ID)[0].input_ids,
                           pack_examples([a, b], length, PAD_ID)[0].input_ids)
    # more padding, or none at all, changes nothing for a real token either
    torch.testing.assert_close(logits_of_a([a, b], length + 200), reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(logits_of_a([a, b], len(a) + len(b)), reference, rtol=0, atol=1e-5)
    alone = model(**alone_inputs(a)).logits[0]
    torch.testing.assert_close(reference, alone, rtol=1e-4, atol=2e-5)


def test_packed_batch_layout(examples):
    lengths = [len(e) for e in examples]
    max_length = max(lengths) + 10
    batches, stats = pack_examples_with_stats(examples, max_length, PAD_ID, rows_per_batch=2)
    assert stats.rows == sum(b.input_ids.shape[0] for b in batches)
    assert stats.real_tokens == sum(lengths) and stats.total_tokens == stats.rows * max_length
    order = [rid for b in batches for rid in b.record_ids]
    assert sorted(order) == sorted(e.record_id for e in examples)
    by_id = {e.record_id: e for e in examples}
    for batch in batches:
        assert isinstance(batch, Batch) and batch.attention_mask is None
        assert set(batch.model_inputs()) == {"input_ids", "labels", "position_ids", "pixel_values_videos",
                                             "video_timestamps", "video_frame_counts"}
        # videos follow the records' order in the batch
        counts = [c for rid in batch.record_ids for c in by_id[rid].frame_counts]
        assert batch.video_frame_counts.tolist() == counts
        frames = torch.cat([by_id[rid].pixel_values for rid in batch.record_ids if by_id[rid].frame_counts])
        assert torch.equal(batch.pixel_values_videos, frames)
        for row_ids, row_pos, row_labels in zip(batch.input_ids, batch.position_ids, batch.labels, strict=True):
            starts = torch.nonzero(row_pos == 0).flatten().tolist()  # records, then one padding block
            end = next(i for i in range(max_length) if row_ids[i:].eq(PAD_ID).all())
            assert (row_labels[end:] == IGNORE_INDEX).all() and (row_labels[starts] == IGNORE_INDEX).all()
            assert (row_ids[:end] != PAD_ID).all()  # padding only at the end
    first_fit = pack_examples(examples, sum(lengths[:2]), PAD_ID)  # examples 0 and 1 exactly fill row 0
    assert first_fit[0].record_ids == [examples[0].record_id, examples[1].record_id]
    assert first_fit[0].position_ids[0, -1] == lengths[1] - 1  # no padding block


def two_turn_example(data, processor) -> Example:
    """Q1 -> A1 (text only), then a video with Q2 -> A2: cuts before, inside and after the video."""
    root, records = data
    record = Record(id="two-turns", video=records["caption_short"].video, messages=[
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]},
        {"role": "assistant", "content": "Shapes move."},
    ])
    return encode_record(record, processor, root, rng=np.random.default_rng(0))


def test_truncation_never_splits_a_video(data, processor, model, caplog):
    example = two_turn_example(data, processor)
    (start, end), = example.video_spans
    first_label = int(torch.nonzero(example.labels != IGNORE_INDEX)[0])
    video_pad = processor.video_token_ids[VIDEO_PAD]
    seen = {"kept video": 0, "dropped video": 0, DROP_SPLITS_VIDEO: 0, DROP_NO_LABEL_LEFT: 0}
    for cut in range(2, len(example)):
        fitted, reason = truncate_example(example, cut)
        if start < cut < end:
            assert fitted is None and reason == DROP_SPLITS_VIDEO
        elif cut <= first_label:
            assert fitted is None and reason == DROP_NO_LABEL_LEFT
        else:
            assert reason is None and len(fitted) == cut and fitted.num_label_tokens > 0
            assert torch.equal(fitted.input_ids, example.input_ids[:cut])
            placeholders = int((fitted.input_ids == video_pad).sum())
            assert placeholders == sum(processor.layout.visual_tokens(t) for t in fitted.frame_counts)
            fitted.check()
            seen["kept video" if fitted.frame_counts else "dropped video"] += 1
            continue
        seen[reason] += 1
    assert all(seen.values()), seen
    assert truncate_example(example, len(example)) == (example, None)

    # packed, the truncated examples run through the model (placeholders and frames agree)
    with caplog.at_level(logging.WARNING, logger="kangaroo.training.batching"):
        for cut in (start, end + 3):
            batch = pack_examples([example], cut, PAD_ID)[0]
            assert batch.input_ids.shape == (1, cut)
            with torch.no_grad():
                assert torch.isfinite(model(**batch.model_inputs(), use_cache=False).loss)
        assert pack_examples([example], start + 1, PAD_ID) == []
    assert "1 truncated, 0 dropped" in caplog.text and "0 truncated, 1 dropped" in caplog.text
    assert DROP_SPLITS_VIDEO in caplog.text


def fake_example(i: int, length: int) -> Example:
    ids = torch.randint(0, 256, (length,))
    labels = torch.full((length,), IGNORE_INDEX)
    labels[-length // 4 :] = ids[-length // 4 :]
    return Example(ids, labels, None, None, [], f"r{i}")


def test_packing_leaves_little_padding_on_a_realistic_mix():
    rng = np.random.default_rng(0)
    # a mix of short MCQs, captions and long multi-video records: 64 to 1024 tokens
    lengths = np.concatenate([rng.integers(64, 200, 120), rng.integers(200, 600, 120), rng.integers(600, 1025, 60)])
    examples = [fake_example(i, int(n)) for i, n in enumerate(rng.permutation(lengths))]
    batches, stats = pack_examples_with_stats(examples, 4096, PAD_ID, rows_per_batch=4)
    assert stats.packed == len(examples) and stats.fill >= 0.95
    assert sum(b.num_real_tokens for b in batches) == int(lengths.sum())
    padded = [pad_examples(examples[i : i + 8], PAD_ID) for i in range(0, len(examples), 8)]
    padded_fill = sum(b.num_real_tokens for b in padded) / sum(b.num_tokens for b in padded)
    assert padded_fill < 0.75 < stats.fill


def test_pad_examples_matches_records_one_by_one(model, examples):
    batch = pad_examples(examples, PAD_ID)
    lengths = [len(e) for e in examples]
    assert batch.input_ids.shape == (len(examples), max(lengths)) and batch.position_ids is None
    assert batch.attention_mask.sum(1).tolist() == lengths
    assert batch.num_real_tokens == sum(lengths)
    assert batch.num_label_tokens == sum(e.num_label_tokens for e in examples)
    assert set(batch.model_inputs()) == {"input_ids", "labels", "attention_mask", "pixel_values_videos",
                                         "video_timestamps", "video_frame_counts"}
    with torch.no_grad():
        out = model(**batch.model_inputs(), use_cache=False)
        total, _ = token_loss_sum(model, batch.model_inputs())
        expected = torch.zeros(())
        for b, example in enumerate(examples):
            inputs = alone_inputs(example)
            expected += token_loss_sum(model, inputs)[0]
            torch.testing.assert_close(out.logits[b, : len(example)], model(**inputs).logits[0],
                                       rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(total, expected, rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(out.loss, total / batch.num_label_tokens)
