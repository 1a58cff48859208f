"""`kangaroo convert --from video-ccam` of a tiny release in Video-CCAM's folder layout
(tests/released_videoccam.py): the prompt ids, logits and an 8-token greedy answer of the converted
model equal Video-CCAM's own loading and forward, with the LoRA adapters merged or kept; an
unmapped key fails with the list; `kangaroo inspect` reports the projector's mapping. A v1.2
single-folder release (merged weights, names not public) is refused with its keys listed."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from kangaroo.cli import app
from kangaroo.model.convert import (
    ConversionError,
    UnsupportedCheckpointError,
    convert_checkpoint,
    video_ccam_v12_config,
)
from kangaroo.model.pretrained import load_pretrained
from released_videoccam import IMAGE_TOKEN_INDEX, ReleasedVideoCCAM

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def phi3(tmp_path_factory):
    """``(release, folders)``: the Phi-3 release with LoRA on the LLM and on SigLIP."""
    release = ReleasedVideoCCAM("phi3", adapters=True)
    folders = release.save(tmp_path_factory.mktemp("videoccam"))
    release.load(folders)
    return release, folders


def check_parity(release: ReleasedVideoCCAM, converted) -> None:
    model, processor = load_pretrained(converted)
    frames = 3
    pixels = torch.randn(frames, 3, 30, 30, generator=torch.Generator().manual_seed(2))
    text = "<video>\nWhat happens?"
    source_ids = release.prompt_ids(text)
    inputs = processor.build_inputs([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "\nWhat happens?"}]}],
                                    [(pixels, torch.arange(frames, dtype=torch.float32))])
    queries = model.config.ccam_num_queries
    at = source_ids.index(IMAGE_TOKEN_INDEX)
    expected = [*source_ids[:at], *[model.config.video_pad_token_id] * queries, *source_ids[at + 1:]]
    assert inputs["input_ids"][0].tolist() == expected  # same template, BOS and bare visual tokens

    features = release.features(pixels)
    reference = release.logits(source_ids, features)  # (L, V_source)
    video = {k: inputs[k] for k in ("pixel_values_videos", "video_timestamps", "video_frame_counts")}
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"], **video).logits[0]
    vocab = min(reference.shape[-1], logits.shape[-1])  # the release's 2 extra rows hold no token (docs)
    torch.testing.assert_close(logits[:, :vocab], reference[:, :vocab], atol=1e-5, rtol=1e-5)

    greedy = list(source_ids)
    for _ in range(8):
        greedy.append(int(release.logits(greedy, features)[-1, :vocab].argmax()))
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert out[0, inputs["input_ids"].shape[1]:].tolist() == greedy[len(source_ids):]


@pytest.mark.parametrize("merge", [True, False], ids=["merged", "kept"])
def test_phi3_release_with_lora_answers_as_the_source(phi3, tmp_path, merge):
    release, folders = phi3
    out = convert_checkpoint(folders["src"], tmp_path / "out", source="video-ccam", llm=folders["llm"],
                             vision=folders["vision"], merge_lora=merge)
    record = json.loads((out / "conversion.json").read_text())
    assert bool(record["adapters"]) is not merge and (out / "llm_adapter").is_dir() is not merge
    if merge:
        assert " @ " in record["key_map"]["language_model.model.layers.0.self_attn.qkv_proj.weight"]
    assert record["assumed"]["chat_template"].startswith("phi3")
    config = json.loads((out / "config.json").read_text())
    assert (config["use_temporal_embedding"], config["video_markers"], config["patchify_kernel"]) == (False, False, [1, 1, 1])
    check_parity(release, out)


def test_qwen2_release_uses_the_tokenizers_template(tmp_path):
    release = ReleasedVideoCCAM("qwen2", adapters=False, seed=3)
    folders = release.save(tmp_path)
    release.load(folders)
    out = convert_checkpoint(folders["src"], tmp_path / "out", source="video-ccam", llm=folders["llm"],
                             vision=folders["vision"])
    record = json.loads((out / "conversion.json").read_text())
    assert record["assumed"]["chat_template"].startswith("tokenizer")
    assert "llm/model.embed_tokens.weight + 7 zero rows" in record["key_map"].values()  # <time> </time> + 5 video tokens
    check_parity(release, out)


def test_unmapped_keys_fail_with_the_list_and_inspect_shows_them(phi3, tmp_path):
    _, folders = phi3
    state = torch.load(folders["src"] / "projector" / "pytorch_model.bin", weights_only=True)
    state["temporal_pos_embed"] = torch.zeros(4, 24)
    state["self_attn.q_norm.weight"] = torch.ones(24)
    variant = tmp_path / "variant"
    (variant / "projector").mkdir(parents=True)
    torch.save(state, variant / "projector" / "pytorch_model.bin")
    (variant / "projector" / "config.json").write_bytes((folders["src"] / "projector" / "config.json").read_bytes())
    with pytest.raises(ConversionError) as error:
        convert_checkpoint(variant, tmp_path / "out", source="video-ccam", llm=folders["llm"], vision=folders["vision"])
    assert "2 source keys not mapped: projector/temporal_pos_embed, projector/self_attn.q_norm.weight" in str(error.value)
    assert not (tmp_path / "out").exists()

    result = CliRunner().invoke(app, ["inspect", str(variant), "--json"])
    assert result.exit_code == 0, result.output
    recognised = json.loads(result.output)[0]["recognised"]
    assert recognised["kind"] == "video-ccam"
    assert recognised["projector_unmapped"] == ["temporal_pos_embed", "self_attn.q_norm.weight"]
    assert recognised["projector_maps"]["query"] == "projector.queries"


def test_convert_from_the_command_line(phi3, tmp_path):
    _, folders = phi3
    runner = CliRunner()
    missing = runner.invoke(app, ["convert", str(folders["src"]), str(tmp_path / "x"), "--from", "video-ccam"])
    assert missing.exit_code == 2 and "pass --llm" in missing.output
    result = runner.invoke(app, ["convert", str(folders["src"]), str(tmp_path / "out"), "--from", "video-ccam",
                                 "--llm", str(folders["llm"]), "--vision", str(folders["vision"]), "--merge-lora"])
    assert result.exit_code == 0, result.output
    assert "assumed projector_keys" in result.output and not (tmp_path / "out" / "llm_adapter").exists()


def test_single_folder_v12_release_is_refused_listing_its_keys(tmp_path):
    release = ReleasedVideoCCAM("qwen2", adapters=False, seed=4)
    src = release.save_single_folder(tmp_path / "Video-CCAM-7B-v1.2")
    layer_keys = [k for k in release.base.state_dict() if k.startswith("model.layers.")]
    expected = f"llm.model.layers.*: {len(layer_keys)} tensors, {release.llm_config.num_hidden_layers} layers"
    for source in ("video-ccam", "kangaroo"):  # whatever --from says, the folder is named for what it is
        with pytest.raises(UnsupportedCheckpointError) as error:
            convert_checkpoint(src, tmp_path / "out", source=source)
        message = str(error.value)
        assert "Video-CCAM v1.2" in message and "does not support yet" in message and "LLM qwen2" in message
        assert expected in message and "\n  projector: 1 tensor\n" in message  # the learned queries
        assert "vision_encoder.vision_model.encoder.layers.*" in message and "kangaroo inspect" in message
    assert not (tmp_path / "out").exists()

    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "out"), "--from", "video-ccam"])
    assert result.exit_code == 2 and "does not support yet" in result.output and expected in result.output
    result = runner.invoke(app, ["inspect", str(src), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert entry["recognised"]["kind"] == "video-ccam v1.2" and entry["recognised"]["convertible"] is False
    assert "llm.model.layers.*" in [m["module"] for m in entry["modules"]]
    result = runner.invoke(app, ["inspect", str(src)])
    assert "recognised: video-ccam v1.2, but it does not convert" in result.output

    release.llm_config.save_pretrained(tmp_path / "qwen2")  # a plain Qwen2 LLM folder is not taken for one
    assert video_ccam_v12_config(tmp_path / "qwen2") is None and video_ccam_v12_config(src) is not None
