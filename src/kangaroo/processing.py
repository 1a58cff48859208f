"""The Kangaroo processor: chat template, video placeholder expansion, frames, token counts.

The processor counts, the model checks: each video part of a conversation becomes
``layout.expand(T)`` (see `kangaroo.model.layout`), so the number of ``<|video_pad|>`` ids in
``input_ids`` is ``sum(layout.visual_tokens(T_i))``; the model scatters one visual feature into
each and raises when the counts differ.

User text can never produce special or placeholder tokens. Message text is rendered by the chat
template like any text, but every added token string in it (``<|eot_id|>``, ``<video>``,
``<|video_pad|>``, ...) is wrapped in private markers first; marked strings are then encoded as
plain text (bytes), and only the tokens that the template writes, plus the ``<video>`` the
processor puts where a video part is, become special ids.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kangaroo.model.layout import (
    FRAME_SEPARATOR,
    VIDEO_END,
    VIDEO_PAD,
    VIDEO_START,
    VIDEO_TOKEN,
    VideoTokenLayout,
)
from kangaroo.model.tokenizer import (
    CHAT_ROLES,
    END_HEADER,
    END_OF_TURN,
    START_HEADER,
    llama3_chat_template,
    video_token_ids,
)
from kangaroo.video.sampling import DEFAULT_SAMPLING, FrameSampling

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PROCESSOR_CONFIG = "processor_config.json"
VIDEO_PART_TYPES = ("video", "image")  # an image is a 1-frame video

# Unicode noncharacters: they wrap added-token strings found in user text, and are removed from
# user text first so that nobody can forge a marked (or unmarked) token with them.
_MARK_START = "\ufdd0"
_MARK_END = "\ufdd1"

Video = tuple[torch.Tensor, torch.Tensor]  # (pixel_values (T, 3, S, S), timestamps (T,))


class KangarooProcessor:
    """Turns chat messages and videos into model inputs for Kangaroo.

    tokenizer:     any transformers tokenizer that has the video tokens
                   (`kangaroo.model.tokenizer.add_video_tokens` adds them).
    layout:        how many tokens a video of ``T`` frames takes (`VideoTokenLayout`).
    sampling:      the `FrameSampling` of `load_video_frames` (default: 16 frames, uniform);
                   `with_sampling` returns a copy that samples otherwise.
    aspect:        ``pad`` (fit inside, border = the mean colour), ``crop`` or ``stretch``.
    image_mean, image_std: per-channel normalisation of RGB in [0, 1] (CLIP's by default).
    chat_template: Jinja template; default the tokenizer's own, else `llama3_chat_template()`.

    Raises ``ValueError`` when the tokenizer lacks a video token, or when it has no chat template
    and lacks the Llama-3 header tokens the fallback template needs.
    """

    def __init__(
        self,
        tokenizer: Any,
        layout: VideoTokenLayout | None = None,
        *,
        sampling: FrameSampling = DEFAULT_SAMPLING,
        aspect: str = "pad",
        image_mean: Sequence[float] = CLIP_MEAN,
        image_std: Sequence[float] = CLIP_STD,
        chat_template: str | None = None,
    ) -> None:
        if not isinstance(sampling, FrameSampling):
            raise ValueError(f"sampling must be a kangaroo.video.FrameSampling, got {sampling!r}")
        if aspect not in ("pad", "crop", "stretch"):
            raise ValueError(f"unknown aspect {aspect!r}; choose pad, crop or stretch")
        if len(image_mean) != 3 or len(image_std) != 3 or min(image_std) <= 0:
            raise ValueError("image_mean and image_std need 3 values each, std > 0")
        self.tokenizer = tokenizer
        self.layout = layout or VideoTokenLayout()
        self._sampling = sampling
        self.aspect = aspect
        self.image_mean = tuple(float(m) for m in image_mean)
        self.image_std = tuple(float(s) for s in image_std)

        self.video_token_ids: dict[str, int] = video_token_ids(tokenizer)  # raises when one is missing
        added = tokenizer.get_added_vocab()  # {token string: id}
        if chat_template is None and tokenizer.chat_template is not None:
            chat_template = tokenizer.get_chat_template()  # also picks "default" from named templates
        elif chat_template is None:
            lacking = [t for t in (START_HEADER, END_HEADER, END_OF_TURN) if t not in added]
            if lacking:
                raise ValueError(
                    f"the tokenizer has no chat template, and lacks {lacking} for the Llama-3 fallback: "
                    "pass chat_template=..."
                )
            chat_template = llama3_chat_template()
        self.chat_template: str = chat_template
        self._control_cache: tuple[int, set[int], re.Pattern[str], re.Pattern[str]] | None = None

    def __repr__(self) -> str:
        return (
            f"KangarooProcessor(tokenizer={type(self.tokenizer).__name__}(vocab={len(self.tokenizer)}), "
            f"layout={self.layout}, sampling={self.sampling})"
        )

    @property
    def sampling(self) -> FrameSampling:
        """How `load_video_frames` samples frames (read-only: `with_sampling` makes a copy)."""
        return self._sampling

    def with_sampling(self, sampling: FrameSampling) -> KangarooProcessor:
        """A copy of this processor (sharing its tokenizer) that samples frames with ``sampling``."""
        if not isinstance(sampling, FrameSampling):
            raise ValueError(f"sampling must be a kangaroo.video.FrameSampling, got {sampling!r}")
        other = copy.copy(self)
        other._sampling = sampling
        return other

    def with_tokenizer(self, tokenizer: Any) -> KangarooProcessor:
        """A copy of this processor (same layout, sampling and preprocessing) around ``tokenizer``.
        Raises ``ValueError`` when the tokenizer lacks a video token."""
        return type(self)(tokenizer, self.layout, sampling=self.sampling, aspect=self.aspect,
                          image_mean=self.image_mean, image_std=self.image_std, chat_template=self.chat_template)

    # ------------------------------------------------------------------ text

    def build_inputs(
        self,
        messages: Sequence[Mapping[str, Any]],
        videos: Sequence[Video | str | os.PathLike[str]] | None = None,
        add_generation_prompt: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Model inputs for one conversation.

        messages: HF-style ``{"role": "system" | "user" | "assistant", "content": str | [parts]}``;
                  parts are ``{"type": "text", "text": ...}`` and ``{"type": "video"}`` (or
                  ``"image"``), concatenated in order. Each video part takes the next entry of
                  ``videos``: ``(pixel_values (T, 3, S, S), timestamps (T,))`` from
                  `load_video_frames`, or a path, loaded with this processor's settings.

        Returns ``input_ids`` and ``attention_mask`` long ``(1, L)``; with videos also
        ``pixel_values_videos`` ``(sum T, 3, S, S)``, ``video_timestamps`` float32 ``(sum T,)``
        and ``video_frame_counts`` long ``(V,)``.
        Raises ``ValueError`` for malformed messages or when videos and video parts differ in number.
        """
        videos = list(videos or [])
        ids, video_at = self._encode_conversation(messages, add_generation_prompt)
        if len(video_at) != len(videos):  # checked before any video is decoded
            raise ValueError(
                f"the messages have {len(video_at)} video parts but {len(videos)} videos were given"
            )
        loaded = [self.load_video_frames(v) if isinstance(v, str | os.PathLike) else v for v in videos]
        pixel_values, timestamps = self._check_videos(loaded)
        frame_counts = [int(p.shape[0]) for p in pixel_values]
        input_ids = self._expand_videos(ids, video_at, frame_counts)
        out = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        if frame_counts:
            out["pixel_values_videos"] = torch.cat(pixel_values)  # (sum T, 3, S, S)
            out["video_timestamps"] = torch.cat(timestamps)  # (sum T,)
            out["video_frame_counts"] = torch.tensor(frame_counts, dtype=torch.long)  # (V,)
        return out

    def encode(
        self,
        messages: Sequence[Mapping[str, Any]],
        frame_counts: Sequence[int] = (),
        add_generation_prompt: bool = True,
    ) -> torch.Tensor:
        """``input_ids`` long ``(1, L)`` of a conversation whose video parts have ``frame_counts``
        frames, each expanded to the layout's tokens, without decoding any video (chat turns reuse
        features computed earlier). Raises ``ValueError`` when the counts and video parts differ."""
        ids, video_at = self._encode_conversation(messages, add_generation_prompt)
        if len(video_at) != len(frame_counts):
            raise ValueError(f"the messages have {len(video_at)} video parts but {len(frame_counts)} frame counts")
        return self._expand_videos(ids, video_at, [int(t) for t in frame_counts])

    def _expand_videos(self, ids: list[int], video_at: list[int], frame_counts: Sequence[int]) -> torch.Tensor:
        """Replace the ``<video>`` id at each position of ``video_at`` by the video's tokens: ``(1, L)``."""
        pieces: list[list[int]] = []
        previous = 0
        for position, count in zip(video_at, frame_counts, strict=True):
            pieces += [ids[previous:position], self.video_ids(count)]
            previous = position + 1
        pieces.append(ids[previous:])
        input_ids = torch.tensor([i for piece in pieces for i in piece], dtype=torch.long)[None]  # (1, L)
        placeholders = int((input_ids == self.video_token_ids[VIDEO_PAD]).sum())
        expected = sum(self.layout.visual_tokens(t) for t in frame_counts)
        if placeholders != expected:  # only a template that writes video tokens itself gets here
            raise ValueError(f"the prompt has {placeholders} {VIDEO_PAD} tokens but its videos need {expected}")
        return input_ids

    def token_count(
        self,
        messages: Sequence[Mapping[str, Any]],
        frame_counts: Sequence[int],
        add_generation_prompt: bool = True,
    ) -> int:
        """Length of ``build_inputs(messages, videos)["input_ids"]`` for videos of ``frame_counts``
        frames, computed without decoding videos or tokenizing video tokens."""
        ids, video_at = self._encode_conversation(messages, add_generation_prompt)
        if len(video_at) != len(frame_counts):
            raise ValueError(
                f"the messages have {len(video_at)} video parts but {len(frame_counts)} frame counts"
            )
        return len(ids) - len(video_at) + sum(self.layout.prompt_tokens(int(t)) for t in frame_counts)

    def video_ids(self, num_frames: int) -> list[int]:
        """Token ids of ``layout.expand(num_frames)``, built without tokenizing it."""
        ids = self.video_token_ids
        if not self.layout.markers:
            return [ids[VIDEO_PAD]] * self.layout.visual_tokens(num_frames)
        if self.layout.projector_type == "ccam":
            self.layout.num_groups(num_frames)  # validates
            body = [ids[VIDEO_PAD]] * self.layout.num_queries
        else:
            group = [ids[FRAME_SEPARATOR]] + [ids[VIDEO_PAD]] * self.layout.tokens_per_group
            body = group * self.layout.num_groups(num_frames)
        return [ids[VIDEO_START], *body, ids[VIDEO_END]]

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = True) -> str:
        """Text of ``ids`` (a list, or a tensor ``(L,)`` or ``(1, L)``), without special and video
        tokens unless ``skip_special_tokens=False``."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() == 2 and ids.shape[0] == 1:
                ids = ids[0]
            if ids.dim() != 1:
                raise ValueError(f"decode takes one sequence, got a tensor of shape {tuple(ids.shape)}")
            ids = ids.tolist()
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            special = {i for i, token in self.tokenizer.added_tokens_decoder.items() if token.special}
            special |= set(self.video_token_ids.values())
            ids = [i for i in ids if i not in special]
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def _encode_conversation(
        self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool
    ) -> tuple[list[int], list[int]]:
        """Ids of the rendered conversation, with one ``<video>`` id per video part, and where those are."""
        _, _, control_re, _ = self._control()
        chat = [self._flatten_message(m, i, control_re) for i, m in enumerate(messages)]
        if not chat:
            raise ValueError("messages is empty")
        rendered = self.tokenizer.apply_chat_template(
            chat,
            chat_template=self.chat_template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )
        ids = self._encode_marked(rendered)
        video_id = self.video_token_ids[VIDEO_TOKEN]
        video_at = [i for i, token in enumerate(ids) if token == video_id]
        wanted = sum(_count_video_parts(m["content"]) for m in messages)
        if len(video_at) != wanted:
            raise ValueError(
                f"the chat template wrote {len(video_at)} {VIDEO_TOKEN} tokens for {wanted} video parts"
            )
        return ids, video_at

    def _flatten_message(self, message: Mapping[str, Any], index: int, control_re: re.Pattern[str]) -> dict:
        """``{"role", "content": str}`` with added-token strings in user text marked and ``<video>``
        (unmarked) at each video part."""
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(f"message {index} must be a dict with 'role' and 'content'")
        role = message["role"]
        if role not in CHAT_ROLES:
            raise ValueError(f"message {index} has role {role!r}; use one of {', '.join(CHAT_ROLES)}")
        content = message["content"]
        mark = partial(_mark, control_re=control_re)
        if isinstance(content, str):
            return {"role": role, "content": mark(content)}
        if not isinstance(content, Sequence):
            raise ValueError(f"message {index}: content must be a string or a list of parts")
        pieces = []
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise ValueError(f"message {index}: a text part needs a string 'text'")
                pieces.append(text)
            elif kind in VIDEO_PART_TYPES:
                pieces.append(None)
            else:
                raise ValueError(f"message {index}: unknown content part {part!r}; use text, video or image")
        # Mark after joining adjacent text parts, so that two parts can't form a token between them.
        out, text = [], []
        for piece in [*pieces, None]:
            if piece is not None:
                text.append(piece)
                continue
            out.append(mark("".join(text)))
            text = []
            out.append(VIDEO_TOKEN)
        return {"role": role, "content": "".join(out[:-1])}

    def _control(self) -> tuple[int, set[int], re.Pattern[str], re.Pattern[str]]:
        """(vocab size, ids of added tokens, regex of their strings, regex of marked strings),
        recomputed when the tokenizer grows."""
        size = len(self.tokenizer)
        if self._control_cache is None or self._control_cache[0] != size:
            added = self.tokenizer.get_added_vocab()
            # whitespace-only added tokens (Gemma's "\n\n") are ordinary text, as in transformers
            tokens = sorted((t for t in added if t and not t.isspace()), key=len, reverse=True)
            alternatives = "|".join(map(re.escape, tokens)) or "(?!)"
            control_re = re.compile(alternatives)
            marked_re = re.compile(f"{_MARK_START}({alternatives}){_MARK_END}|[{_MARK_START}{_MARK_END}]")
            self._control_cache = (size, {added[t] for t in tokens}, control_re, marked_re)
        return self._control_cache

    def _encode_marked(self, rendered: str) -> list[int]:
        """Encode a rendered chat: marked strings as plain text, the rest with its special tokens."""
        _, control_ids, _, marked_re = self._control()
        # split gives [text, marked, text, marked, ..., text]; a lone marker gives None as "marked"
        pieces = marked_re.split(rendered)
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        state = getattr(backend, "encode_special_tokens", None)
        try:
            ids = self.tokenizer.encode(pieces[0], add_special_tokens=False)
            for i, piece in enumerate(pieces[1:], start=1):
                if piece:
                    ids += self._encode_piece(piece, plain=i % 2 == 1, control_ids=control_ids)
        finally:  # transformers leaves the backend in split mode after split_special_tokens=True
            if state is not None:
                backend.encode_special_tokens = state
        return ids

    def _encode_piece(self, piece: str, plain: bool, control_ids: set[int]) -> list[int]:
        """Encode a piece from the middle of a chat (after a newline, then dropped, so that
        SentencePiece tokenizers add no prefix space); ``plain`` ignores all added tokens."""
        encode = self._encode_plain if plain else partial(self.tokenizer.encode, add_special_tokens=False)
        newline = self.tokenizer.encode("\n", add_special_tokens=False)
        ids = encode("\n" + piece)
        ids = ids[len(newline) :] if ids[: len(newline)] == newline else encode(piece)
        if plain and not control_ids.isdisjoint(ids):
            raise ValueError(f"cannot encode {piece!r} as text: the tokenizer turns it into a special token")
        return ids

    def encode_text(self, text: str) -> list[int]:
        """Token ids of ``text`` as ordinary text (e.g. the opening of an answer to continue):
        no special or video token can come out of it."""
        return self._encode_plain(text)

    def _encode_plain(self, text: str) -> list[int]:
        """``text`` as ordinary text: no added token (special or not) is matched."""
        ids = self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
        control_ids = self._control()[1]
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if control_ids.isdisjoint(ids) or backend is None:
            return ids
        # split_special_tokens leaves non-special added tokens (Qwen2's <tool_call>) matched:
        # run the backend's pipeline without its added vocabulary.
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        splits = (
            [text]
            if backend.pre_tokenizer is None
            else [s for s, _ in backend.pre_tokenizer.pre_tokenize_str(text)]
        )
        return [token.id for split in splits for token in backend.model.tokenize(split)]

    # ------------------------------------------------------------------ video

    def load_video_frames(self, video_path: str | os.PathLike[str], **load_kwargs: Any) -> Video:
        """Decode, sample (with `sampling`) and normalise a video (or an image: 1 frame) for the model.

        ``load_kwargs`` go to `kangaroo.video.load_video` (``start``, ``end``, ``isolate``, ...).
        Returns ``pixel_values`` float32 ``(T, 3, S, S)`` and ``timestamps`` float32 ``(T,)`` seconds.
        Raises a `kangaroo.video.VideoError` subclass when the video cannot be read.
        """
        from kangaroo.video import load_video

        size = self.layout.image_size
        if "sampling" in load_kwargs:
            raise ValueError("the sampling is the processor's: use processor.with_sampling(...).load_video_frames")
        fixed = sorted({"size", "aspect", "pad_value"} & set(load_kwargs))
        if fixed:
            raise ValueError(f"{fixed} come from the processor's layout and settings, not load_video_frames")
        # the border of "pad" is set to the exact mean below; the grey keeps any stray edge close to it
        pad_value = round(255 * sum(self.image_mean) / 3)
        clip = load_video(video_path, self.sampling, size=size, aspect=self.aspect, pad_value=pad_value,
                          **load_kwargs)
        pixel_values = self._pad_to_mean(self.normalize_frames(clip.frames), clip.frame_size)  # (T, 3, S, S)
        return pixel_values, torch.from_numpy(np.asarray(clip.timestamps, dtype=np.float32))

    def image_pixel_values(self, image: np.ndarray) -> Video:
        """One RGB uint8 ``(H, W, 3)`` image as a 1-frame video at 0 s, prepared exactly as
        `load_video_frames` prepares a still image file: ``((1, 3, S, S), (1,))``."""
        from PIL import Image

        from kangaroo.video.decode import DEFAULT_MAX_OUTPUT_BYTES
        from kangaroo.video.output import FrameBuffer

        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(f"image must be uint8 (H, W, 3), got {array.dtype} {array.shape}")
        size = self.layout.image_size
        frame = Image.fromarray(array, "RGB")
        pad_value = round(255 * sum(self.image_mean) / 3)
        buffer = FrameBuffer(1, frame.size, (size, size), self.aspect, pad_value, DEFAULT_MAX_OUTPUT_BYTES, "image")
        buffer.put_image(0, frame)
        pixel_values = self._pad_to_mean(self.normalize_frames(buffer.frames), frame.size)  # (1, 3, S, S)
        return pixel_values, torch.zeros(1, dtype=torch.float32)

    def _pad_to_mean(self, pixel_values: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        """With ``aspect="pad"``, set the border around the fitted frame to exactly 0 (the mean colour
        after normalisation), whatever the scaler left at its edge. ``pixel_values``: ``(T, 3, S, S)``."""
        from kangaroo.video.transforms import fit_geometry

        if self.aspect != "pad":
            return pixel_values
        size = self.layout.image_size
        g = fit_geometry(*frame_size, size, size, "pad")
        inside = torch.zeros(size, size, dtype=torch.bool)
        inside[g.top : g.top + g.scaled_height, g.left : g.left + g.scaled_width] = True
        return pixel_values.masked_fill_(~inside, 0.0)

    def normalize_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB ``(T, H, W, 3)`` -> float32 ``(T, 3, H, W)``: ``(x / 255 - mean) / std``."""
        x = torch.as_tensor(frames)
        if x.dim() != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise ValueError(f"frames must be uint8 (T, H, W, 3), got {x.dtype} {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2).to(torch.float32).div_(255)  # (T, 3, H, W)
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)

    def _check_videos(self, videos: Sequence[Video]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        size = self.layout.image_size
        pixel_values, timestamps = [], []
        for i, video in enumerate(videos):
            if not isinstance(video, tuple | list) or len(video) != 2:
                raise ValueError(f"video {i} must be (pixel_values, timestamps) or a path")
            pixels, times = torch.as_tensor(video[0]), torch.as_tensor(video[1], dtype=torch.float32)
            if pixels.dim() != 4 or tuple(pixels.shape[1:]) != (3, size, size) or pixels.shape[0] < 1:
                raise ValueError(
                    f"video {i}: pixel_values must be (T, 3, {size}, {size}), got {tuple(pixels.shape)}"
                )
            if not pixels.is_floating_point():
                raise ValueError(f"video {i}: pixel_values must be normalised floats, got {pixels.dtype}")
            if times.shape != (pixels.shape[0],):
                raise ValueError(
                    f"video {i}: {pixels.shape[0]} frames but timestamps of shape {tuple(times.shape)}"
                )
            pixel_values.append(pixels)
            timestamps.append(times)
        return pixel_values, timestamps

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """The processor settings as plain JSON (what ``processor_config.json`` holds)."""
        config: dict[str, Any] = {
            "processor_class": type(self).__name__,
            "layout": asdict(self.layout),
            "sampling": self.sampling.to_dict(),
            "aspect": self.aspect,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
        }
        if self.chat_template != self.tokenizer.chat_template:
            config["chat_template"] = self.chat_template
        return config

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """Write the tokenizer files and ``processor_config.json`` to a local directory."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory)
        from kangaroo.io import atomic_write_json

        atomic_write_json(directory / PROCESSOR_CONFIG, self.to_dict())
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], **overrides: Any) -> KangarooProcessor:
        """Load from a local directory written by `save_pretrained` (nothing is downloaded).

        ``overrides`` replace saved settings (``sampling=FrameSampling(num_frames=32)``, ``layout=...``);
        without them the processor samples as saved (a trained model: as it was trained).
        Raises ``FileNotFoundError`` when the directory or its ``processor_config.json`` is missing,
        ``ValueError`` naming the file when it holds settings this processor does not take (e.g.
        the flat ``num_frames`` / ``fps`` of older files), `kangaroo.video.FrameSamplingError` when
        its sampling is malformed.
        """
        from transformers import AutoTokenizer

        from kangaroo.video import FrameSamplingError

        path = Path(directory)
        if not path.is_dir():
            raise FileNotFoundError(
                f"{path}: no such directory (processors load from local directories only)"
            )
        config_file = path / PROCESSOR_CONFIG
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file}: missing; is {path} a saved KangarooProcessor?")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config.pop("processor_class", None)
        accepted = set(inspect.signature(cls).parameters) - {"tokenizer"}
        unknown = sorted(set(config) - accepted)
        if unknown:
            raise ValueError(f"{config_file}: unknown settings {unknown} (saved by another kangaroo version?); "
                             f"a processor config holds {sorted(accepted)}")
        config["layout"] = VideoTokenLayout(**config["layout"])
        if "sampling" in config:
            try:
                config["sampling"] = FrameSampling.from_dict(config["sampling"])
            except FrameSamplingError as exc:
                raise FrameSamplingError([f"sampling: {e}" for e in exc.errors], config_file) from None
        config.update(overrides)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(tokenizer, **config)


def _mark(text: str, control_re: re.Pattern[str]) -> str:
    """Wrap every added-token string in user text with the private markers (dropping any markers
    already there)."""
    text = text.replace(_MARK_START, "").replace(_MARK_END, "")
    return control_re.sub(lambda m: _MARK_START + m.group(0) + _MARK_END, text)


def _count_video_parts(content: Any) -> int:
    if isinstance(content, str):
        return 0
    return sum(1 for part in content if isinstance(part, Mapping) and part.get("type") in VIDEO_PART_TYPES)
