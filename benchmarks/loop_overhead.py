"""Wall time of training one task through ContinualModule + Lightning Trainer, over a plain
PyTorch loop doing the same steps (same model init, batches, AdamW, warm-up/cosine schedule,
gradient clipping) on the same model and data.

Runs are interleaved (plain, Lightning, plain, Lightning, ...) and the median of each is taken.
Run: .venv/bin/python -m benchmarks.loop_overhead [--steps 300] [--repeats 3] [--hidden 128]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.common import adamw, default_model, default_tasks, quiet_trainer
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.objectives import SFT
from cl.training.optim import warmup_cosine
from cl.streams import Stream


def build(hidden: int):
    model, tok = default_model(hidden_size=hidden, intermediate_size=2 * hidden, seed=0)
    module = ContinualModule(model, tok, SFT(), optimizer=adamw(), scheduler=warmup_cosine)
    return module


def lightning_run(tasks, steps: int, hidden: int, **trainer_kw) -> float:
    module = build(hidden)
    trainer = lambda **kw: quiet_trainer(gradient_clip_val=1.0, **trainer_kw, **kw)  # noqa: E731
    loop = ContinualLoop(module, Stream(tasks), trainer, TrainingPlan(steps))
    start = time.perf_counter()
    loop.fit(loop.train_data[0], steps, "bench")
    return time.perf_counter() - start


def plain_run(tasks, steps: int, hidden: int) -> float:
    module = build(hidden)
    loop = ContinualLoop(module, Stream(tasks), quiet_trainer, TrainingPlan(steps))
    start = time.perf_counter()
    model = module.model.train()
    opt = adamw()(model.parameters())
    sched = warmup_cosine(opt, total_steps=steps)
    for batch in loop.train_loader(loop.train_data[0], steps, "bench"):
        loss, _ = module.objective.loss(module, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss.item()  # the value a training loop reports
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args()
    tasks = default_tasks()
    times: dict[str, list[float]] = {"plain PyTorch": [], "Lightning (quiet)": [], "Lightning (progress bar)": []}
    for _ in range(args.repeats):
        times["plain PyTorch"].append(plain_run(tasks, args.steps, args.hidden))
        times["Lightning (quiet)"].append(lightning_run(tasks, args.steps, args.hidden))
        times["Lightning (progress bar)"].append(lightning_run(tasks, args.steps, args.hidden, enable_progress_bar=True))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"one task, {args.steps} steps, batch 32, hidden {args.hidden}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")  # fmt: skip
    for name, seconds in med.items():
        ratio = seconds / med["plain PyTorch"]
        print(f"{name:>26}: {seconds:6.2f} s  ({1000 * seconds / args.steps:5.1f} ms/step)  ratio over plain {ratio:.3f}")


if __name__ == "__main__":
    main()
