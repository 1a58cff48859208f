#!/usr/bin/env python
"""Can a model's LLM learn the letter lookup? Train it on text alone and watch.

The task: a multiple-choice prompt whose question quotes one option's text ("Which option says
"blue circle"?"), answered ``blue circle (B)``. Everything but the letter is given, so the letter
is the lookup alone: find the option line holding that text and copy the letter before it. The
probe builds the options from the synthetic world's multiple-choice families (no videos are
rendered), trains the model's LLM on such prompts with AdamW, and every ``--every`` steps prints
how often the right letter is the likeliest of the four on held-out prompts (chance: 25%).

The bundled model's 4-layer LLM stays at chance (docs/results.md, "The letter lookup"), which is
why the synthetic world's multiple-choice replies are the option's text alone.

Example:
    .venv/bin/python scripts/letter_lookup_probe.py --model runs/bundled/4_instruction/final --steps 600
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from kangaroo.inference.loading import load_chat_model
from kangaroo.synth.generate import generate
from kangaroo.synth.language import format_options, lettered_reply
from kangaroo.synth.options import WorldOptions

FAMILIES = ("mcq_direction", "mcq_count", "mcq_order", "mcq_colour_change", "mcq_appear", "mcq_end")
QUESTIONS = {
    "en": ('Which option says "{t}"?', 'Find "{t}" among the options.', 'Which letter stands before "{t}"?'),
    "zh": ('哪个选项是"{t}"？', '请在选项中找到"{t}"。', '"{t}"是哪个选项？'),
}


def option_sets(count: int, seed: int) -> list[tuple[str, list[str]]]:
    """``(language, options)`` of ``count`` generated multiple-choice questions (scenes only)."""
    world = WorldOptions(language="mixed")
    out = []
    for i in range(count):
        record = generate(FAMILIES[i % len(FAMILIES)], None, i, "train", "unused", seed=seed, world=world, write=False)
        out.append((record["meta"]["language"], list(record["meta"]["options"])))
    return out


def lookup_example(processor, language: str, options: list[str], rng: random.Random) -> tuple[list[int], list[int], int]:
    """``(prompt ids, answer ids, index of the letter in the answer)`` of one lookup prompt."""
    options = rng.sample(options, len(options))
    k = rng.randrange(len(options))
    prompt = format_options(rng.choice(QUESTIONS[language]).format(t=options[k]), options, language, rng)
    ids = processor.encode([{"role": "user", "content": prompt}], [], add_generation_prompt=True)[0].tolist()
    text = processor.encode_text(options[k])
    answer = processor.encode_text(lettered_reply(options[k], "ABCD"[k]))  # text, " (", letter, ")"
    assert answer[: len(text)] == text, "the text's tokens must not merge with the letter's"
    return ids, [*answer, processor.tokenizer.convert_tokens_to_ids("<|eot_id|>")], len(text) + 1


def lookup_accuracy(model, examples, letter_ids: list[int]) -> float:
    """Share of ``examples`` whose right letter is the likeliest of the four after the text."""
    model.eval()
    right = 0
    with torch.no_grad():
        for prompt, answer, at in examples:
            logits = model(input_ids=torch.tensor([prompt + answer[:at]])).logits[0, -1]  # (V,)
            right += int(int(logits[letter_ids].argmax()) == letter_ids.index(answer[at]))
    model.train()
    return right / len(examples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--fresh", action="store_true", help="re-draw every linear and embedding weight first (norms keep theirs): an LLM from nothing")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loss", choices=("answer", "all"), default="answer",
                        help="loss on the answer's tokens (as training does) or on every token")
    parser.add_argument("--every", type=int, default=100, help="evaluate every N steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    model, processor, _ = load_chat_model(args.model)
    if args.fresh:
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(module.weight, std=0.02)
    rng = random.Random(args.seed)
    train_sets, test_sets = option_sets(600, args.seed + 1), option_sets(100, args.seed + 2)
    test = [lookup_example(processor, lang, opts, rng) for lang, opts in test_sets * 2]
    letter_ids = [processor.encode_text(letter)[0] for letter in "ABCD"]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    pad = processor.tokenizer.pad_token_id or 0
    print(f"step 0: letter lookup {lookup_accuracy(model, test, letter_ids):.3f} on {len(test)} held-out prompts",
          flush=True)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = [lookup_example(processor, *rng.choice(train_sets), rng) for _ in range(args.batch_size)]
        width = max(len(p) + len(a) for p, a, _ in batch)
        ids = torch.full((len(batch), width), pad)  # (B, L)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for i, (prompt, answer, _) in enumerate(batch):
            row = prompt + answer
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
            labels[i, : len(row)] = torch.tensor(row if args.loss == "all" else [-100] * len(prompt) + answer)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % args.every == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.3f}, letter lookup {lookup_accuracy(model, test, letter_ids):.3f}"
                  f" ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
