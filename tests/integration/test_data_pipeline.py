"""The data layer end to end: synthetic records validate, train a tokenizer, and feed the model."""

from __future__ import annotations

import pytest
import torch

from kangaroo.data import read_records, validate_records
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer_training import texts_from_records, train_bpe_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.video import FrameSampling


@pytest.mark.integration
def test_synthetic_records_validate_train_a_tokenizer_and_reach_the_model(tmp_path):
    jsonl = generate_dataset("multi_round", 8, seed=3, out_dir=tmp_path,
                             world=WorldOptions(size=(64, 48), duration=4.0, language="mixed"))
    report = validate_records(jsonl)
    assert report.ok and not report.errors, [p.message for p in report.problems]

    tokenizer = train_bpe_tokenizer(texts_from_records([jsonl]), vocab_size=600)
    model = kangaroo_tiny(tokenizer, seed=0).eval()
    processor = KangarooProcessor(tokenizer, model.config.layout, sampling=FrameSampling(num_frames=4))
    record = next(iter(read_records(jsonl)))
    video = tmp_path / record.video
    inputs = processor.build_inputs(record.messages, [video], add_generation_prompt=False)
    text = processor.decode(inputs["input_ids"][0])
    for message in record.messages:  # the conversation survives the trained tokenizer and template
        content = message["content"]
        parts = [content] if isinstance(content, str) else [p["text"] for p in content if p["type"] == "text"]
        assert all(part.strip() in text for part in parts)
    with torch.no_grad():
        loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)
    first_question = record.messages[0]["content"][-1]["text"]
    answer, history = model.chat(video, first_question, tokenizer=processor, max_new_tokens=4)
    assert isinstance(answer, str) and history.frame_count == 4
