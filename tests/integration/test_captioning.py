"""Caption generation (`CaptioningStep`) with real models behind every backend.

- An OpenAI-compatible HTTP server on loopback (stdlib) serves the project's own model, the
  random-weights tiny kangaroo checkpoint: image+text requests are captioned, text-only ones
  summarised. Its answers are noise, but they are real model outputs, so the test follows each
  caption from the server's answer into the summary prompt and the record.
- `KangarooCaptioner` on a checkpoint directly: captions equal ``chat`` on the same frame (a PNG)
  and the summary equals plain greedy generation.
- `TransformersCaptioner` on a tiny random Llama directory (summarizer) and a tiny LLaVA (frames).

The clips' frames are flat colours that encode the frame index, so the server can tell which
source frame it was sent.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from kangaroo.curation.captioners import (
    CaptionerError,
    KangarooCaptioner,
    OpenAICaptioner,
    TransformersCaptioner,
    make_captioner,
)
from kangaroo.curation.steps.captioning import DEFAULT_PROMPTS, CaptioningStep
from kangaroo.inference.loading import ensure_tiny_random
from kangaroo.video import load_video
from kangaroo.video.writer import write_video
from openai_endpoint import loopback_server

from video_fixtures import frame_for, frame_ids, shown_at

pytestmark = pytest.mark.integration

FPS = 25.0
TOKENS = 6  # answers are short: the model is random


# --- fixtures ------------------------------------------------------------------------------------


@dataclass
class Clip:
    record: dict[str, Any]
    lo: float  # the clip's bounds, seconds
    hi: float


def write_clip(path: Path, seconds: float) -> Path:
    count = round(seconds * FPS)
    return write_video(path, (frame_for(i, 64, 48) for i in range(count)), fps=FPS)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    root = tmp_path_factory.mktemp("clips")
    long, short = write_clip(root / "long.mp4", 4.0), write_clip(root / "short.mp4", 2.0)
    spec = [("long.mp4#0.5-3.5", long, 0.5, 3.5), ("short.mp4", short, None, None),
            ("long.mp4#2.0-4.0", long, 2.0, 4.0)]
    out = []
    for rid, path, start, end in spec:
        record = {"id": rid, "video": str(path), "start": start, "end": end, "meta": {"source": path.name}}
        out.append(Clip(record, 0.0 if start is None else start, 2.0 if end is None else end))
    return out


def fresh(clips: list[Clip]) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(c.record)) for c in clips]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tiny models are faster on one thread, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tiny_random(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> KangarooCaptioner:
    return KangarooCaptioner(tiny_dir, max_new_tokens=TOKENS)


class Ctx:
    """Records what the step reports."""

    def __init__(self) -> None:
        self.dropped: list[tuple[str, str, float | None, str]] = []
        self.quarantined: list[tuple[str, str]] = []
        self.measures: list[tuple[str, float]] = []

    def drop(self, record: dict, reason: str, value: float | None = None, detail: str = "") -> None:
        self.dropped.append((record["id"], reason, value, detail))

    def quarantine(self, record: dict, error: str) -> None:
        self.quarantined.append((record["id"], error))

    def measured(self, name: str, value: float) -> None:
        self.measures.append((name, value))


def expected_times(seed: int, rid: str, lo: float, hi: float, n: int = 5) -> list[float]:
    """The documented draw: one ``rng.random()`` per segment, in order."""
    rng = random.Random(f"{seed}:{rid}")
    return [lo + (i + rng.random()) * (hi - lo) / n for i in range(n)]


# --- the loopback server ---------------------------------------------------------------------------


@dataclass
class Seen:
    kind: str  # "frame" | "summary"
    model: str
    text: str
    answer: str
    frame_id: int | None = None


@dataclass
class Server:
    model: KangarooCaptioner
    url: str = ""
    fail_next: int = 0  # answer this many requests with HTTP 500 first
    failed: int = 0
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any]) -> Seen:
        (message,) = body["messages"]
        assert message["role"] == "user" and body["temperature"] == 0 and body["max_tokens"] == TOKENS
        content = message["content"]
        if isinstance(content, str):  # a summary request
            return Seen("summary", body["model"], content, self.model.summarize(content))
        image_part, text_part = content
        head, _, data = image_part["image_url"]["url"].partition(",")
        assert head == "data:image/jpeg;base64"
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
        caption = self.model.caption(image, text_part["text"])
        return Seen("frame", body["model"], text_part["text"], caption, int(frame_ids(image[None])[0]))


def make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server.lock:
                fail = server.fail_next > 0
                if fail:
                    server.fail_next -= 1
                    server.failed += 1
            if fail:
                return self._send(500, {"error": {"message": "model worker crashed"}})
            seen = server.answer(body)
            with server.lock:
                server.seen.append(seen)
            self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": seen.answer}}]})

    return Handler


@pytest.fixture
def server(tiny: KangarooCaptioner) -> Iterator[Server]:
    state = Server(tiny)
    with loopback_server(make_handler(state)) as url:
        state.url = url
        yield state


def endpoint_step(server: Server, seed: int = 0, max_workers: int = 1, retries: int = 1) -> CaptioningStep:
    settings = {"base_url": server.url, "retries": retries, "backoff": 0.0, "max_tokens": TOKENS}
    captioner = OpenAICaptioner(model="captioner", concurrency=4, **settings)
    summarizers = [OpenAICaptioner(model=name, **settings) for name in ("sum-a", "sum-b")]
    return CaptioningStep(captioner, summarizers, seed=seed, max_workers=max_workers)


# --- tests -------------------------------------------------------------------------------------------


def test_endpoint_captions_clips_from_seeded_frames(server: Server, clips: list[Clip]) -> None:
    ctx = Ctx()
    step = endpoint_step(server)
    out = list(step.run(iter(fresh(clips)), ctx))
    assert [r["id"] for r in out] == [c.record["id"] for c in clips] and not ctx.dropped and not ctx.quarantined
    assert len(server.seen) == 6 * len(clips)  # one clip at a time: 5 frames, then the summary
    summarizers_used = []
    for k, (clip, record) in enumerate(zip(clips, out, strict=True)):
        frames, summary = server.seen[6 * k : 6 * k + 5], server.seen[6 * k + 5]
        assert [s.kind for s in frames] == ["frame"] * 5 and summary.kind == "summary"
        assert {s.model for s in frames} == {"captioner"}
        assert all(s.text == DEFAULT_PROMPTS["en"]["frame"] for s in frames)
        # the frames: one seeded time per segment, and the frame shown at that time was sent
        times = expected_times(0, clip.record["id"], clip.lo, clip.hi)
        info = record["meta"]["captioning"]
        assert info["frame_times"] == pytest.approx(times, abs=1e-9)
        width = (clip.hi - clip.lo) / 5
        assert all(clip.lo + i * width <= t < clip.lo + (i + 1) * width for i, t in enumerate(times))
        frame_times = np.arange(round(4.0 * FPS)) / FPS
        assert [s.frame_id for s in frames] == shown_at(frame_times, np.asarray(times)).tolist()
        # the summary prompt lists the 5 frame captions in time order, with their times in the clip
        captions = [s.answer for s in frames]
        assert info["frame_captions"] == captions and all(captions)
        position = 0
        for t, caption in zip(times, captions, strict=True):
            position = summary.text.index(f"[{t - clip.lo:.1f}s] {caption}", position) + 1
        assert summary.text.startswith("Below are descriptions of 5 frames")
        # the record
        assert summary.model in ("sum-a", "sum-b") and info["summarizer"] == f"openai:{summary.model}"
        chosen = random.Random(f"0:{clip.record['id']}:summarizer").choice(["sum-a", "sum-b"])
        assert summary.model == chosen
        summarizers_used.append(summary.model)
        assert record["messages"] == [
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe this video in detail."}]},
            {"role": "assistant", "content": summary.answer},
        ]
        assert info["frame_captioner"] == "openai:captioner" and info["language"] == "en"
        assert record["meta"]["language"] == "en"
        assert record["meta"]["measures"]["caption_chars"] == len(summary.answer)
    assert set(summarizers_used) == {"sum-a", "sum-b"}

    # a rerun (in another order, clips in flight together) picks the same frames, captions, summarizers
    again = list(endpoint_step(server, max_workers=3).run(iter(fresh(clips)[::-1]), Ctx()))
    assert [r["id"] for r in again] == [c.record["id"] for c in clips][::-1]
    for first, second in zip(out, again[::-1], strict=True):
        assert first["meta"]["captioning"] == second["meta"]["captioning"]
        assert first["messages"] == second["messages"]
    # another seed, other frames
    other = endpoint_step(server, seed=1).frame_times(clips[0].record, clips[0].lo, clips[0].hi)
    assert other == pytest.approx(expected_times(1, clips[0].record["id"], clips[0].lo, clips[0].hi), abs=1e-9)
    assert other != out[0]["meta"]["captioning"]["frame_times"]


def test_endpoint_failing_beyond_retries_drops_the_clip_and_goes_on(server: Server, clips: list[Clip]) -> None:
    server.fail_next = 2  # the first frame request of the first clip, and its one retry
    ctx = Ctx()
    out = list(endpoint_step(server, retries=1).run(iter(fresh(clips[:2])), ctx))
    assert server.failed == 2
    assert [r["id"] for r in out] == [clips[1].record["id"]]
    ((rid, reason, value, detail),) = ctx.dropped
    assert (rid, reason, value) == (clips[0].record["id"], "caption_failed", None)
    assert "HTTP 500" in detail and "model worker crashed" in detail and "gave up after 2 attempts" in detail
    assert len(server.seen) == 6  # the second clip, complete


def test_kangaroo_captioner_equals_the_models_own_generation(tiny_dir: Path, clips: list[Clip],
                                                             tmp_path: Path) -> None:
    from kangaroo.inference.chat import chat, stop_ids

    clip = clips[0]
    # built from pipeline-YAML specs: the same spec twice is one captioner, loaded on first use
    spec = {"backend": "kangaroo", "model_dir": str(tiny_dir), "max_new_tokens": TOKENS}
    step = CaptioningStep(spec, [spec], seed=3)
    tiny = step.frame_captioner
    assert isinstance(tiny, KangarooCaptioner) and step.summarizers == [tiny] and tiny._loaded is None
    (record,) = step.run(iter(fresh([clip])), Ctx())
    info = record["meta"]["captioning"]
    assert info["summarizer"] == info["frame_captioner"] == tiny.name == f"kangaroo:{tiny_dir.name}"
    model, processor = tiny.model, tiny.processor
    # each frame caption is chat() on that frame (decoded independently, saved as a PNG)
    every = load_video(clip.record["video"])
    for t, caption in zip(info["frame_times"], info["frame_captions"], strict=True):
        frame = every.frames[shown_at(every.timestamps, np.array([t]))[0]]
        png = tmp_path / "frame.png"
        Image.fromarray(frame).save(png)
        expected, _ = chat(model, processor, png, DEFAULT_PROMPTS["en"]["frame"], max_new_tokens=TOKENS)
        assert caption == expected
    # the video caption is greedy text-only generation on the summary prompt
    prompt = step.summary_prompt("en", info["frame_times"], info["frame_captions"], clip.lo, clip.hi)
    inputs = processor.build_inputs([{"role": "user", "content": prompt}])
    stops = stop_ids(processor)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=TOKENS, do_sample=False, eos_token_id=stops,
                                pad_token_id=processor.tokenizer.pad_token_id)
    new = output[0, inputs["input_ids"].shape[1]:].tolist()
    new = new[: next((i for i, x in enumerate(new) if x in stops), len(new))]
    assert record["messages"][1]["content"] == processor.decode(new).strip()
    with pytest.raises(CaptionerError, match="no such model directory"):
        KangarooCaptioner(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(CaptionerError, match="not 'kangaroo'"):
        make_captioner({"backend": "kangaroo", "model_dir": str(tmp_path / "other")})


def tiny_llama_dir(root: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from kangaroo.model.tokenizer import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()  # it carries a chat template
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def test_transformers_summarizer_on_a_tiny_llama(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = tiny_llama_dir(tmp_path / "llama")
    summarizer = make_captioner({"backend": "transformers", "model_dir": str(directory), "max_new_tokens": 10})
    assert isinstance(summarizer, TransformersCaptioner) and summarizer.name == "transformers:llama"
    prompt = "[0.4s] a dog\n[1.2s] a dog runs\nSummarise."
    answer = summarizer.summarize(prompt)
    # the reference: the tokenizer's chat template and greedy generate, loaded independently
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory).eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        output = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
    assert answer == tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()
    assert answer and summarizer.summarize(prompt) == answer
    with pytest.raises(CaptionerError, match=r"text-only model .* cannot caption frames"):
        summarizer.caption(np.zeros((8, 8, 3), np.uint8), "Describe.")
    with pytest.raises(CaptionerError, match="no such model directory"):
        TransformersCaptioner(tmp_path / "missing")


def test_transformers_vision_language_model_captions_frames(tmp_path: Path) -> None:
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from kangaroo.model.tokenizer import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=28, patch_size=14)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=len(tokenizer) - 1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(tmp_path / "vlm")
    template = ("{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
                "{% endfor %}<|eot_id|>{% endfor %}"
                "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14, chat_template=template,
                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                   ).save_pretrained(tmp_path / "vlm")
    captioner = TransformersCaptioner(tmp_path / "vlm", max_new_tokens=6)
    assert captioner.is_vision
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    caption = captioner.caption(image, "Describe.")
    assert isinstance(caption, str) and caption == captioner.caption(image, "Describe.")
    assert isinstance(captioner.summarize("Summarise."), str)


# --- the step's rules, with scripted captioners ------------------------------------------------------


class Scripted:
    """A captioner answering from a function of the prompt; records the prompts."""

    concurrency = 1

    def __init__(self, name: str, answer: Any = "a red square") -> None:
        self.name, self.answer, self.prompts = name, answer, []

    def caption(self, image: np.ndarray, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answer(prompt) if callable(self.answer) else self.answer

    def summarize(self, prompt: str) -> str:
        return self.caption(np.zeros((1, 1, 3), np.uint8), prompt)


def test_languages_empty_captions_and_bad_videos(clips: list[Clip], tmp_path: Path) -> None:
    frames, summary = Scripted("f"), Scripted("s", "一只红色的方块。")
    records = fresh(clips[:2])
    records[0]["meta"]["language"] = "zh"
    out = list(CaptioningStep(frames, [summary], language="auto").run(iter(records), Ctx()))
    assert frames.prompts[0] == DEFAULT_PROMPTS["zh"]["frame"] and frames.prompts[5] == DEFAULT_PROMPTS["en"]["frame"]
    assert summary.prompts[0].startswith("以下是") and summary.prompts[1].startswith("Below")
    assert out[0]["messages"][0]["content"][1]["text"] == "请详细描述这段视频。"
    assert out[0]["meta"]["captioning"]["language"] == "zh" and out[1]["meta"]["language"] == "en"

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    bad = {"id": "broken", "video": str(broken), "start": 0.0, "end": 2.0, "meta": {}}
    ctx = Ctx()
    kept = list(CaptioningStep(Scripted("f"), [Scripted("s", "")]).run(iter([bad, *fresh(clips[:1])]), ctx))
    assert kept == [] and ctx.quarantined[0][0] == "broken"
    assert ctx.dropped == [(clips[0].record["id"], "caption_empty", None, "s gave an empty summary")]
    ctx = Ctx()
    assert list(CaptioningStep(Scripted("f", " "), [summary]).run(iter(fresh(clips[:1])), ctx)) == []
    assert ctx.dropped[0][1] == "caption_empty"

    prompts = {"en": {"summary": "Frames:\n{frames}\nOne sentence please."}}
    custom = Scripted("s")
    list(CaptioningStep(Scripted("f"), [custom], prompts=prompts).run(iter(fresh(clips[:1])), Ctx()))
    assert custom.prompts[0].startswith("Frames:\n[") and custom.prompts[0].endswith("One sentence please.")
    with pytest.raises(ValueError, match="must contain"):
        CaptioningStep(Scripted("f"), [custom], prompts={"zh": {"summary": "没有帧"}})
    with pytest.raises(ValueError, match="language"):
        CaptioningStep(Scripted("f"), [custom], language="fr")

    def misconfigured(prompt: str) -> str:
        raise CaptionerError("transformers:llama: a text-only model cannot caption frames")

    with pytest.raises(CaptionerError, match="cannot caption frames"):  # stops the run: no clip would pass
        list(CaptioningStep(Scripted("f", misconfigured), [custom]).run(iter(fresh(clips[:1])), Ctx()))


def test_make_captioner_refuses_bad_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CaptionerError, match="backend must be one of"):
        make_captioner({"backend": "llamacpp"})
    with pytest.raises(CaptionerError, match="unknown option"):
        make_captioner({"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m", "modle": "x"})
    with pytest.raises(CaptionerError, match="missing model"):
        make_captioner({"backend": "openai", "base_url": "http://127.0.0.1:1/v1"})
    with pytest.raises(CaptionerError, match="no such model directory"):
        make_captioner({"backend": "kangaroo", "model_dir": str(tmp_path / "nope")})
    monkeypatch.delenv("CAPTION_KEY", raising=False)
    with pytest.raises(CaptionerError, match="CAPTION_KEY"):
        make_captioner({"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m",
                        "api_key_env": "CAPTION_KEY"})
    monkeypatch.setenv("CAPTION_KEY", "sk-1")
    built = make_captioner({"backend": "openai", "base_url": "http://127.0.0.1:1/v1/", "model": "m",
                            "api_key_env": "CAPTION_KEY"})
    assert built.client.url == "http://127.0.0.1:1/v1/chat/completions" and built.name == "openai:m"
    assert built.client.api_key == "sk-1" and "sk-1" not in repr(built.client)


def test_steps_built_per_shard_share_one_loaded_model(tiny_dir: Path) -> None:
    """The executor builds the step again for every shard: the model must not load again."""
    spec = {"backend": "kangaroo", "model_dir": str(tiny_dir), "max_new_tokens": 4}
    first = CaptioningStep(spec, [spec])
    first.frame_captioner.summarize("warm up")  # loads the model
    second = CaptioningStep(dict(spec), [dict(spec)])
    assert second.frame_captioner is first.frame_captioner and second.summarizers[0] is first.frame_captioner
    other = CaptioningStep({**spec, "max_new_tokens": 5}, [spec])
    assert other.frame_captioner is not first.frame_captioner  # another spec, another captioner
