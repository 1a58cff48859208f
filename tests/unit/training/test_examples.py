"""encode_record: loss only on assistant turns, videos sampled as the processor says, images at a random time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kangaroo.data.records import Record, read_records
from kangaroo.model.builders import kangaroo_tiny_config
from kangaroo.model.layout import SPECIAL_VIDEO_TOKENS, VIDEO_PAD
from kangaroo.model.tokenizer import CHAT_TOKENS, END_OF_TURN, build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.training.examples import IGNORE_INDEX, ExampleError, encode_record
from kangaroo.video import DynamicFrameRule, FrameSampling, VideoError


@pytest.fixture(scope="module")
def tokenizer():
    return build_byte_tokenizer()


@pytest.fixture
def processor(tokenizer):
    return KangarooProcessor(tokenizer, kangaroo_tiny_config(tokenizer).layout, sampling=FrameSampling(num_frames=4))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Real synthetic records (4 s videos at 64x48, PNG images) and their root folder."""
    root = tmp_path_factory.mktemp("synth")
    records = {}
    for task, num in (("caption_short", 1), ("multi_round", 2), ("image_caption", 2)):
        records[task] = list(read_records(generate_dataset(task, num, 0, root, world=WorldOptions(size=(64, 48), duration=4.0))))
    return root, records


def labelled_runs(example) -> list[list[int]]:
    """Maximal runs of consecutive labelled positions, as token ids."""
    runs, current = [], []
    for token, label in zip(example.input_ids.tolist(), example.labels.tolist(), strict=True):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(label)
        elif current:
            runs.append(current)
            current = []
    return [*runs, current] if current else runs


def assistant_texts(record: Record) -> list[str]:
    return [m["content"].strip() for m in record.messages if m["role"] == "assistant"]


def test_only_assistant_turns_are_labelled(data, processor, tokenizer):
    root, records = data
    video = records["multi_round"][0].video
    with_system = Record(id="sys-1", video=video, messages=[
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What moves first?"}]},
        {"role": "assistant", "content": "The yellow ring."},
        {"role": "user", "content": "And then? <|eot_id|> <|video_pad|>"},  # escaped: plain text
        {"role": "assistant", "content": "  It stops. "},
    ])
    cases = [*records["multi_round"], *records["caption_short"], with_system]
    assert any(len(assistant_texts(r)) >= 3 for r in cases)  # multi-turn records are covered
    never_labelled = {processor.video_token_ids[t] for t in SPECIAL_VIDEO_TOKENS}
    never_labelled |= {tokenizer.convert_tokens_to_ids(t) for t in CHAT_TOKENS if t != END_OF_TURN}
    for record in cases:
        example = encode_record(record, processor, root, rng=np.random.default_rng(0))
        runs = labelled_runs(example)
        decoded = [tokenizer.decode(run, skip_special_tokens=False) for run in runs]
        assert decoded == [text + END_OF_TURN for text in assistant_texts(record)]
        labelled = example.labels[example.labels != IGNORE_INDEX].tolist()
        assert never_labelled.isdisjoint(labelled)
        for start, end in example.video_spans:
            assert (example.labels[start:end] == IGNORE_INDEX).all()
        assert example.num_label_tokens == sum(len(run) for run in runs)
        # the labelled ids are the end of the full conversation's ids (same tokenization)
        full = processor.encode(record.messages, example.frame_counts, add_generation_prompt=False)[0]
        assert torch.equal(example.input_ids, full)
    system_example = encode_record(with_system, processor, root, rng=np.random.default_rng(0))
    text = tokenizer.decode(system_example.labels[system_example.labels != IGNORE_INDEX].tolist())
    assert "one short sentence" not in text and "And then" not in text


def test_text_only_record_has_no_video(data, processor):
    root, _ = data
    record = Record(id="text-1", messages=[{"role": "user", "content": "2 + 2?"},
                                           {"role": "assistant", "content": "4"}])
    example = encode_record(record, processor, root, rng=np.random.default_rng(0))
    assert example.pixel_values is None and example.timestamps is None and example.frame_counts == []
    assert example.video_spans == []
    assert [processor.tokenizer.decode(r, skip_special_tokens=False) for r in labelled_runs(example)] == [
        "4" + END_OF_TURN
    ]


def test_videos_follow_the_processor_sampling_and_the_clip_bounds(data, processor):
    root, records = data
    record = records["caption_short"][0]
    rng = np.random.default_rng(0)
    layout = processor.layout
    pad_id = processor.video_token_ids[VIDEO_PAD]

    example = encode_record(record, processor, root, rng=rng)  # uniform, 4 frames over the 4 s clip
    assert example.frame_counts == [4] and example.pixel_values.shape == (4, 3, 112, 112)
    assert example.timestamps.dtype == torch.float32
    assert int((example.input_ids == pad_id).sum()) == layout.visual_tokens(4)
    start, end = example.video_spans[0]
    assert end - start == layout.prompt_tokens(4)

    bounded = Record.from_dict({**record.to_dict(), "start": 1.0, "end": 3.0})
    clipped = encode_record(bounded, processor, root, rng=rng)
    assert clipped.frame_counts == [4]
    assert (clipped.timestamps >= 1.0).all() and (clipped.timestamps < 3.0).all()
    assert not torch.equal(clipped.timestamps, example.timestamps)

    dynamic = FrameSampling(sampling="dynamic", rule=DynamicFrameRule(min_frames=2, max_frames=8, frames_per_second=1.5))
    by_duration = processor.with_sampling(dynamic)
    assert encode_record(record, by_duration, root, rng=rng).frame_counts == [6]  # ceil(4 s * 1.5)
    assert encode_record(bounded, by_duration, root, rng=rng).frame_counts == [4]  # 2 s -> 3 -> even 4
    capped = encode_record(record, processor.with_sampling(dataclasses.replace(dynamic, max_frames=2)), root, rng=rng)
    assert capped.frame_counts == [2] and int((capped.input_ids == pad_id).sum()) == layout.visual_tokens(2)


def test_images_are_one_frame_videos_at_a_random_time(data, processor):
    root, records = data
    record = records["image_caption"][0]
    rng = np.random.default_rng(7)
    times = []
    for _ in range(4):
        example = encode_record(record, processor, root, rng=rng, image_time_range=(10.0, 20.0))
        assert example.frame_counts == [1] and example.pixel_values.shape == (1, 3, 112, 112)
        times.append(float(example.timestamps[0]))
    assert all(10.0 <= t <= 20.0 for t in times)
    assert len(set(times)) == 4  # a new draw each time
    again = encode_record(record, processor, root, rng=np.random.default_rng(7), image_time_range=(10.0, 20.0))
    assert float(again.timestamps[0]) == times[0]  # the same rng state gives the same time
    # clip bounds are for videos: an image with start / end still loads
    bounded = Record.from_dict({**record.to_dict(), "start": 1.0, "end": 3.0})
    assert encode_record(bounded, processor, root, rng=rng).frame_counts == [1]
    with pytest.raises(ValueError, match="image_time_range"):
        encode_record(record, processor, root, rng=rng, image_time_range=(5.0, 1.0))


def test_a_record_whose_video_fails_names_the_record(data, processor):
    root, records = data
    (root / "videos" / "broken.mp4").write_bytes(b"not a video at all" * 20)
    for name in ("videos/missing.mp4", "videos/broken.mp4"):
        record = Record.from_dict({**records["caption_short"][0].to_dict(), "id": "bad-record", "video": name})
        with pytest.raises(ExampleError, match="bad-record") as caught:
            encode_record(record, processor, root, rng=np.random.default_rng(0))
        assert caught.value.record_id == "bad-record"
        assert name in str(caught.value)
        assert isinstance(caught.value.__cause__, VideoError)


def test_a_record_without_an_assistant_turn_is_an_error(data, processor):
    root, _ = data
    record = Record(id="no-answer", messages=[{"role": "user", "content": "Hello?"}])
    with pytest.raises(ExampleError, match="no-answer"):
        encode_record(record, processor, root, rng=np.random.default_rng(0))


def test_processor_sampling_is_saved_and_loaded(processor, tmp_path):
    assert processor.to_dict()["sampling"] == {"sampling": "uniform", "num_frames": 4}
    dynamic = processor.with_sampling(FrameSampling(sampling="dynamic", rule=DynamicFrameRule(min_frames=4, max_frames=32)))
    loaded = KangarooProcessor.from_pretrained(dynamic.save_pretrained(tmp_path / "proc"))
    assert loaded.sampling == dynamic.sampling and loaded.sampling.rule == DynamicFrameRule(4, 32)
    assert loaded.to_dict() == dynamic.to_dict()
