"""`load_pretrained`: the one way from a saved directory to ``(model, processor)``, and its errors."""

from __future__ import annotations

import json

import pytest
import torch

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.pretrained import ModelLoadError, load_config, load_pretrained, load_processor
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.video import FrameSampling


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=4)
    model.save_pretrained(directory)
    KangarooProcessor(tokenizer, model.config.layout, sampling=FrameSampling(num_frames=5)).save_pretrained(directory)
    return directory, model


def test_loads_the_saved_weights_and_processor(saved):
    directory, original = saved
    model, processor = load_pretrained(directory)
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert processor.sampling == FrameSampling(num_frames=5) and processor.layout == model.config.layout
    for name, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    half, _ = load_pretrained(directory, dtype=torch.bfloat16)
    assert next(half.parameters()).dtype == torch.bfloat16
    assert load_config(directory).to_diff_dict() == original.config.to_diff_dict()
    assert load_processor(directory).to_dict() == processor.to_dict()


def test_errors_name_what_is_wrong(saved, tmp_path):
    directory, _ = saved
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_pretrained(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError, match="model_type is 'llama', not 'kangaroo'"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="save the processor beside the model"):
        load_pretrained(tmp_path)
    KangarooProcessor(build_byte_tokenizer(), load_config(directory).layout).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="cannot load the model"):  # no weights
        load_pretrained(tmp_path)


def test_a_processor_with_other_video_token_ids_is_refused(saved, tmp_path):
    directory, model = saved
    model.save_pretrained(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    config["video_pad_token_id"] = 261  # as if the model had been built for another tokenizer
    (tmp_path / "config.json").write_text(json.dumps(config))
    KangarooProcessor(build_byte_tokenizer(), model.config.layout).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match=r"<\|video_pad\|>: config 261, tokenizer 266"):
        load_pretrained(tmp_path)
