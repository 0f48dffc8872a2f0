"""Wall time of a run with continual evaluation (every seen task on a subset every K optimizer
steps, cl.evaluation.continual) over the same run without it: the default stream and model,
four tasks, everything else equal. Runs are interleaved (without, with, without, ...) and the
median of each is taken. Aim: a ratio of at most 1.25 at K = 50 with the default subset of 50.
Run: .venv/bin/python -m benchmarks.continual_eval [--steps 200] [--every 50] [--subset 50] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from benchmarks.common import adamw, default_model, default_tasks, quiet_trainer
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.objectives import SFT
from cl.training.optim import warmup_cosine
from cl.streams import Stream


def run(tasks, steps: int, every: int, subset: int) -> tuple[float, np.ndarray, int]:
    """Seconds of the whole run (row 0, training, task-end rows), its R and its number of points."""
    model, tok = default_model(seed=0)
    module = ContinualModule(model, tok, SFT(), optimizer=adamw(), scheduler=warmup_cosine)
    plan = TrainingPlan(steps, 32, 256, seed=0, eval_every_n_steps=every, eval_subset=subset)
    loop = ContinualLoop(module, Stream(tasks), quiet_trainer, plan)
    start = time.perf_counter()
    R = loop.run()
    return time.perf_counter() - start, R, len(loop.points)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps per task")
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--subset", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tasks = default_tasks()
    without, with_points, points = [], [], 0
    for _ in range(args.repeats):
        seconds, R_plain, _ = run(tasks, args.steps, 0, args.subset)
        without.append(seconds)
        seconds, R_points, points = run(tasks, args.steps, args.every, args.subset)
        with_points.append(seconds)
        assert np.array_equal(R_plain, R_points), "continual evaluation changed the trained model"
    a, b = statistics.median(without), statistics.median(with_points)
    print(f"default stream, 4 tasks x {args.steps} steps, batch 32, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}; K = {args.every}, subset {args.subset}: {points} points")  # fmt: skip
    print(f"without continual evaluation: {a:6.2f} s")
    print(f"with continual evaluation:    {b:6.2f} s  ratio {b / a:.3f} (aim <= 1.25); R identical")


if __name__ == "__main__":
    main()
