"""`KangarooConfig`: a vision tower config, a text (LLM) config and the video-specific settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from . import eva  # noqa: F401 - registers the EVA02 vision config for vision_config dicts
from .layout import (
    CCAM_MLPS,
    FRAME_SEPARATOR,
    PROJECTOR_TYPES,
    VIDEO_END,
    VIDEO_PAD,
    VIDEO_START,
    VideoTokenLayout,
)

# the config field holding each video token's id (``<video>`` is expanded by the processor and
# never reaches the model, so it has none)
VIDEO_TOKEN_ID_FIELDS = {
    VIDEO_START: "video_start_token_id",
    VIDEO_END: "video_end_token_id",
    FRAME_SEPARATOR: "frame_token_id",
    VIDEO_PAD: "video_pad_token_id",
}


def video_token_id_fields(token_ids: Mapping[str, int]) -> dict[str, int]:
    """`KangarooConfig` keyword arguments ``{"video_start_token_id": ..., ...}`` from ``{token: id}``
    (`kangaroo.model.tokenizer.video_token_ids`)."""
    return {field: int(token_ids[token]) for token, field in VIDEO_TOKEN_ID_FIELDS.items()}


class KangarooConfig(PreTrainedConfig):
    """Configuration of `KangarooForCausalLM`.

    ``vision_config`` is any transformers vision-tower config (CLIP or SigLIP vision model);
    ``text_config`` any causal-LM config (Llama, Qwen2, ...). The rest are the paper's parts:
    the layer whose features are used, the temporal position embedding, the patchify kernel,
    the projector, and the ids of the video tokens in the tokenizer.
    """

    model_type = "kangaroo"
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="clip_vision_model"),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    vision_feature_layer: int = -2  # hidden layer of the vision tower to use: the penultimate
    use_temporal_embedding: bool = True  # add TPE(t) to the frame features (Video-CCAM has none)
    tpe_theta: float = 10000.0  # base of the sinusoidal temporal position embedding (eq. 3-4)
    patchify_kernel: tuple[int, int, int] | list[int] = (2, 2, 2)  # (frames, height, width) merged; 1,1,1: none
    projector_type: str = "linear"  # "linear" (Kangaroo paper) | "mlp" (LLaVA mlp{N}x_gelu) | "ccam" (Video-CCAM)
    projector_depth: int = 2  # mlp: linear layers (GELU between them)
    ccam_num_queries: int = 1024  # ccam: fixed number of output tokens per video
    ccam_num_heads: int = 16  # ccam: attention heads of the query block
    ccam_hidden_size: int | None = None  # ccam: size of the queries (None: the vision width)
    ccam_mlp: str = "gelu"  # ccam: the block's MLP, "gelu" (Linear, GELU, Linear) | "swiglu" (gate, up, down)
    ccam_intermediate_size: int | None = None  # ccam: the MLP's hidden size (None: 4x the query size)
    video_markers: bool = True  # <|video_start|>/<|video_end|>/<|frame|> around a video's tokens (Video-CCAM: none)
    video_start_token_id: int = 0  # ids of the layout's special tokens, read from the tokenizer
    video_end_token_id: int = 0
    frame_token_id: int = 0
    video_pad_token_id: int = 0  # placeholder positions that receive visual features
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs) -> None:
        super().__post_init__(**kwargs)
        self.patchify_kernel = tuple(int(k) for k in self.patchify_kernel)
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type must be one of {', '.join(PROJECTOR_TYPES)}, got {self.projector_type!r}")
        if self.ccam_mlp not in CCAM_MLPS:
            raise ValueError(f"ccam_mlp must be one of {', '.join(CCAM_MLPS)}, got {self.ccam_mlp!r}")
        self.layout  # noqa: B018 - validates image size, patch size and kernel together

    def check_video_token_ids(self, token_ids: Mapping[str, int]) -> None:
        """Raise ``ValueError`` when the ids a processor's tokenizer gives the video tokens
        (``{token: id}``) differ from this config's: the model would scatter features elsewhere."""
        wrong = [f"{token}: config {getattr(self, field)}, tokenizer {token_ids.get(token)}"
                 for token, field in VIDEO_TOKEN_ID_FIELDS.items() if token_ids.get(token) != getattr(self, field)]
        if wrong:
            raise ValueError(f"the tokenizer's video-token ids differ from the model config's: {'; '.join(wrong)}")

    @property
    def layout(self) -> VideoTokenLayout:
        """Token counts per video for this configuration."""
        kt, kh, kw = self.patchify_kernel
        if kh != kw:
            raise ValueError(f"patchify_kernel needs equal height and width, got {self.patchify_kernel}")
        return VideoTokenLayout(
            image_size=self.vision_config.image_size,
            patch_size=self.vision_config.patch_size,
            temporal_patch=kt,
            spatial_patch=kh,
            projector_type=self.projector_type,
            num_queries=self.ccam_num_queries,
            markers=self.video_markers,
        )
