"""RFT rollout throughput: the batched, KV-cached sampler against per-prompt generate() calls.

Samples `--group` completions of `--prompts` training prompts of the default stream with the
default model (untrained, so nearly every completion runs to `--max-new-tokens`), three ways:
the sampler of cl/objectives/rollout.py (all prompts in one left-padded batch, KV cache), the
same without the KV cache, and a loop calling generate() once per prompt (num_return_sequences
= group, KV cache). Prints generated tokens per second (end token included) and the ratios.
Run: .venv/bin/python -m benchmarks.rollout [--prompts 64] [--group 8] [--max-new-tokens 6]
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.common import default_model, default_tasks, timed
from cl.objectives.rollout import sample_completions
from cl.streams.encoding import encode


def batched(model, tok, prompts, group, max_new_tokens, use_cache=True) -> int:
    return int(sample_completions(model, tok, prompts, group, max_new_tokens, use_cache=use_cache).mask.sum())


def per_prompt(model, tok, prompts, group, max_new_tokens) -> int:
    return sum(batched(model, tok, [p], group, max_new_tokens) for p in prompts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model, tok = default_model()
    model.eval()
    tasks = default_tasks()
    examples = [tasks[i % len(tasks)].train[i] for i in range(args.prompts)]  # tasks in turn
    prompts = [e.input_ids[: e.prompt_len] for e in encode(tok, examples)]
    runs = {
        "batched, KV cache": lambda: batched(model, tok, prompts, args.group, args.max_new_tokens),
        "batched, no cache": lambda: batched(model, tok, prompts, args.group, args.max_new_tokens, use_cache=False),
        "per prompt, KV cache": lambda: per_prompt(model, tok, prompts, args.group, args.max_new_tokens),
    }
    rates = {}
    for name, fn in runs.items():
        best = min((timed(fn) for _ in range(args.repeats)), key=lambda r: r[1])
        rates[name] = best[0] / best[1]
        print(f"{name:>22}: {best[0]:6d} tokens in {best[1] * 1000:8.1f} ms = {rates[name]:9.0f} tokens/s")
    print(f"prompts {args.prompts} x group {args.group}, max_new_tokens {args.max_new_tokens}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    base = rates["per prompt, KV cache"]
    for name, rate in rates.items():
        print(f"{name:>22}: {rate / base:5.1f}x the per-prompt throughput")


if __name__ == "__main__":
    main()
