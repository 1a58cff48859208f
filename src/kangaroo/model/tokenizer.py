"""The byte-level tokenizer of the tiny Kangaroo model, the Llama-3 chat template, and video tokens.

`build_byte_tokenizer()` makes, entirely locally, a byte-level BPE tokenizer with no merges: every
UTF-8 byte is one token (ids 0-255, id = byte value), so any text in any language round-trips
exactly. Special tokens follow (ids 256-266):

    <|begin_of_text|> <|end_of_text|> <|start_header_id|> <|end_header_id|> <|eot_id|> <|pad|>
    <video> <|video_start|> <|video_end|> <|frame|> <|video_pad|>

No merges means no vocabulary learned from data: the ids never change, and the tiny model's
checkpoints stay valid. A trained bilingual BPE may replace it later.

Video-token ids have one convention: they are read from the tokenizer (`video_token_ids`), and
`add_video_tokens(tokenizer)` is the one place that adds the tokens a tokenizer lacks (to any
transformers tokenizer: a Llama-3 or Qwen2 tokenizer, for example), appending them in
`SPECIAL_VIDEO_TOKENS` order (`appended_video_token_ids`). Builders write the ids into the model's
config and the processor expands videos into them, both from the same tokenizer.
`llama3_chat_template()` is the chat template used when a tokenizer has none;
`turn_chat_template()` gives Video-CCAM's Phi-3 and ChatML formats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .layout import SPECIAL_VIDEO_TOKENS

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
END_OF_TURN = "<|eot_id|>"
PAD = "<|pad|>"
CHAT_TOKENS = (BEGIN_OF_TEXT, END_OF_TEXT, START_HEADER, END_HEADER, END_OF_TURN, PAD)
CHAT_ROLES = ("system", "user", "assistant")

# Llama-3's template, extended so that content may also be a list of HF-style parts:
# {"type": "text", "text": ...} writes the text, {"type": "video"} / {"type": "image"} writes
# <video>; parts are concatenated in order, then trimmed like a string content.
_LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{- raise_exception('Unknown role ' + message['role'] + ': use system, user or assistant') }}"
    "{%- endif %}"
    "{%- if message['content'] is string %}"
    "{%- set content = message['content'] %}"
    "{%- else %}"
    "{%- set ns = namespace(text='') %}"
    "{%- for part in message['content'] %}"
    "{%- if part['type'] == 'text' %}{%- set ns.text = ns.text + part['text'] %}"
    "{%- elif part['type'] in ['video', 'image'] %}{%- set ns.text = ns.text + '<video>' %}"
    "{%- else %}{{- raise_exception('Unknown content part type ' + part['type']) }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- set content = ns.text %}"
    "{%- endif %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + content | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)


def llama3_chat_template() -> str:
    """The Llama-3 chat template (Jinja) with ``<video>`` for video and image content parts.

    For messages ``[{"role": "user", "content": "Hi"}]`` and ``add_generation_prompt=True`` it renders
    ``<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\nHi<|eot_id|>``
    ``<|start_header_id|>assistant<|end_header_id|>\\n\\n``. Content is trimmed, as in Llama-3.
    """
    return _LLAMA3_CHAT_TEMPLATE


def turn_chat_template(style: str, bos: bool) -> str:
    """Video-CCAM's prompt formats as chat templates (string content, ``<video>`` kept in place):

    - ``phi3`` (Video-CCAM-4B/14B): ``<|user|>\\n{content}<|end|>\\n`` per turn (``<|system|>``,
      ``<|assistant|>`` likewise), then ``<|assistant|>\\n``;
    - ``chatml`` (Video-CCAM-9B, Yi-1.5): ``<|im_start|>{role}\\n{content}<|im_end|>\\n``, then
      ``<|im_start|>assistant\\n``.

    ``bos``: start with ``bos_token`` (when the tokenizer adds it, as Video-CCAM's ``tokenizer.encode``
    does). Content is not trimmed. Raises ``ValueError`` for another style.
    """
    if style == "phi3":
        turn, prompt = "'<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n'", "'<|assistant|>\\n'"
    elif style == "chatml":
        turn = "'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'"
        prompt = "'<|im_start|>assistant\\n'"
    else:
        raise ValueError(f"unknown chat template style {style!r}: phi3 or chatml")
    return (
        ("{{- bos_token }}" if bos else "")
        + "{%- for message in messages %}"
        "{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
        "{{- raise_exception('Unknown role ' + message['role'] + ': use system, user or assistant') }}"
        "{%- endif %}"
        f"{{{{- {turn} }}}}"
        "{%- endfor %}"
        f"{{%- if add_generation_prompt %}}{{{{- {prompt} }}}}{{%- endif %}}"
    )


def build_byte_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny model's tokenizer: byte-level BPE without merges plus the chat and video tokens.

    Ids 0-255 are the bytes, 256-261 `CHAT_TOKENS`, 262-266 `SPECIAL_VIDEO_TOKENS`. ``bos`` is
    ``<|begin_of_text|>`` (also added by plain ``tokenizer(text)``, as Llama-3 does), ``eos`` is
    ``<|eot_id|>`` (the end of a chat turn, where generation stops), ``pad`` is ``<|pad|>``.
    Built from code alone: deterministic, nothing downloaded.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    symbols = _byte_symbols()
    assert set(symbols) == set(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Tokenizer(models.BPE(vocab={s: b for b, s in enumerate(symbols)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    wrapped = wrap_backend(tokenizer)
    assert wrapped.bos_token_id == 256 and len(wrapped) == 256 + len(CHAT_TOKENS) + len(SPECIAL_VIDEO_TOKENS)
    return wrapped


def wrap_backend(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """Mark the chat and video tokens special in a ``tokenizers`` backend (appended after its
    vocabulary where missing), add the ``<|begin_of_text|>`` post-processor, and wrap it for
    transformers with bos/eos/pad and `llama3_chat_template()`. Shared by the byte tokenizer and
    the trained BPE (`kangaroo.model.tokenizer_training`)."""
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast

    backend.add_special_tokens(
        [AddedToken(s, special=True, normalized=False) for s in (*CHAT_TOKENS, *SPECIAL_VIDEO_TOKENS)]
    )
    bos_id = backend.token_to_id(BEGIN_OF_TEXT)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BEGIN_OF_TEXT} $A",
        pair=f"{BEGIN_OF_TEXT} $A {BEGIN_OF_TEXT}:1 $B:1",
        special_tokens=[(BEGIN_OF_TEXT, bos_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BEGIN_OF_TEXT,
        eos_token=END_OF_TURN,
        pad_token=PAD,
        extra_special_tokens=[END_OF_TEXT, START_HEADER, END_HEADER, *SPECIAL_VIDEO_TOKENS],
        chat_template=llama3_chat_template(),
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte 0-255, as the ByteLevel pre-tokenizer maps them."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def video_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """``{token: id}`` of the video tokens (`SPECIAL_VIDEO_TOKENS`, in that order) in ``tokenizer``.

    The one source of video-token ids: builders copy them into `KangarooConfig`, the processor
    expands videos into them. Raises ``ValueError`` naming the tokens the tokenizer lacks (as added
    tokens); `add_video_tokens` adds them.
    """
    added = tokenizer.get_added_vocab()  # {token string: id}
    missing = [t for t in SPECIAL_VIDEO_TOKENS if t not in added]
    if missing:
        raise ValueError(
            f"the tokenizer lacks the video tokens {missing}: call "
            "kangaroo.model.tokenizer.add_video_tokens(tokenizer) and resize the model's embeddings"
        )
    return {t: added[t] for t in SPECIAL_VIDEO_TOKENS}


def appended_video_token_ids(vocab_size: int) -> dict[str, int]:
    """The ids `add_video_tokens` gives a tokenizer of ``vocab_size`` tokens that has none of the
    video tokens: ``vocab_size``, ``vocab_size + 1``, ... in `SPECIAL_VIDEO_TOKENS` order. For an
    architecture described without its tokenizer (``kangaroo_8b``: Llama-3's 128,256 tokens)."""
    return {t: vocab_size + i for i, t in enumerate(SPECIAL_VIDEO_TOKENS)}


def add_video_tokens(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """Add the video tokens (`SPECIAL_VIDEO_TOKENS`) that ``tokenizer`` lacks, as special tokens.

    Works on any transformers tokenizer (fast or slow). Returns `video_token_ids` (all five).
    Tokens already there keep their ids; missing ones are appended in `SPECIAL_VIDEO_TOKENS` order
    (`appended_video_token_ids` when all five are missing), so resize the model's embeddings to
    ``len(tokenizer)`` after adding.
    """
    from tokenizers import AddedToken

    added = set(tokenizer.get_added_vocab())
    missing = [t for t in SPECIAL_VIDEO_TOKENS if t not in added]
    if missing:
        tokenizer.add_tokens(
            [AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True
        )
    try:
        return video_token_ids(tokenizer)
    except ValueError:
        raise ValueError(
            f"could not add the video tokens {SPECIAL_VIDEO_TOKENS} to {type(tokenizer).__name__}"
        ) from None
