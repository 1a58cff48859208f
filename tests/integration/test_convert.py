"""`kangaroo convert` of a tiny model in the released Kangaroo structure (tests/released_kangaroo.py):
same logits and greedy answers as the source's reference forward, every key accounted for, clear
errors, and the original user code running unchanged on the result."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kangaroo.cli import app
from kangaroo.cli.checkpoint_commands import RopeScaling, Source
from kangaroo.inference.chat import chat_processor
from kangaroo.model.convert import ROPE_SCALINGS, SOURCES, ConversionError, convert_checkpoint, plan_kangaroo
from kangaroo.model.pretrained import load_pretrained
from kangaroo.model.weight_files import WeightFilesError, open_weights
from released_kangaroo import ReleasedKangaroo, llama3_like_tokenizer

from video_fixtures import write_indexed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """``(source model, source folder, converted folder)``."""
    root = tmp_path_factory.mktemp("released")
    tokenizer = llama3_like_tokenizer()
    source = ReleasedKangaroo(len(tokenizer)).eval()
    source.save(root / "src", tokenizer)
    convert_checkpoint(root / "src", root / "converted")
    return source, root / "src", root / "converted"


def test_logits_and_greedy_answers_equal_the_source_forward(released):
    source, _, converted = released
    model, processor = load_pretrained(converted)
    frames = 3  # odd: the patchify's last group repeats the last frame
    pixels = torch.randn(frames, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    times = torch.tensor([0.0, 1.25, 2.5])
    text = processor.tokenizer
    ids = text("Describe")["input_ids"] + processor.video_ids(frames) + text(" it.", add_special_tokens=False)["input_ids"]
    pad = model.config.video_pad_token_id
    features = source.video_features(pixels, times)
    reference = source.logits(ids, features, pad)  # (L, V_source)
    video = dict(pixel_values_videos=pixels, video_timestamps=times, video_frame_counts=[frames])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), **video).logits[0]
    vocab = reference.shape[-1]
    torch.testing.assert_close(logits[:, :vocab], reference, atol=1e-5, rtol=1e-5)
    assert chat_processor(model, text).aspect == "crop"  # model.chat(tokenizer=...) keeps EVA-CLIP's preprocessing

    greedy = list(ids)
    for _ in range(8):
        greedy.append(int(source.logits(greedy, features, pad)[-1].argmax()))
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([ids]), **video, max_new_tokens=8, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    assert out[0].tolist() == greedy


def test_the_record_names_every_source_key_and_the_sources_hash(released):
    _, src, converted = released
    record = json.loads((converted / "conversion.json").read_text())
    source_keys = set(open_weights(src).keys())
    used = {v.split(" + ")[0] for v in record["key_map"].values()} | set(record["dropped"])
    assert used == source_keys
    assert record["source_files"] == [{"name": "pytorch_model.bin", "bytes": (src / "pytorch_model.bin").stat().st_size,
                                       "sha256": hashlib.sha256((src / "pytorch_model.bin").read_bytes()).hexdigest()}]
    assert "vision_tower.vision_tower.rope.freqs_cos" in record["dropped"]  # checked against the regenerated table
    index = json.loads((converted / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(index) == set(record["key_map"])


def test_unmapped_keys_fail_listing_every_one(released, tmp_path):
    _, src, _ = released
    state = torch.load(src / "pytorch_model.bin", weights_only=True)
    state["vision_tower.vision_tower.blocks.0.attn.relative_position_bias_table"] = torch.zeros(3, 4)
    state["time_embed.weight"] = torch.zeros(2, 2)
    del state["mm_projector.2.bias"]
    variant = tmp_path / "variant"
    variant.mkdir()
    torch.save(state, variant / "pytorch_model.bin")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (variant / name).write_bytes((src / name).read_bytes())
    with pytest.raises(ConversionError) as error:
        convert_checkpoint(variant, tmp_path / "out")
    message = str(error.value)
    assert "2 source keys not mapped" in message and "relative_position_bias_table" in message
    assert "time_embed.weight" in message and "projector.layers.2.bias" in message
    assert not (tmp_path / "out").exists()


def test_a_truncated_bin_fails_clearly(released, tmp_path):
    _, src, _ = released
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (src / "pytorch_model.bin").read_bytes()
    (broken / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFilesError, match=r"pytorch_model.bin: not a readable PyTorch checkpoint \(truncated"):
        convert_checkpoint(broken, tmp_path / "out")


def test_rope_scaling_is_off_by_default_and_an_option(released):
    _, src, _ = released
    weights = open_weights(src)
    text = plan_kangaroo(src, weights).config.text_config
    assert text.max_position_embeddings == 8192 and text.rope_parameters["rope_type"] == "default"
    text = plan_kangaroo(src, weights, rope_scaling="yarn", rope_factor=4).config.text_config
    assert text.max_position_embeddings == 32768
    assert text.rope_parameters == {"rope_type": "yarn", "factor": 4.0, "rope_theta": 500000.0,
                                    "original_max_position_embeddings": 8192}
    with pytest.raises(ValueError, match="factor above 1"):
        plan_kangaroo(src, weights, rope_scaling="linear", rope_factor=0.5)


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_inspect_and_convert_from_the_command_line(released, tmp_path):
    _, src, _ = released
    described = json.loads(invoke("inspect", src, "--json").output)
    assert len(described) == 1 and described[0]["tensors"] == len(open_weights(src))
    recognised = described[0]["recognised"]
    assert recognised["convertible"] and recognised["maps"]["patchify.conv.weight"] == "video_patchify.weight"
    assert {"model.layers.*", "mm_projector.*", "video_patchify"} <= {m["module"] for m in described[0]["modules"]}

    result = invoke("convert", src, tmp_path / "out", "--from", "kangaroo", "--rope-scaling", "linear",
                    "--rope-factor", "2")
    assert result.exit_code == 0, result.output
    assert "assumed vision_feature_layer" in result.output
    assert json.loads((tmp_path / "out" / "config.json").read_text())["text_config"]["max_position_embeddings"] == 16384
    text = invoke("inspect", tmp_path / "out", "--keys").output
    assert "kangaroo model" in text and "language_model.lm_head.weight (266, 48) float32" in text

    assert all(invoke(c, "--help").exit_code == 0 for c in ("convert", "inspect"))
    assert [s.value for s in Source] == list(SOURCES) and [r.value for r in RopeScaling] == list(ROPE_SCALINGS)
    missing = invoke("inspect", tmp_path / "nothing")
    assert missing.exit_code == 2 and "no such file or folder" in missing.output


# The Kangaroo README's example, unchanged but for the video path, the model path and the device
# (this machine has no GPU); it runs in a fresh interpreter that never imports kangaroo itself.
ORIGINAL_USER_CODE = """
import torch
from transformers import AutoTokenizer, AutoModelForCausalLM
tokenizer = AutoTokenizer.from_pretrained("{model}")
model = AutoModelForCausalLM.from_pretrained(
    "{model}",
    torch_dtype=torch.bfloat16,
    trust_remote_code=True,
)
model = model.to("cuda" if torch.cuda.is_available() else "cpu")
terminators = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")]

video_path = "{video}"

# Round 1
query = "Give a brief description of the video."
out, history = model.chat(video_path=video_path,
                          query=query,
                          tokenizer=tokenizer,
                          max_new_tokens=8,
                          eos_token_id=terminators,
                          do_sample=True,
                          temperature=0.6,
                          top_p=0.9,)
print('Assitant: \\n', out)

# Round 2
query = "What happend at the end of the video?"
out, history = model.chat(video_path=video_path,
                          query=query,
                          history=history,
                          tokenizer=tokenizer,
                          max_new_tokens=8,
                          eos_token_id=terminators,
                          do_sample=True,
                          temperature=0.6,
                          top_p=0.9,)
print('Assitant: \\n', out)
print("turns:", len(history.messages) // 2)
"""


def saved_tiny_model(folder: Path) -> Path:
    """A model saved by kangaroo itself (``save_pretrained`` of the model and its processor)."""
    from kangaroo.model.builders import kangaroo_tiny
    from kangaroo.model.tokenizer import build_byte_tokenizer
    from kangaroo.processing import KangarooProcessor

    model = kangaroo_tiny()
    model.save_pretrained(folder)
    KangarooProcessor(build_byte_tokenizer(), model.config.layout).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["converted", "kangaroo-saved"])
def test_the_original_user_code_runs_unchanged(released, tmp_path, kind):
    folder = released[2] if kind == "converted" else saved_tiny_model(tmp_path / "saved")
    assert json.loads((folder / "config.json").read_text())["auto_map"]["AutoModelForCausalLM"] == \
        "modeling_kangaroo.KangarooForCausalLM"
    video = write_indexed(tmp_path / "clip.mp4", 12, fps=6.0, size=(64, 48))
    script = tmp_path / "readme_example.py"
    script.write_text(textwrap.dedent(ORIGINAL_USER_CODE.format(model=folder, video=video)))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Assitant:") == 2 and "turns: 2" in result.stdout
    assert (Path(env["HF_HOME"]) / "modules").is_dir()  # loaded through the folder's remote-code files
