"""A tiny Video-CCAM checkpoint in the release's folder layout, and its reference forward.

Written from the public Video-CCAM code (QQ-MM/Video-CCAM ``model/videoccam.py``,
``model/factory.py``, v1.0): the release folder holds ``projector/`` (an HF model loaded with remote
code), ``llm_adapter/`` and ``visual_encoder_adapter/`` (PEFT LoRA); the base LLM and SigLIP are
separate folders. Loading: the LLM gets ``<time>``, ``</time>`` (``resize_token_embeddings(V + 2)``,
the last two input rows zeroed, ``tokenizer.add_tokens``), then its PEFT adapter; SigLIP its
adapter. A prompt is ``template.format(input=text)`` split at ``<video>``:
``tokenizer.encode(before) + [visual tokens] + tokenizer.encode(after, add_special_tokens=False)``,
the visual tokens being ``projector(siglip(frames).hidden_states[-2], split_sizes)[video]``.

The projector's code is not public text here: `ReferenceCCAMProjector` has the key names
kangaroo's converter assumes (`kangaroo.model.convert.VIDEO_CCAM_PROJECTOR_KEYS`, from the field
names of Video-CCAM-7B-v1.2's ``projector_config``) and the paper's math, written independently
of kangaroo's `CCAMProjector` (explicit softmax, the mask as an integer inequality).

`ReleasedVideoCCAM.save_single_folder` writes the same tiny model in Video-CCAM v1.2's public
folder layout (HF ``JaronTHU/Video-CCAM-7B-v1.2``: one ``config.json`` with ``model_type``
``videoccam``, ``text_config``, ``vision_config``, ``projector_config``; merged weights in
safetensors shards with an index). Its top-level key prefixes are placeholders: the release's are
not public, which is why kangaroo refuses to convert such a folder.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import (
    Phi3Config,
    Phi3ForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    SiglipConfig,
    SiglipModel,
    SiglipVisionModel,
)

PHI3_TOKENS = ["<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]
CHATML_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PHI3_TEMPLATE = "<|user|>\n{input}<|end|>\n<|assistant|>\n"  # model/factory.py, Video-CCAM-4B
QWEN_TEMPLATE = (  # a Qwen2.5-style chat template with its default system prompt
    "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
TIME_TOKENS = ["<time>", "</time>"]
IMAGE_TOKEN_INDEX = -200


def byte_tokenizer(specials: list[str], bos: str | None, eos: str, chat_template: str | None = None):
    """A byte-level BPE tokenizer without merges and with ``specials`` (BOS prepended when ``bos``)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if bos is not None:
        backend.post_processor = processors.TemplateProcessing(single=f"{bos} $A",
                                                               special_tokens=[(bos, backend.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos,
                                   clean_up_tokenization_spaces=False, chat_template=chat_template)


class Attention(nn.Module):
    """Multi-head attention with Llama-style names; the reference math written out."""

    def __init__(self, dim: int, context_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.o_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.k_proj, self.v_proj = nn.Linear(context_dim, dim), nn.Linear(context_dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q_proj(x), self.k_proj(context), self.v_proj(context)
        d = q.shape[-1] // self.heads
        out = []
        for h in range(self.heads):
            part = slice(h * d, (h + 1) * d)
            scores = q[:, part] @ k[:, part].T / math.sqrt(d)  # (L, S)
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
            out.append(weights @ v[:, part])
        return self.o_proj(torch.cat(out, dim=-1))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(dim, hidden), nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class ReferenceCCAMProjector(nn.Module):
    """The CCAM projector (one pre-LN block: causal self-attention over the queries, cross-attention
    to the video under the causal cross-attention mask, SwiGLU MLP; LayerNorm and a linear out)."""

    def __init__(self, visual: int, hidden: int, out: int, num_query: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, num_query, hidden))
        self.self_attn_norm, self.self_attn = nn.LayerNorm(hidden), Attention(hidden, hidden, heads)
        self.cross_attn_norm, self.visual_norm = nn.LayerNorm(hidden), nn.LayerNorm(visual)
        self.cross_attn = Attention(hidden, visual, heads)
        self.mlp_norm, self.mlp = nn.LayerNorm(hidden), SwiGLU(hidden, intermediate)
        self.norm, self.output_proj = nn.LayerNorm(hidden), nn.Linear(hidden, out)
        self.config = {"num_query": num_query, "num_heads": heads, "hidden_size": hidden, "cross_hidden_size": visual,
                       "output_size": out, "intermediate_size": intermediate, "hidden_act": "swiglu"}

    def forward(self, features: torch.Tensor, split_sizes: list[int]) -> torch.Tensor:
        """``(F, P, C)`` features of all videos' frames -> ``(V, Q, out)``."""
        q = self.query.shape[1]
        outputs = []
        for video in torch.split(features, split_sizes):
            frames, per_frame = video.shape[:2]
            frame_of = torch.arange(frames * per_frame) // per_frame  # (T P,): each visual token's frame
            rank = torch.arange(q)[:, None]
            cross = frame_of[None, :] * q < (rank + 1) * frames  # frame t visible to query i iff t < (i+1) T / Q
            causal = torch.arange(q)[None, :] <= rank
            context = self.visual_norm(video.reshape(frames * per_frame, -1))
            x = self.query[0]
            h = self.self_attn_norm(x)
            x = x + self.self_attn(h, h, causal)
            x = x + self.cross_attn(self.cross_attn_norm(x), context, cross)
            x = x + self.mlp(self.mlp_norm(x))
            outputs.append(self.output_proj(self.norm(x)))
        return torch.stack(outputs)


class ReleasedVideoCCAM:
    """The tiny release: SigLIP (full, with its text tower), a Phi-3 or Qwen2 LLM, the projector
    and (optionally) LoRA adapters on the LLM and SigLIP, loaded as Video-CCAM loads them."""

    def __init__(self, llm: str = "phi3", adapters: bool = True, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.family = llm
        if llm == "phi3":
            self.tokenizer = byte_tokenizer(PHI3_TOKENS, bos="<s>", eos="<|endoftext|>")
            vocab = len(self.tokenizer) + 9  # Phi-3's table is larger than its tokenizer (32064 rows, 32011 tokens)
            self.llm_config = Phi3Config(vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                                         pad_token_id=0, bos_token_id=256, eos_token_id=258, tie_word_embeddings=False)
            self.base = Phi3ForCausalLM(self.llm_config)
        else:
            self.tokenizer = byte_tokenizer(CHATML_TOKENS, bos=None, eos="<|im_end|>", chat_template=QWEN_TEMPLATE)
            self.llm_config = Qwen2Config(vocab_size=len(self.tokenizer), hidden_size=48, intermediate_size=96,
                                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                          max_position_embeddings=4096, tie_word_embeddings=False)
            self.base = Qwen2ForCausalLM(self.llm_config)
        for p in self.base.parameters():
            nn.init.normal_(p, std=0.1)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      image_size=30, patch_size=14)  # 30 px / 14 = 2 x 2 patches: the remainder is dropped, as 384 / 14
        text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=50)
        self.siglip = SiglipModel(SiglipConfig(vision_config=vision, text_config=text))
        self.projector = ReferenceCCAMProjector(32, 24, 48, num_query=6, heads=4, intermediate=40)
        for module in (self.siglip, self.projector):
            for name, p in module.named_parameters():
                nn.init.normal_(p, mean=1.0 if "norm" in name and name.endswith("weight") else 0.0, std=0.1)
        self.adapters = adapters

    def save(self, root: Path) -> dict[str, Path]:
        """The release folder (``src``), the base LLM (``llm``) and SigLIP (``vision``) under ``root``."""
        from peft import LoraConfig, get_peft_model
        from safetensors.torch import load_file, save_file

        src, llm, vision = root / "Video-CCAM-tiny", root / "llm", root / "siglip"
        self.base.save_pretrained(llm)
        self.tokenizer.save_pretrained(llm)
        self.siglip.save_pretrained(vision)
        (vision / "preprocessor_config.json").write_text(json.dumps(
            {"image_processor_type": "SiglipImageProcessor", "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
             "size": {"height": 30, "width": 30}, "resample": 3}))
        (src / "projector").mkdir(parents=True)
        torch.save(self.projector.state_dict(), src / "projector" / "pytorch_model.bin")
        (src / "projector" / "config.json").write_text(json.dumps(
            {"architectures": ["CCAMModel"], "model_type": "ccam", **self.projector.config}))
        if self.adapters:
            torch.manual_seed(1)
            llm_modules = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"] if self.family == "phi3" else \
                ["q_proj", "k_proj", "v_proj", "o_proj"]
            with warnings.catch_warnings():  # peft calls a transformers 5 deprecated alias
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                llm_lora = get_peft_model(self.loaded_llm(), LoraConfig(
                    r=4, lora_alpha=8, target_modules=llm_modules, init_lora_weights=False, task_type="CAUSAL_LM"))
                vision_lora = get_peft_model(self.vision_model(), LoraConfig(
                    r=2, lora_alpha=6, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
            llm_lora.save_pretrained(src / "llm_adapter")
            vision_lora.save_pretrained(root / "vision_adapter_v5")  # for the reference (transformers 5 names)
            release = src / "visual_encoder_adapter"  # the release's: transformers 4.40's SiglipVisionModel.vision_model
            release.mkdir()
            (release / "adapter_config.json").write_bytes((root / "vision_adapter_v5" / "adapter_config.json").read_bytes())
            state = load_file(root / "vision_adapter_v5" / "adapter_model.safetensors")
            save_file({k.replace("base_model.model.", "base_model.model.vision_model.", 1): v for k, v in state.items()},
                      release / "adapter_model.safetensors")
        return {"src": src, "llm": llm, "vision": vision, "vision_adapter_v5": root / "vision_adapter_v5"}

    def save_single_folder(self, folder: Path) -> Path:
        """``folder`` in Video-CCAM v1.2's layout (module docstring): two safetensors shards and
        their index holding ``llm.*``, ``vision_encoder.*`` (the attribute v1.2's web_demo.py reads)
        and ``projector.*`` (placeholder prefixes), and config.json with the public fields."""
        from safetensors.torch import save_file

        folder.mkdir(parents=True)
        parts = {"llm.": self.base.state_dict(), "projector.": self.projector.state_dict(),
                 "vision_encoder.vision_model.": self.siglip.vision_model.state_dict()}  # transformers 4.44's names
        shards = {"model-00001-of-00002.safetensors": ["llm."],
                  "model-00002-of-00002.safetensors": ["vision_encoder.vision_model.", "projector."]}
        weight_map = {}
        for name, prefixes in shards.items():
            tensors = {prefix + key: value.contiguous() for prefix in prefixes for key, value in parts[prefix].items()}
            save_file(tensors, folder / name, metadata={"format": "pt"})
            weight_map |= dict.fromkeys(tensors, name)
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        vocab = len(self.tokenizer)
        (folder / "config.json").write_text(json.dumps({
            "architectures": ["VideoCCAM"], "model_type": "videoccam",
            "auto_map": {"AutoConfig": "configuration_videoccam.VideoCCAMConfig",
                         "AutoModel": "modeling_videoccam.VideoCCAM"},
            "image_token_id": vocab, "video_token_id": vocab + 1,  # as <image>, <video> after Qwen2.5's tokens
            "projector_config": self.projector.config, "text_config": self.llm_config.to_dict(),
            "vision_config": self.siglip.config.vision_config.to_dict(), "torch_dtype": "float32"}))
        return folder

    def loaded_llm(self) -> nn.Module:
        """The base LLM with ``<time>`` and ``</time>``, as Video-CCAM's loader sets it up."""
        import copy

        llm = copy.deepcopy(self.base)
        rows = llm.get_input_embeddings().weight.shape[0]
        llm.resize_token_embeddings(rows + len(TIME_TOKENS), mean_resizing=False)
        with torch.no_grad():
            llm.get_input_embeddings().weight[-len(TIME_TOKENS):].zero_()
            llm.get_output_embeddings().weight[-len(TIME_TOKENS):].zero_()  # random in the release (see docs)
        return llm

    def vision_model(self) -> SiglipVisionModel:
        tower = SiglipVisionModel(self.siglip.config.vision_config)
        tower.load_state_dict(self.siglip.vision_model.state_dict())  # same names in transformers 5
        return tower

    def load(self, folders: dict[str, Path]) -> None:
        """Load the saved release as Video-CCAM does (adapters through PEFT) for `features` / `logits`."""
        from peft import PeftModel

        self.tokenizer.add_tokens(TIME_TOKENS, special_tokens=True)
        self.llm, self.tower = self.loaded_llm().eval(), self.vision_model().eval()
        if self.adapters:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                self.llm = PeftModel.from_pretrained(self.llm, folders["src"] / "llm_adapter").eval()
                self.tower = PeftModel.from_pretrained(self.tower, folders["vision_adapter_v5"]).eval()

    @torch.no_grad()
    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(T, 3, S, S)`` frames of one video -> its ``(Q, D)`` visual tokens."""
        hidden = self.tower(pixels, output_hidden_states=True).hidden_states[-2]  # visual_select_layer
        return self.projector(hidden, [pixels.shape[0]])[0]

    def prompt_ids(self, text: str) -> list[int]:
        """Video-CCAM's ids for one user turn ``text`` (holding ``<video>``), ``IMAGE_TOKEN_INDEX`` at the video."""
        if self.family == "phi3":
            rendered = PHI3_TEMPLATE.format(input=text)
        else:  # v1.2: the tokenizer's own template
            rendered = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                          add_generation_prompt=True)
        before, after = rendered.split("<video>")
        return [*self.tokenizer.encode(before), IMAGE_TOKEN_INDEX, *self.tokenizer.encode(after, add_special_tokens=False)]

    @torch.no_grad()
    def logits(self, ids: list[int], features: torch.Tensor) -> torch.Tensor:
        """``(L, V)`` logits, the visual tokens spliced in at ``IMAGE_TOKEN_INDEX``."""
        at = ids.index(IMAGE_TOKEN_INDEX)
        embed = self.llm.get_input_embeddings()
        rows = torch.cat([embed(torch.tensor(ids[:at])), features, embed(torch.tensor(ids[at + 1:]))])
        return self.llm(inputs_embeds=rows[None]).logits[0]
