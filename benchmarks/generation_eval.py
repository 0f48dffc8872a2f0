"""Generation-based evaluation on SmolLM2-135M-Instruct (the shipped instruction data).

1. Batched greedy decoding (left-padded prompts, KV cache; cl's GeneratedScore) against
   `generate()` called once per prompt, on free-text and numeric tasks: generated tokens per
   second, the ratio, and the scores (equal example by example).
2. Teacher-forced exact match against batched generation on exact-match tasks, where both
   apply: time ratio and per-example agreement (see cl/evaluation/exact_match.py for when they
   can differ).
Run: python -m benchmarks.generation_eval [--n-eval 32] [--batch-size 32]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.common import timed
from cl.evaluation.evaluators import GeneratedScore
from cl.evaluation.exact_match import generate_exact_match, teacher_forced_exact_match
from cl.evaluation.generate import greedy_completions
from cl.models import smollm2
from cl.streams import file_task
from cl.streams.encoding import Encoder

DATA = Path(__file__).resolve().parent.parent / "data"


def tasks(n_eval: int):
    generated = [
        file_task("facts2text", DATA / "instruct/facts2text.csv", answer_field="sentence", scorer="rouge_l", n_eval=n_eval,
                  template="Write one sentence about this person.\nName: {name}\nCity: {city}\nJob: {job}\nHobby: {hobby}"),
        file_task("word_math", DATA / "trace/word_math", system="Answer with the number only.", scorer="numeric", n_eval=n_eval),
    ]  # fmt: skip
    exact = [
        file_task("capitals", DATA / "instruct/capitals.parquet", answer_field="capital", n_eval=n_eval,
                  template="What is the capital city of {country}? Answer with the city name only."),
        file_task("letters", DATA / "instruct/letters.json", template="{instruction}\nWord: {word}",
                  answer_field="output", n_eval=n_eval),
    ]  # fmt: skip
    return generated, exact


def generation_speed(model, encoder, task, batch_size: int) -> None:
    evaluator = GeneratedScore(encoder, task)
    tok = encoder.tokenizer
    batched: dict[int, str] = {}

    def run_batched():
        for batch in evaluator.loader(batch_size):
            batched.update(zip(batch["example"].tolist(), evaluator.completions(model, batch)))

    _, t_batched = timed(run_batched)
    single, t_single = timed(
        greedy_completions, model, tok, evaluator.prompts, evaluator.max_new_tokens, evaluator.stop_ids, 1
    )
    texts = [t for t, _ in single]
    tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + ended for t, ended in single)
    same = sum(batched[i] == texts[i] for i in range(len(texts)))
    scores = [task.check(p, batched[i]) for i, (p, _) in enumerate(task.eval)]
    ref = [task.check(p, t) for (p, _), t in zip(task.eval, texts)]
    print(f"{task.name:>10}: {len(texts)} prompts, {tokens} tokens | per prompt {tokens / t_single:6.1f} tok/s "
          f"({t_single:5.1f} s) | batched {tokens / t_batched:6.1f} tok/s ({t_batched:5.1f} s) | "
          f"ratio {t_single / t_batched:4.1f}x | same text {same}/{len(texts)} | "
          f"score {sum(scores) / len(scores):.3f} vs {sum(ref) / len(ref):.3f}")  # fmt: skip


def teacher_forced_vs_generation(model, encoder, task, batch_size: int) -> None:
    tf, t_tf = timed(teacher_forced_exact_match, model, encoder, task, batch_size)
    gen, t_gen = timed(generate_exact_match, model, encoder, task, batch_size)
    agree = sum(a == b for a, b in zip(tf, gen))
    print(f"{task.name:>10}: {len(tf)} examples | teacher-forced {t_tf:5.2f} s acc {sum(tf) / len(tf):.3f} | "
          f"batched generation {t_gen:5.2f} s acc {sum(gen) / len(gen):.3f} | ratio {t_gen / t_tf:4.1f}x | "
          f"agree {agree}/{len(tf)} (teacher-forced only: {sum(a and not b for a, b in zip(tf, gen))}, "
          f"generation only: {sum(b and not a for a, b in zip(tf, gen))})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-eval", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    (model, tok), t_load = timed(smollm2)
    model.eval()
    encoder = Encoder(tok, 512)
    generated, exact = tasks(args.n_eval)
    print(f"SmolLM2-135M-Instruct loaded in {t_load:.1f} s; {torch.get_num_threads()} threads; batch {args.batch_size}")
    print("batched generation vs generate() per prompt:")
    for task in generated:
        generation_speed(model, encoder, task, args.batch_size)
    print("teacher-forced vs batched generation (exact-match tasks):")
    for task in exact:
        teacher_forced_vs_generation(model, encoder, task, args.batch_size)


if __name__ == "__main__":
    main()
