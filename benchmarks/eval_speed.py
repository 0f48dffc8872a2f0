"""Teacher-forced exact match vs generate()-based exact match: same model, same examples.

Trains the default model briefly on the default stream's first task so that accuracy is neither
0 nor 1, then scores every eval example of the stream three ways: one teacher-forced forward
pass per batch, greedy generate() on the same batches (left-padded, KV cache), and generate()
one prompt at a time. Prints the accuracies (equal, example by example) and the speed ratios.
Run: .venv/bin/python benchmarks/eval_speed.py [--steps 300] [--repeats 3]
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.common import adamw, default_model, default_tasks, quiet_trainer, timed
from cl.evaluation.exact_match import generate_exact_match, teacher_forced_exact_match
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.objectives import SFT
from cl.streams import Stream, Task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    tasks = default_tasks()
    model, tok = default_model()
    module = ContinualModule(model, tok, SFT(), optimizer=adamw())
    loop = ContinualLoop(module, Stream(tasks), quiet_trainer, TrainingPlan(args.steps))
    loop.fit(loop.train_data[0], args.steps, "bench")
    model.eval()
    examples = [ex for t in tasks for ex in t.eval]
    task = Task("all", [], examples, tasks[0].check, exact=True)
    times: dict[str, list[float]] = {"teacher-forced": [], "generate batched": []}
    for _ in range(args.repeats):
        tf, t = timed(teacher_forced_exact_match, model, module.encoder, task, args.batch_size)
        times["teacher-forced"].append(t)
        gen, t = timed(generate_exact_match, model, module.encoder, task, args.batch_size)
        times["generate batched"].append(t)
    one_by_one, t = timed(generate_exact_match, model, module.encoder, task, 1)
    times["generate per prompt"] = [t]
    assert tf == gen == one_by_one, "teacher-forced and generate() exact match disagree"
    best = {k: min(v) for k, v in times.items()}
    print(f"examples: {len(examples)} ({len(tasks)} tasks), batch size {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"accuracy: teacher-forced {sum(tf) / len(tf):.4f} | generate batched {sum(gen) / len(gen):.4f} | "
          f"generate per prompt {sum(one_by_one) / len(one_by_one):.4f} (equal example by example)")  # fmt: skip
    for name, seconds in best.items():
        ratio = seconds / best["teacher-forced"]
        print(f"{name:>20}: {seconds * 1000:8.1f} ms   ratio over teacher-forced {ratio:5.1f}x")


if __name__ == "__main__":
    main()
