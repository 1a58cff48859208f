"""The tiny model's byte-level tokenizer, the Llama-3 chat template and `add_video_tokens`."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from kangaroo.model.layout import SPECIAL_VIDEO_TOKENS
from kangaroo.model.tokenizer import (
    CHAT_TOKENS,
    add_video_tokens,
    appended_video_token_ids,
    build_byte_tokenizer,
    llama3_chat_template,
    turn_chat_template,
    video_token_ids,
)

TEXTS = [
    "Please describe this video.",
    "请描述这个视频的内容。",
    "视频里有一只袋鼠 (a kangaroo) 跳了 3 次！",
    "emoji 🦘👍🏽 and flags 🇨🇳🇬🇧, ZWJ 👩‍👩‍👧",
    "  leading and trailing spaces, tabs\tand\nnew\r\nlines  \n\n",
    "control \x00\x01\x7f and combining é vs é, ﬁ ligature",
    "",
]


@pytest.fixture(scope="module")
def tokenizer():
    return build_byte_tokenizer()


def test_ids_are_bytes(tokenizer):
    ascii_text = bytes(range(128)).decode("ascii")
    assert tokenizer.encode(ascii_text, add_special_tokens=False) == list(range(128))
    assert tokenizer.encode("é袋", add_special_tokens=False) == list("é袋".encode())


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tokenizer, text):
    ids = tokenizer.encode(text)
    assert ids[0] == tokenizer.bos_token_id
    assert ids[1:] == list(text.encode("utf-8"))
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_special_tokens(tokenizer):
    specials = [*CHAT_TOKENS, *SPECIAL_VIDEO_TOKENS]
    ids = tokenizer.convert_tokens_to_ids(specials)
    assert ids == list(range(256, 256 + len(specials)))
    assert len(tokenizer) == 256 + len(specials)
    assert tokenizer.bos_token == "<|begin_of_text|>"
    assert tokenizer.eos_token == "<|eot_id|>"
    assert tokenizer.pad_token == "<|pad|>"
    for token, token_id in zip(specials, ids, strict=True):
        # typed into the raw tokenizer it is the special token; skipped when decoding
        assert tokenizer.encode(f"a{token}b", add_special_tokens=False) == [97, token_id, 98]
        assert tokenizer.decode([97, token_id, 98], skip_special_tokens=True) == "ab"
        # split_special_tokens=True (what the processor uses for user text) gives its bytes
        plain = tokenizer.encode(token, add_special_tokens=False, split_special_tokens=True)
        assert plain == list(token.encode())
    # and the flag does not stick to later calls
    assert tokenizer.encode("<|eot_id|>", add_special_tokens=False) == [tokenizer.eos_token_id]


def test_build_is_deterministic(tokenizer):
    assert build_byte_tokenizer().backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()


def test_chat_template_two_turns(tokenizer):
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What happens?"},
        {"role": "assistant", "content": "A kangaroo jumps."},
        {"role": "user", "content": " 最后发生了什么？\n"},
    ]
    expected = (
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat happens?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nA kangaroo jumps.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n最后发生了什么？<|eot_id|>"
    )
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == expected
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == expected + "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assert tokenizer.chat_template == llama3_chat_template()


def test_chat_template_content_parts(tokenizer):
    parts = [
        {
            "role": "user",
            "content": [{"type": "video"}, {"type": "text", "text": "Describe. "}, {"type": "image"}],
        }
    ]
    rendered = tokenizer.apply_chat_template(parts, tokenize=False)
    assert (
        rendered
        == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<video>Describe. <video><|eot_id|>"
    )


def test_chat_template_rejects_unknown_roles(tokenizer):
    with pytest.raises(Exception, match="Unknown role tool"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_save_and_load(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = "袋鼠 <|eot_id|> 🦘"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.chat_template == tokenizer.chat_template
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.pad_token_id) == (256, 260, 261)


def _word_level_tokenizer() -> PreTrainedTokenizerFast:
    """A user's tokenizer without video tokens: word level, built locally."""
    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "<": 3, ">": 4, "video": 5}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def test_add_video_tokens_to_another_tokenizer():
    tokenizer = _word_level_tokenizer()
    assert tokenizer.encode("hello <video> world") == [1, 3, 5, 4, 2]
    ids = add_video_tokens(tokenizer)
    assert ids == appended_video_token_ids(6) == dict(zip(SPECIAL_VIDEO_TOKENS, range(6, 11), strict=True))
    assert len(tokenizer) == 6 + len(SPECIAL_VIDEO_TOKENS)
    assert video_token_ids(tokenizer) == ids
    assert tokenizer.encode("hello <video> world <|video_pad|>") == [1, ids["<video>"], 2, ids["<|video_pad|>"]]
    assert tokenizer.decode([1, ids["<video>"], ids["<|frame|>"], 2], skip_special_tokens=True) == "hello world"
    assert add_video_tokens(tokenizer) == ids  # idempotent
    assert len(tokenizer) == 6 + len(SPECIAL_VIDEO_TOKENS)


def test_add_video_tokens_keeps_existing_ids(tokenizer):
    before = len(tokenizer)
    expected = dict(zip(SPECIAL_VIDEO_TOKENS, tokenizer.convert_tokens_to_ids(list(SPECIAL_VIDEO_TOKENS)), strict=True))
    assert add_video_tokens(tokenizer) == expected == video_token_ids(tokenizer)
    assert len(tokenizer) == before


def test_add_video_tokens_adds_only_the_missing_ones():
    tokenizer = _word_level_tokenizer()
    tokenizer.add_tokens(["<|video_pad|>"], special_tokens=True)  # a Qwen2-like tokenizer already has it
    ids = add_video_tokens(tokenizer)
    assert ids["<|video_pad|>"] == 6
    assert [ids[t] for t in SPECIAL_VIDEO_TOKENS[:4]] == [7, 8, 9, 10]  # appended in order


def test_video_token_ids_names_the_missing_tokens():
    with pytest.raises(ValueError, match=r"lacks the video tokens \['<video>'.*add_video_tokens"):
        video_token_ids(_word_level_tokenizer())


@pytest.mark.parametrize(("style", "bos", "expected"), [
    ("phi3", True, "<s><|system|>\nBe brief.<|end|>\n<|user|>\n<video>\nHi <|end|>\n<|assistant|>\n"),
    ("chatml", False, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<video>\nHi <|im_end|>\n"
                      "<|im_start|>assistant\n"),
])
def test_video_ccam_turn_templates(style, bos, expected):
    from jinja2 import Template

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<video>\nHi "}]
    rendered = Template(turn_chat_template(style, bos)).render(messages=messages, add_generation_prompt=True,
                                                                bos_token="<s>")
    assert rendered == expected  # Video-CCAM's format.format(input=...), content untrimmed
    with pytest.raises(ValueError, match="unknown chat template style"):
        turn_chat_template("llama", bos)
