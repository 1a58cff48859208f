"""`KangarooForCausalLM`: vision tower -> + TPE(t) -> 3D patchify -> projector -> LLM.

Data flow for one batch (section IV-A of the paper):

    pixel_values_videos (F, 3, S, S), video_timestamps (F,), video_frame_counts (V,)
      -> vision tower, hidden layer ``vision_feature_layer``      (F, P, C)   P = (S / patch)^2
      -> + TemporalPositionEmbedding(timestamps)                 (F, P, C)   unless use_temporal_embedding=False
      -> per video: SpatioTemporalPatchify                        (G, h, w, C) G = ceil(T / 2)
      -> projector (linear, mlp: every token; ccam: fixed queries) (N_v, D)
      -> scattered into the ``<|video_pad|>`` positions of the prompt embeddings
      -> the causal LM (SDPA attention)

The processor decides how many placeholders a video gets (`VideoTokenLayout`); the model checks
that count against the features it produced and raises ``ValueError`` with both numbers.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast

from . import packing  # noqa: F401 - registers the "sdpa_packed" attention with transformers
from .configuration import KangarooConfig
from .patchify import SpatioTemporalPatchify
from .projector import CCAMProjector, LinearProjector, MLPProjector
from .temporal import TemporalPositionEmbedding

# PEFT adapter folders a saved model may hold -> the module each adapts
ADAPTER_FOLDERS = {"llm_adapter": "language_model", "vision_adapter": "vision_tower"}


class KangarooPreTrainedModel(PreTrainedModel):
    config: KangarooConfig
    config_class = KangarooConfig
    base_model_prefix = "kangaroo"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:
        """Standard init, except: patchify starts as averaging (the paper's "uniform" init) and
        the CCAM queries are drawn from N(0, 0.02)."""
        if isinstance(module, SpatioTemporalPatchify):
            init.constant_(module.conv.weight, 1.0 / math.prod(module.conv.kernel_size))
            init.zeros_(module.conv.bias)
        elif isinstance(module, CCAMProjector):
            init.normal_(module.queries, mean=0.0, std=0.02)
        elif not isinstance(module, nn.Conv3d):  # the patchify conv is set by its parent above
            super()._init_weights(module)


class KangarooForCausalLM(KangarooPreTrainedModel, GenerationMixin):
    """The Kangaroo video LLM as a transformers causal LM (see the module docstring)."""

    def __init__(self, config: KangarooConfig) -> None:
        super().__init__(config)
        vision_dim = config.vision_config.hidden_size
        text_dim = config.text_config.hidden_size
        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.temporal_embedding = (TemporalPositionEmbedding(vision_dim, theta=config.tpe_theta)
                                   if config.use_temporal_embedding else None)
        self.patchify = SpatioTemporalPatchify(vision_dim, kernel=tuple(config.patchify_kernel))
        if config.projector_type == "ccam":
            self.projector = CCAMProjector(vision_dim, text_dim, num_queries=config.ccam_num_queries,
                                           num_heads=config.ccam_num_heads, hidden_dim=config.ccam_hidden_size,
                                           mlp=config.ccam_mlp, intermediate_dim=config.ccam_intermediate_size)
        elif config.projector_type == "mlp":
            self.projector = MLPProjector(vision_dim, text_dim, depth=config.projector_depth)
        else:
            self.projector = LinearProjector(vision_dim, text_dim)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.post_init()

    # -- embeddings, for generation and resizing ------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    # -- visual branch -------------------------------------------------------------------------
    def encode_frames(self, pixel_values: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """Vision-tower features of every frame: ``(F, 3, S, S)`` -> ``(F, P, C)``.

        Frames go through the tower in chunks of ``chunk``; the hidden layer is
        ``config.vision_feature_layer`` and a class token, when the tower has one, is dropped.
        """
        patches = (self.config.vision_config.image_size // self.config.vision_config.patch_size) ** 2
        dtype = next(self.vision_tower.parameters()).dtype
        outputs = []
        for start in range(0, pixel_values.shape[0], chunk):
            batch = pixel_values[start : start + chunk].to(dtype)
            hidden = self.vision_tower(batch, output_hidden_states=True).hidden_states
            features = hidden[self.config.vision_feature_layer]  # (f, P or 1 + P, C)
            outputs.append(features[:, -patches:])  # (f, P, C): drop the class token if any
        return torch.cat(outputs)

    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        video_timestamps: torch.Tensor,
        video_frame_counts: torch.Tensor | list[int],
    ) -> list[torch.Tensor]:
        """Visual tokens for each video: a list of ``(N_v, D)`` in the LLM's embedding space.

        pixel_values_videos: ``(F, 3, S, S)`` normalised frames of all videos, concatenated.
        video_timestamps:    ``(F,)`` each frame's real time in seconds (TPE input).
        video_frame_counts:  ``(V,)`` frames per video, summing to F.
        """
        counts = [int(c) for c in video_frame_counts]
        if sum(counts) != pixel_values_videos.shape[0] or len(video_timestamps) != pixel_values_videos.shape[0]:
            raise ValueError(
                f"video_frame_counts sum to {sum(counts)} and video_timestamps has {len(video_timestamps)} "
                f"entries, but pixel_values_videos has {pixel_values_videos.shape[0]} frames"
            )
        features = self.encode_frames(pixel_values_videos)  # (F, P, C)
        if self.temporal_embedding is not None:
            tpe = self.temporal_embedding(video_timestamps.to(features.device), dtype=features.dtype)  # (F, C)
            features = features + tpe[:, None, :]  # (F, P, C)
        side = math.isqrt(features.shape[1])
        projector_dtype = next(self.projector.parameters()).dtype
        out = []
        for video in torch.split(features, counts):  # (T, P, C) each
            grid = video.reshape(video.shape[0], side, side, -1)  # (T, h, w, C)
            merged = self.patchify(grid)  # (G, h', w', C)
            groups = merged.reshape(merged.shape[0], -1, merged.shape[-1]).to(projector_dtype)  # (G, h'w', C)
            if self.config.projector_type == "ccam":
                out.append(self.projector(groups))  # (num_queries, D)
            else:
                out.append(self.projector(groups.reshape(-1, groups.shape[-1])))  # (G h'w', D)
        return out

    def scatter_video_features(
        self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """Put ``features`` ``(N, D)`` into the ``<|video_pad|>`` positions of ``inputs_embeds``
        ``(B, L, D)``, in order. Raises ``ValueError`` when N differs from the placeholder count."""
        mask = input_ids == self.config.video_pad_token_id  # (B, L)
        n_tokens, n_features = int(mask.sum()), int(features.shape[0])
        if n_tokens != n_features:
            raise ValueError(
                f"Video features and video tokens do not match: tokens: {n_tokens}, features: {n_features}"
            )
        expanded = mask.unsqueeze(-1).expand_as(inputs_embeds)  # (B, L, D)
        return inputs_embeds.masked_scatter(expanded, features.to(inputs_embeds.dtype))

    # -- forward -------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        video_timestamps: torch.Tensor | None = None,
        video_frame_counts: torch.Tensor | None = None,
        video_features: torch.Tensor | list[torch.Tensor] | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Causal-LM forward with videos.

        Videos come either as pixels (``pixel_values_videos`` + ``video_timestamps`` +
        ``video_frame_counts``) or as precomputed ``video_features`` (``(N, D)`` or a list of
        them, from `get_video_features`), and fill the ``<|video_pad|>`` positions of
        ``input_ids``. A chunk without placeholders (a decoding step, a later chat turn) needs no
        video. ``cache`` is the transformers KV cache of the tokens before ``input_ids``.
        ``labels`` use -100 for positions without loss.
        """
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, L, D)
            if bool((input_ids == self.config.video_pad_token_id).any()):
                if video_features is None:
                    if pixel_values_videos is None:
                        raise ValueError("the prompt has video placeholder tokens but no video was given")
                    video_features = self.get_video_features(
                        pixel_values_videos, video_timestamps, video_frame_counts
                    )
                if isinstance(video_features, (list, tuple)):
                    video_features = torch.cat(list(video_features))
                inputs_embeds = self.scatter_video_features(input_ids, inputs_embeds, video_features)
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' ``from_pretrained``, then the PEFT LoRA adapters saved in the folder's
        ``llm_adapter/`` and ``vision_adapter/`` (`kangaroo convert` without ``--merge-lora``) are
        applied to the LLM and the vision tower. Raises ``ImportError`` when peft is missing."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        folder = Path(pretrained_model_name_or_path)
        found = {name: module for name, module in ADAPTER_FOLDERS.items() if (folder / name / "adapter_config.json").is_file()}
        if found:
            try:
                from peft import PeftModel
            except ImportError:
                raise ImportError(f"{folder} has LoRA adapters ({', '.join(found)}): pip install 'kangaroo[train]' "
                                  "for peft, or convert with --merge-lora") from None
            with warnings.catch_warnings():  # peft calls a transformers 5 deprecated alias; not the user's concern
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                for name, module in found.items():
                    setattr(model, module, PeftModel.from_pretrained(getattr(model, module), folder / name))
        return model

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """transformers' ``save_pretrained``, plus the two files (`kangaroo.model.hub_code`) that let
        ``AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)`` load the folder
        without ``import kangaroo``."""
        from .hub_code import AUTO_MAP, write_hub_code

        self.config.auto_map = dict(AUTO_MAP)
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            write_hub_code(save_directory)

    # -- chat (the original Kangaroo API; the logic lives in kangaroo.inference.chat) ------------
    def chat(self, video_path, query: str, tokenizer=None, history=None, feature_cache=None, **generate_kwargs):
        """Answer ``query`` about the video at ``video_path``: returns ``(answer, history)``.

        The original Kangaroo API: pass ``history`` back for the next turn, which reuses the
        video's features and the KV cache of the conversation so far. ``tokenizer`` may be a
        tokenizer or a `KangarooProcessor`; by default the processor saved beside the model.
        ``feature_cache`` (a `FeatureCache`) keeps visual features on disk across sessions.
        Greedy by default; ``do_sample=True, temperature=..., top_p=...`` samples.
        See `kangaroo.inference.chat.chat`.
        """
        from kangaroo.inference.chat import chat, chat_processor

        processor = chat_processor(self, tokenizer)
        return chat(self, processor, video_path, query, history, feature_cache, **generate_kwargs)

    def stream_chat(self, video_path, query: str, tokenizer=None, history=None, feature_cache=None,
                    **generate_kwargs):
        """Like `chat`, as a `ChatStream`: iterate for text pieces, then read ``.answer`` and ``.history``."""
        from kangaroo.inference.chat import ChatStream, chat_processor

        processor = chat_processor(self, tokenizer)
        return ChatStream(self, processor, video_path, query, history, feature_cache, **generate_kwargs)


AutoConfig.register("kangaroo", KangarooConfig, exist_ok=True)
AutoModelForCausalLM.register(KangarooConfig, KangarooForCausalLM, exist_ok=True)
