"""A tiny model in the released Kangaroo checkpoint's structure and key names, and its reference forward.

Written from the public facts (issue 15, docs/checkpoints.md): a stock ``LlamaModel`` under
``model.`` with ``lm_head``; the EVA02-CLIP tower (the vendored reference, `eva_clip_reference`)
under ``vision_tower.vision_tower.``; ``mm_projector`` built by ``mlp2x_gelu`` (``Sequential(Linear,
GELU, Linear)``); a 3D depthwise patchify conv under a name kangaroo does not rely on. The
reference forward follows the paper for the parts no public code shows: the TPE of eq. 3-4 and the
patchify conv with the last frame repeated to an even count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

from eva_clip_reference import eva02_clip_vit

LLAMA = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=8192, tie_word_embeddings=False)
CHAT_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def llama3_like_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer with Llama-3's chat tokens and none of kangaroo's video tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in CHAT_TOKENS])
    bos = backend.token_to_id(CHAT_TOKENS[0])
    backend.post_processor = processors.TemplateProcessing(single=f"{CHAT_TOKENS[0]} $A",
                                                           special_tokens=[(CHAT_TOKENS[0], bos)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=CHAT_TOKENS[0], eos_token=CHAT_TOKENS[1],
                                   clean_up_tokenization_spaces=False)


class ReleasedKangaroo(nn.Module):
    """The released checkpoint's modules at a tiny size (module docstring)."""

    def __init__(self, vocab_size: int, width: int = 64, image_size: int = 56, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        config = LlamaConfig(vocab_size=vocab_size, **LLAMA)
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, vocab_size, bias=False)
        self.vision_tower = nn.Module()
        self.vision_tower.vision_tower = eva02_clip_vit(width=width, image_size=image_size)
        self.mm_projector = nn.Sequential(nn.Linear(width, config.hidden_size), nn.GELU(),
                                          nn.Linear(config.hidden_size, config.hidden_size))
        self.video_patchify = nn.Conv3d(width, width, 2, stride=2, groups=width)
        for module in (self.model, self.lm_head, self.mm_projector, self.video_patchify):
            for p in module.parameters():
                nn.init.normal_(p, std=0.1)  # random, and larger than the default so logits differ clearly

    def save(self, folder: Path, tokenizer: PreTrainedTokenizerFast) -> Path:
        """``pytorch_model.bin`` (torch.save of the state dict), ``config.json`` and the tokenizer."""
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), folder / "pytorch_model.bin")
        config = {"architectures": ["KangarooForCausalLM"], "model_type": "kangaroo",
                  "vocab_size": self.lm_head.out_features, **LLAMA}
        (folder / "config.json").write_text(json.dumps(config))
        tokenizer.save_pretrained(folder)
        return folder

    @torch.no_grad()
    def video_features(self, pixels: torch.Tensor, timestamps: torch.Tensor, layer: int = -2) -> torch.Tensor:
        """``(T, 3, S, S)`` frames and their times -> ``(N, D)`` visual tokens (paper section IV)."""
        tower = self.vision_tower.vision_tower
        x = tower.patch_embed(pixels)
        x = torch.cat([tower.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + tower.pos_embed
        hidden = [x]
        for block in tower.blocks:
            x = block(x)
            hidden.append(x)
        features = hidden[layer][:, 1:]  # (T, P, C): the class token dropped
        dim = features.shape[-1]
        j = torch.arange(dim, dtype=torch.float64)
        angles = timestamps.double()[:, None] / 10000.0 ** (j / dim)  # eq. 3: sin at even j, cos at odd j
        tpe = torch.where(j % 2 == 0, angles.sin(), angles.cos()).float()  # (T, C)
        features = features + tpe[:, None, :]
        side = math.isqrt(features.shape[1])
        if features.shape[0] % 2:
            features = torch.cat([features, features[-1:]])  # an odd tail repeats the last frame
        grid = features.reshape(features.shape[0], side, side, dim).permute(3, 0, 1, 2)[None]  # (1, C, T, h, w)
        merged = F.conv3d(grid, self.video_patchify.weight, self.video_patchify.bias, stride=2, groups=dim)
        tokens = merged[0].permute(1, 2, 3, 0).reshape(-1, dim)  # (G h' w', C)
        return self.mm_projector(tokens)

    @torch.no_grad()
    def logits(self, ids: list[int], features: torch.Tensor, pad_id: int) -> torch.Tensor:
        """Logits ``(L, V)`` for ``ids`` whose ``pad_id`` positions take ``features`` in order; ids
        beyond the source vocabulary (the video markers a converter adds) embed as the mean row."""
        table = self.model.embed_tokens.weight
        rows = []
        visual = iter(features)
        for i in ids:
            rows.append(next(visual) if i == pad_id else table[i] if i < len(table) else table.mean(0))
        hidden = self.model(inputs_embeds=torch.stack(rows)[None]).last_hidden_state
        return self.lm_head(hidden)[0]
