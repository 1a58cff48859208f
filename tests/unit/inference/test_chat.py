"""model.chat: multi-round answers equal full recomputation, later turns reuse the prefix cache."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from kangaroo.inference.chat import chat_processor
from kangaroo.inference.feature_cache import FeatureCache
from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.model.tokenizer_training import train_bpe_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.video import FrameSampling

from video_fixtures import write_indexed

GREEDY = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer, seed=1).eval()
    processor = KangarooProcessor(tokenizer, model.config.layout, sampling=FrameSampling(num_frames=6))
    video = write_indexed(tmp_path_factory.mktemp("chat") / "clip.mp4", 40, fps=10)
    return model, processor, video


def recompute(model, processor, history, **kwargs):
    """The last answer computed from scratch: the whole conversation, no cache."""
    ids = processor.encode(history.messages[:-1], [history.frame_count])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), video_features=history.video_features,
                         eos_token_id=[processor.tokenizer.eos_token_id], pad_token_id=processor.tokenizer.pad_token_id,
                         **kwargs)
    return processor.decode(out[0, ids.shape[1] :]).strip()


def lengths_fed(model):
    """Record the sequence length of every forward through the LLM."""
    seen: list[int] = []
    handle = model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["inputs_embeds"].shape[1]), with_kwargs=True
    )
    return seen, handle


def test_second_turn_matches_full_recomputation_and_reuses_the_prefix(setup):
    model, processor, video = setup
    answer1, history = model.chat(video, "What happens in the video?", tokenizer=processor, **GREEDY)
    assert answer1 == recompute(model, processor, history, **GREEDY)
    assert history.turns == [("What happens in the video?", answer1)]

    seen, handle = lengths_fed(model)
    try:
        answer2, history2 = model.chat(video, "然后呢？ And then?", tokenizer=processor, history=history, **GREEDY)
    finally:
        handle.remove()
    assert answer2 == recompute(model, processor, history2, **GREEDY)
    full = processor.encode(history2.messages[:-1], [history2.frame_count]).shape[1]
    video_tokens = model.config.layout.prompt_tokens(6)
    assert seen[0] < full - video_tokens  # the video and the first turn's prompt came from the cache
    assert len(history2.turns) == 2


def test_a_new_video_starts_a_new_conversation(setup, tmp_path):
    model, processor, video = setup
    _, history = model.chat(video, "Describe it.", tokenizer=processor, max_new_tokens=2)
    other = write_indexed(tmp_path / "other.mp4", 20, fps=10)
    _, fresh = model.chat(other, "Describe it.", tokenizer=processor, history=history, max_new_tokens=2)
    assert fresh.video == str(other) and len(fresh.turns) == 1


def test_stream_chat_yields_the_same_answer(setup):
    model, processor, video = setup
    answer, _ = model.chat(video, "Count the frames.", tokenizer=processor, **GREEDY)
    stream = model.stream_chat(video, "Count the frames.", tokenizer=processor, **GREEDY)
    pieces = list(stream)
    assert stream.answer == answer
    assert "".join(pieces).strip() == answer


def test_features_come_from_the_disk_cache_the_second_time(setup, tmp_path, monkeypatch):
    model, processor, video = setup
    cache = FeatureCache(tmp_path / "features")
    answer, _ = model.chat(video, "What colour?", tokenizer=processor, feature_cache=cache, **GREEDY)
    assert len(list((tmp_path / "features").glob("*.safetensors"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("the video was decoded again")

    monkeypatch.setattr(processor, "load_video_frames", no_decoding)
    again, _ = model.chat(video, "What colour?", tokenizer=processor, feature_cache=cache, **GREEDY)
    assert again == answer


def test_cache_key_follows_content_sampling_and_weights(setup, tmp_path):
    from kangaroo.video import INSTRUCTION_TUNING_RULE

    model, _, video = setup
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(video.read_bytes())
    six = FrameSampling(num_frames=6)
    key = FeatureCache.key(video, six, model, size=56, aspect="pad")
    assert FeatureCache.key(copy, FrameSampling(num_frames=6), model, size=56, aspect="pad") == key  # same bytes
    assert FeatureCache.key(video, FrameSampling(num_frames=8), model, size=56, aspect="pad") != key
    assert FeatureCache.key(video, FrameSampling(num_frames=6, max_frames=4), model, size=56, aspect="pad") != key
    assert FeatureCache.key(video, six, model, size=112, aspect="pad") != key
    assert FeatureCache.key(video, six, model, size=56, aspect="crop") != key
    # one value, one key: the default dynamic rule spelled out is the same sampling
    assert (FeatureCache.key(video, FrameSampling(sampling="dynamic"), model, size=56, aspect="pad")
            == FeatureCache.key(video, FrameSampling(sampling="dynamic", rule=INSTRUCTION_TUNING_RULE), model,
                                size=56, aspect="pad"))
    other_model = kangaroo_tiny(build_byte_tokenizer(), seed=2)
    assert FeatureCache.key(video, six, other_model, size=56, aspect="pad") != key
    copy.write_bytes(video.read_bytes() + b"\0")
    assert FeatureCache.key(copy, six, model, size=56, aspect="pad") != key


def test_chat_without_a_tokenizer_needs_a_saved_processor(setup):
    model, _, video = setup
    with pytest.raises(ValueError, match="tokenizer"):
        model.chat(video, "Hi")


def test_a_saved_model_chats_with_its_own_processor(setup, tmp_path):
    from transformers import AutoModelForCausalLM

    model, processor, video = setup
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    expected, _ = model.chat(video, "Hello?", tokenizer=processor, **GREEDY)
    answer, history = loaded.chat(video, "Hello?", **GREEDY)
    assert answer == expected and history.frame_count == 6


def test_branching_from_an_older_history_is_still_exact(setup):
    model, processor, video = setup
    _, first = model.chat(video, "Describe it.", tokenizer=processor, **GREEDY)
    model.chat(video, "A second question moves the cache on.", tokenizer=processor, history=first, **GREEDY)
    answer, branched = model.chat(video, "A different follow-up.", tokenizer=processor, history=first, **GREEDY)
    assert answer == recompute(model, processor, branched, **GREEDY)


def test_video_tokens_are_never_generated(setup):
    model, processor, video = setup
    pad = processor.video_token_ids["<|video_pad|>"]
    answer, history = model.chat(video, "Go.", tokenizer=processor, sequence_bias={(pad,): 100.0}, **GREEDY)
    assert pad not in history.cached_ids[0, -6:].tolist()
    assert isinstance(answer, str)


def test_a_stream_can_be_cancelled(setup):
    model, processor, video = setup
    stream = model.stream_chat(video, "Talk for a long time.", tokenizer=processor, max_new_tokens=400,
                               min_new_tokens=400)
    stream.cancel()
    list(stream)
    generated = stream.history.cached_ids.shape[1] - processor.encode(stream.history.messages[:-1], [6]).shape[1]
    assert generated < 400
    assert len(stream.history.turns) == 1


def test_an_image_is_a_one_frame_video(setup, tmp_path):
    from PIL import Image

    model, processor, _ = setup
    path = tmp_path / "still.png"
    Image.new("RGB", (80, 60), (200, 30, 30)).save(path)
    answer, history = model.chat(path, "What colour is it?", tokenizer=processor, **GREEDY)
    assert history.frame_count == 1 and history.timestamps.tolist() == [0.0]
    assert history.video_features.shape[0] == model.config.layout.visual_tokens(1)
    assert answer == recompute(model, processor, history, **GREEDY)


def test_sampling_is_seeded_and_differs_from_greedy(setup):
    model, processor, video = setup
    sampled = dict(max_new_tokens=8, min_new_tokens=8, do_sample=True, temperature=1.5, top_p=0.95)
    torch.manual_seed(5)
    first, _ = model.chat(video, "Guess.", tokenizer=processor, **sampled)
    torch.manual_seed(5)
    again, _ = model.chat(video, "Guess.", tokenizer=processor, **sampled)
    greedy, _ = model.chat(video, "Guess.", tokenizer=processor, max_new_tokens=8, min_new_tokens=8)
    assert first == again
    answers = set()
    for seed in range(4):
        torch.manual_seed(seed)
        answers.add(model.chat(video, "Guess.", tokenizer=processor, **sampled)[0])
    assert len(answers | {greedy}) > 1


def test_a_plain_tokenizer_gets_the_models_layout_and_must_match_its_ids(setup):
    model, processor, video = setup
    plain = chat_processor(model, processor.tokenizer)
    assert plain.layout == model.config.layout and plain.video_token_ids == processor.video_token_ids
    bpe = train_bpe_tokenizer(["a b c d"] * 3, vocab_size=300)  # a trained BPE keeps the video-token ids
    assert chat_processor(model, bpe).video_token_ids == processor.video_token_ids
    _, history = model.chat(video, "Hello?", tokenizer=processor.tokenizer, **GREEDY)
    assert history.frame_count == plain.sampling.num_frames == 16  # a plain tokenizer: the default sampling
    built_for_other_ids = kangaroo_tiny(build_byte_tokenizer(), seed=1, video_pad_token_id=5)
    with pytest.raises(ValueError, match="video-token ids differ"):
        built_for_other_ids.chat(video, "Hello?", tokenizer=processor.tokenizer)


def test_chat_turns_raise_no_library_warnings(setup, caplog):
    model, processor, video = setup
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")  # a FutureWarning / DeprecationWarning would raise here
        _, history = model.chat(video, "First?", tokenizer=processor, **GREEDY)
        model.chat(video, "Second?", tokenizer=processor, history=history, **GREEDY)
        list(model.stream_chat(video, "Third?", tokenizer=processor, history=history, **GREEDY))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("transformers")] == []
