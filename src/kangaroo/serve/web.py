"""The web demo (``kangaroo demo --web``): a Gradio page over the same `ChatEngine` as the API.

Upload a video or pick a bundled sample, see the sampled frames with their timestamps, chat in
several rounds with streamed answers, change the frames, temperature and answer length, start a
new conversation. Times an answer mentions (``3.5 s``, ``0:12``) link to the nearest sampled frame.
It listens on loopback by default and reads videos only from Gradio's upload folder and the sample
folder (`kangaroo.serve.media.check_local_path`); it serves only those and the frame folder.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from kangaroo.synth.options import DEFAULT_WORLD

from .engine import ApiError, ChatEngine, ChatJob, GenerationOptions, MediaItem
from .media import MediaError, check_local_path

# "12.5 s", "12 seconds", "12秒", "0:12", "01:02:03"
_TIME_RE = re.compile(r"(?<![\w.:])(?:(\d{1,2}):)?(\d{1,2}):(\d{2}(?:\.\d+)?)(?![\w:])"
                      r"|(?<![\w.])(\d+(?:\.\d+)?)\s?(?:s|sec|secs|seconds?|秒)(?![\w])")


def link_timestamps(text: str, timestamps: list[float], frame_urls: list[str]) -> str:
    """``text`` with every time it mentions turned into a Markdown link to the nearest frame's image.

    timestamps: ``(T,)`` seconds of the sampled frames; frame_urls: one URL per frame.
    """
    if not timestamps:
        return text

    def link(match: re.Match[str]) -> str:
        hours, minutes, seconds, plain = match.groups()
        t = float(plain) if plain is not None else int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
        nearest = min(range(len(timestamps)), key=lambda i: abs(timestamps[i] - t))
        return f"[{match.group(0)}]({frame_urls[nearest]} \"frame {nearest} at {timestamps[nearest]:.2f} s\")"

    return _TIME_RE.sub(link, text)


def build_demo(engine: ChatEngine, samples: dict[str, Path], frames_dir: Path, upload_dir: Path) -> Any:
    """The Gradio `Blocks` of the demo (not launched). ``samples`` maps a name to a video file."""
    import gradio as gr
    import numpy as np
    from PIL import Image

    from kangaroo.video import FrameSampling, VideoError, load_video

    roots = tuple(Path(os.path.realpath(p)) for p in (upload_dir, *{s.parent for s in samples.values()}))

    def frames_for(path: Path, count: int) -> tuple[list[tuple[str, str]], list[float]]:
        """Gallery items ``(image file, caption)`` of the frames the model sees, and their times."""
        digest = hashlib.sha256(f"{path}:{path.stat().st_mtime_ns}:{count}".encode()).hexdigest()[:16]
        folder = frames_dir / digest
        clip = load_video(path, FrameSampling(num_frames=count), size=256, aspect="pad",
                          timeout=engine.decode_timeout)
        folder.mkdir(parents=True, exist_ok=True)
        items = []
        for i, (frame, t) in enumerate(zip(clip.frames, clip.timestamps, strict=True)):
            file = folder / f"frame_{i:03d}.jpg"
            if not file.exists():
                Image.fromarray(np.asarray(frame)).save(file, quality=90)
            items.append((str(file), f"{t:.2f} s"))
        return items, [float(t) for t in clip.timestamps]

    def pick_sample(name: str | None) -> Any:
        return gr.update(value=str(samples[name])) if name in samples else gr.update()

    def new_conversation() -> tuple[list, dict, str]:
        return [], {}, ""

    def forget_conversation() -> tuple[list, dict]:
        """Another video: the chat goes, a question being typed stays (the upload may end after it)."""
        return [], {}

    def respond(question: str, video: str | None, frames: int, temperature: float, max_tokens: int,
                chat: list[dict[str, Any]], state: dict[str, Any]) -> Any:
        question = (question or "").strip()
        if not question:
            yield chat, state, gr.update(), gr.update()
            return
        try:
            if not video:
                raise MediaError("upload a video or pick a sample first")
            path = check_local_path(video, roots)
            key = (str(path), int(frames))
            gallery = gr.update()
            if state.get("key") != key:  # another video or frame count: a new conversation
                items, times = frames_for(path, int(frames))
                state = {"key": key, "messages": [], "times": times, "urls": [f"/gradio_api/file={p}" for p, _ in items]}
                chat = []
                gallery = items
            messages = state["messages"]
            content: Any = question if messages else [{"type": "video"}, {"type": "text", "text": question}]
            messages = [*messages, {"role": "user", "content": content}]
            events: queue.Queue[tuple[str, Any]] = queue.Queue()
            job = ChatJob(messages, [MediaItem(path, f"video {path.name!r}")],
                          engine.sampling_for({"num_frames": int(frames)}),
                          GenerationOptions(max_tokens=int(max_tokens), temperature=float(temperature)), events.put)
            engine.submit(job)
        except (MediaError, ApiError, VideoError) as exc:
            raise gr.Error(getattr(exc, "message", None) or str(exc)) from None
        chat = [*chat, {"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        yield chat, state, gallery, ""  # the question is taken: its box empties once, here
        answer = ""
        try:
            while True:
                kind, value = events.get()
                if kind == "text":
                    answer += value
                    chat[-1] = {"role": "assistant", "content": answer}
                    yield chat, state, gr.update(), gr.update()  # the next question may be typed meanwhile
                elif kind == "error":
                    raise gr.Error(value.message)
                elif kind == "done":
                    break
        finally:  # the page went away or the answer ended
            job.cancel()
        messages = [*messages, {"role": "assistant", "content": value.text}]
        state = {**state, "messages": messages}
        chat[-1] = {"role": "assistant", "content": link_timestamps(value.text, state["times"], state["urls"])}
        yield chat, state, gr.update(), gr.update()

    note = (" · random weights: answers are noise until a trained model is given with --model"
            if engine.is_random else "")
    with gr.Blocks(title="kangaroo") as demo:
        gr.Markdown(f"## kangaroo: chat about a video\nModel: `{engine.model_name}`{note}")
        state = gr.State({})
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video")
                sample = gr.Dropdown(choices=list(samples), value=None, label="Or pick a sample", elem_id="sample")
                frames = gr.Slider(2, engine.max_frames, value=engine.default_sampling.num_frames or 16, step=1,
                                   label="Frames")
                temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="Temperature (0 = greedy)")
                max_tokens = gr.Slider(1, 512, value=128, step=1, label="Max tokens")
                reset = gr.Button("New conversation", elem_id="new-conversation")
            with gr.Column(scale=2):
                gallery = gr.Gallery(label="Sampled frames", columns=8, height=200, elem_id="frames")
                chatbot = gr.Chatbot(label="Conversation", height=420, elem_id="chatbot")
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask about the video (English or 中文)", show_label=False,
                                          scale=5, elem_id="question")
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
        inputs = [question, video, frames, temperature, max_tokens, chatbot, state]
        outputs = [chatbot, state, gallery, question]
        # a question sent while the previous answer is still finishing runs after it (Gradio's
        # default, "once", would drop it silently)
        send.click(respond, inputs, outputs, trigger_mode="always_last")
        question.submit(respond, inputs, outputs, trigger_mode="always_last")
        sample.change(pick_sample, sample, video)
        reset.click(new_conversation, None, [chatbot, state, question])
        video.change(forget_conversation, None, [chatbot, state])
    return demo


SAMPLE_SEED = 20261207  # the world sample's scene (test split)


def make_samples(folder: Path) -> dict[str, Path]:
    """The bundled samples, rendered into ``folder`` on first use: a video of the procedural world
    the bundled model never saw (test split), and a clock that shows its own time."""
    from kangaroo.synth.render import write_scene
    from kangaroo.synth.tasks import sample_task_scene
    from kangaroo.video.sample import make_sample_video

    world = folder / "world.mp4"
    if not world.exists():
        scene, _, _ = sample_task_scene("caption_short", random.Random(SAMPLE_SEED), "test", DEFAULT_WORLD)
        write_scene(scene, world)
    clock = folder / "clock.mp4"
    if not clock.exists():
        make_sample_video(clock, duration=8.0, fps=12, size=(320, 180))
    return {"world (8 s, unseen by the bundled model)": world, "clock (8 s, shows its time)": clock}


def launch_demo(engine: ChatEngine, *, host: str = "127.0.0.1", port: int = 7860, samples_dir: Path,
                block: bool = True) -> Any:
    """Load the model, build the page and serve it; with ``block=False`` return the running demo
    (its ``local_url`` says where)."""

    if not engine.ready:
        engine.load()
    # Gradio's queue uses pandas options pandas 3 deprecates: its warnings, not ours, not the user's to act on
    warnings.filterwarnings("ignore", message=r".*(no_silent_downcasting|copy keyword is deprecated)", module="gradio")
    samples = make_samples(samples_dir)
    frames_dir = Path(tempfile.mkdtemp(prefix="kangaroo-demo-frames-"))
    upload_dir = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    demo = build_demo(engine, samples, frames_dir, upload_dir)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=host, server_port=port, allowed_paths=[str(samples_dir), str(frames_dir)],
                prevent_thread_lock=not block, show_error=True, quiet=not block)
    return demo
