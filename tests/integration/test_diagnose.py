"""`kangaroo diagnose`: first-word vs rest-of-answer loss and option ranking with real / blank / shuffled video."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from kangaroo.eval.diagnostics import CONDITIONS, DiagnosisError, _answer_ids, _answer_scores, diagnose
from kangaroo.eval.diagnostics import _prompt_ids as prompt_ids
from kangaroo.inference.loading import load_chat_model


@pytest.fixture(scope="module")
def records_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("diag")
    done = subprocess.run([sys.executable, "-m", "kangaroo.cli", "synth", "mcq_colour_change", "-n", "4", "--split",
                           "test", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out / "mcq_colour_change_test.jsonl"


def test_answer_scores_equal_one_option_at_a_time(records_file):
    from kangaroo.eval.diagnostics import read_choice_records

    model, processor, _ = load_chat_model("random")
    records, root = read_choice_records(records_file)
    record = records[0]
    four = processor.with_sampling(processor.sampling.with_frames(4))
    pixels, times = four.load_video_frames(root / record.video)
    with torch.no_grad():
        features = model.get_video_features(pixels, times, [4])[0]
        prompt = prompt_ids(processor, record, 4)
        first, rest, rest_count, right = _answer_scores(model, processor, prompt, features, record)

        def token_logps(answer: list[int]) -> torch.Tensor:
            ids = torch.tensor([prompt + answer])
            logp = torch.log_softmax(model(input_ids=ids, video_features=features).logits[0].float(), -1)
            return logp[len(prompt) - 1 : -1].gather(1, torch.tensor(answer)[:, None])[:, 0]

        options, truth = record.meta["options"], "ABCD".index(record.meta["answer"])
        totals = []
        for k, text in enumerate(options):
            answer = _answer_ids(processor, text)
            assert answer[:-1] == processor.encode_text(text)  # the option's text, then the end of the turn
            token_logp = token_logps(answer)
            totals.append(float(token_logp.sum()))
            if k == truth:
                assert first == pytest.approx(float(-token_logp[0]), abs=1e-4)
                assert rest == pytest.approx(float(-token_logp[1:].sum()), abs=1e-3)
                assert rest_count == len(answer) - 1
    assert right == (max(range(4), key=totals.__getitem__) == truth)


def test_diagnose_measures_every_condition_and_the_visual_tokens(records_file):
    from kangaroo.eval.diagnostics import read_choice_records

    model, processor, _ = load_chat_model("random")
    records, root = read_choice_records(records_file)
    diagnosis = diagnose(model, processor, records, root, num_frames=4)
    assert diagnosis.records == 4 and set(diagnosis.conditions) == set(CONDITIONS)
    # random weights: the answer is noise, so the first word's loss is about ln(vocabulary) or more
    assert all(c.first_token_loss > 1.0 for c in diagnosis.conditions.values())
    assert diagnosis.visual_token_norm > 0 and diagnosis.text_embedding_norm > 0
    assert 0 < diagnosis.between_video_difference < 10 and diagnosis.frame_to_frame_change >= 0
    # blank frames change the features, hence the losses
    assert diagnosis.conditions["blank"].first_token_loss != diagnosis.conditions["real"].first_token_loss
    with pytest.raises(DiagnosisError, match="at least two"):
        diagnose(model, processor, records[:1], root)


def test_cli_prints_json_and_rejects_records_without_choices(records_file, tmp_path):
    done = subprocess.run([sys.executable, "-m", "kangaroo.cli", "diagnose", str(records_file), "-n", "3", "-f", "4",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    measures = json.loads(done.stdout)
    assert measures["records"] == 3 and set(measures["conditions"]) == set(CONDITIONS)
    for stats in measures["conditions"].values():
        assert {"first_token_loss", "rest_loss", "ranking_accuracy"} == set(stats)
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"id": "a", "messages": [{"role": "user", "content": "hi"},
                                                          {"role": "assistant", "content": "hello"}]}) + "\n")
    bad = subprocess.run([sys.executable, "-m", "kangaroo.cli", "diagnose", str(plain)], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "choice" in bad.stderr
