"""`scripts/letter_lookup_probe.py` measures the letter lookup: each prompt quotes one option, and
the token it scores is that option's letter, right after the option's text."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

from kangaroo.inference.loading import load_chat_model

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "letter_lookup_probe.py"


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("letter_lookup_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_prompt_asks_for_the_letter_of_the_option_it_quotes(probe) -> None:
    _, processor, _ = load_chat_model(None)
    letter_ids = [processor.encode_text(letter)[0] for letter in "ABCD"]
    rng = random.Random(0)
    sets = probe.option_sets(12, seed=3)
    assert {lang for lang, _ in sets} == {"en", "zh"} and all(len(options) == 4 for _, options in sets)
    for language, options in sets:
        prompt, answer, at = probe.lookup_example(processor, language, options, rng)
        letter = "ABCD"[letter_ids.index(answer[at])]  # the scored token is a letter
        text = processor.decode(answer[: at - 1]).strip()  # the reply's words before " ("
        assert text in options
        question = processor.decode(prompt)
        assert f'"{text}"' in question and f"({letter}) {text}\n" in question  # quoted, and that option's letter


def test_help_runs() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--fresh" in done.stdout and "letter lookup" in done.stdout
