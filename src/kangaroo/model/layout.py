"""How a video becomes placeholder tokens in the prompt (shared by the processor and the model).

A video of ``T`` frames at ``image_size`` with ViT patch ``patch_size`` gives
``(image_size // patch_size)^2`` features per frame (a ViT drops the remainder: SigLIP's 384 px
with patch 14 gives 27 x 27). The patchify module merges
``temporal_patch`` frames and ``spatial_patch x spatial_patch`` neighbours, so frames are taken
in groups of ``temporal_patch`` (the last group padded by repeating the last frame) and each group
becomes ``(image_size / patch_size / spatial_patch)^2`` tokens. In the prompt:

    <|video_start|> ( <|frame|> <|video_pad|> * tokens_per_group ) * groups <|video_end|>

The ``ccam`` projector instead gives a fixed ``num_queries`` tokens, whatever ``T``:

    <|video_start|> <|video_pad|> * num_queries <|video_end|>

Without ``markers`` (Video-CCAM's prompt) a video is its ``<|video_pad|>`` tokens alone, with no
start, end or frame-separator token around them.

Only ``<|video_pad|>`` positions receive visual features; the other markers are ordinary
learned token embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VIDEO_TOKEN = "<video>"  # what a user or a record writes where the video goes (before expansion)
VIDEO_START = "<|video_start|>"
VIDEO_END = "<|video_end|>"
FRAME_SEPARATOR = "<|frame|>"
VIDEO_PAD = "<|video_pad|>"
SPECIAL_VIDEO_TOKENS = (VIDEO_TOKEN, VIDEO_START, VIDEO_END, FRAME_SEPARATOR, VIDEO_PAD)
PROJECTOR_TYPES = ("linear", "mlp", "ccam")  # linear and mlp keep every token; ccam gives num_queries
CCAM_MLPS = ("gelu", "swiglu")  # the MLP of the ccam projector's block


@dataclass(frozen=True)
class VideoTokenLayout:
    """Token counts for a video; see the module docstring."""

    image_size: int = 448  # frames are resized to image_size x image_size
    patch_size: int = 14  # ViT patch: 448 / 14 = 32 -> 1024 features per frame
    temporal_patch: int = 2  # frames merged by the patchify module
    spatial_patch: int = 2  # neighbours merged per side by the patchify module
    projector_type: str = "linear"  # one of PROJECTOR_TYPES
    num_queries: int = 1024  # ccam only: fixed output length
    markers: bool = True  # <|video_start|>, <|video_end|> and <|frame|> around the placeholders

    def __post_init__(self) -> None:
        if self.image_size < self.patch_size:
            raise ValueError(f"image_size {self.image_size} is smaller than patch_size {self.patch_size}")
        if (self.image_size // self.patch_size) % self.spatial_patch:
            raise ValueError("the patch grid is not a multiple of spatial_patch")
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"unknown projector_type {self.projector_type!r}")

    @property
    def features_per_frame(self) -> int:
        """ViT features per frame (CLS excluded): 1024 at 448/14."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def tokens_per_group(self) -> int:
        """Visual tokens per group of ``temporal_patch`` frames: 256 at 448/14 with 2x2x2."""
        return (self.image_size // self.patch_size // self.spatial_patch) ** 2

    def num_groups(self, num_frames: int) -> int:
        """Frame groups after temporal patchify (an odd tail is padded, so it rounds up)."""
        if num_frames < 1:
            raise ValueError(f"a video needs at least 1 frame, got {num_frames}")
        return math.ceil(num_frames / self.temporal_patch)

    def visual_tokens(self, num_frames: int) -> int:
        """``<|video_pad|>`` tokens a video of ``num_frames`` frames fills."""
        if self.projector_type == "ccam":
            self.num_groups(num_frames)  # validates
            return self.num_queries
        return self.num_groups(num_frames) * self.tokens_per_group

    def prompt_tokens(self, num_frames: int) -> int:
        """All tokens the expanded video occupies: markers, separators and placeholders."""
        if not self.markers:
            return self.visual_tokens(num_frames)
        separators = 0 if self.projector_type == "ccam" else self.num_groups(num_frames)
        return 2 + separators + self.visual_tokens(num_frames)

    def expand(self, num_frames: int) -> str:
        """The text that replaces one ``<video>`` in a prompt."""
        if not self.markers:
            return VIDEO_PAD * self.visual_tokens(num_frames)
        if self.projector_type == "ccam":
            return VIDEO_START + VIDEO_PAD * self.num_queries + VIDEO_END
        group = FRAME_SEPARATOR + VIDEO_PAD * self.tokens_per_group
        return VIDEO_START + group * self.num_groups(num_frames) + VIDEO_END
