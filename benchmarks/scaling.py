"""How a run's cost grows with the length of its stream: the default model on a stream of 32
tasks (the default stream's four rules recycled, each copy with its own seed, so every task has
its own examples) with naive fine-tuning, replay, EWC and LoRA.

One run per method, in its own process, traced task by task, so that the stream's 4th, 8th, 16th
and 32nd tasks are compared inside one run (separate runs of 4 and 32 tasks differ by the
machine's drift in speed, up to 30% between runs here). At each of those points: training
seconds per task (the median of the last 4 tasks'), peak resident memory so far, and the size
of the task-end checkpoint with, beside it, what the method declares it keeps (replay: `size`
examples whatever the stream; EWC: a Fisher and an anchor per task, two copies of the trained
weights each; naive and LoRA: nothing). Each is also given as a ratio to the 4th task's. The
evaluation of a row is printed apart: every row of R scores every task of the stream, so a row
costs the same throughout one run and grows with the stream's length by design (n tasks per row,
n + 1 rows).

Run: .venv/bin/python -m benchmarks.scaling [--tasks 4 8 16 32] [--methods naive replay ewc lora]
     [--steps 100] [--eval 50] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

METHODS = ("naive", "replay", "ewc", "lora")
RULES = ("reverse", "sort", "shift", "copy")  # the default stream's


def stream(n: int, n_eval: int):
    """`n` tasks: the default rules in turn, the k-th copy of a rule with seed k."""
    from cl.streams import Stream, make_task

    return Stream([make_task(f"{RULES[i % 4]}{i // 4}", RULES[i % 4], n_train=2000, n_eval=n_eval, seed=i // 4,
                             min_len=2, max_len=4) for i in range(n)])  # fmt: skip


def one(method: str, n: int, steps: int, n_eval: int) -> dict:
    """One run of `method` on an `n`-task stream, in this process: per row of R, the cumulative
    training and evaluation seconds and the peak memory so far; per task, its end checkpoint's size."""
    import torch

    from benchmarks.common import adamw, default_model, quiet_trainer
    from cl.core.events import Observer
    from cl.models.adapters import LoRA
    from cl.objectives import SFT
    from cl.strategies import EWC, Replay
    from cl.training.checkpoint import CheckpointFolder
    from cl.training.loop import CheckpointPlan, ContinualLoop, TrainingPlan
    from cl.training.module import ContinualModule

    model, tok = default_model(seed=0)
    adapter = LoRA(rank=8) if method == "lora" else None
    strategies = {"replay": [Replay(size=200)], "ewc": [EWC()]}.get(method, [])
    if adapter is not None:
        model = adapter.wrap(model)
    module = ContinualModule(model, tok, SFT(), strategies, adamw(), **({"adapter": adapter} if adapter else {}))
    rows, checkpoints = [], [0]  # checkpoints[i]: bytes of task i's end checkpoint (1-based)

    class Trace(Observer):
        def on_task_start(self, index: int, name: str) -> None:
            if index > 0:  # the previous task's end checkpoint is written after its row
                checkpoints.append(folder.latest().stat().st_size)

        def on_row(self, row) -> None:
            rows.append({"train_s": loop.timing["train_s"], "eval_s": loop.timing["eval_s"],
                         "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        folder = CheckpointFolder(Path(tmp), 1)
        loop = ContinualLoop(module, stream(n, n_eval), quiet_trainer, TrainingPlan(steps, 32, 256, seed=0),
                             checkpoints=CheckpointPlan(folder))  # fmt: skip
        loop.events.attach(Trace())
        loop.run()
        checkpoints.append(folder.latest().stat().st_size)
    weights = sum(p.numel() * p.element_size() for p in module.model.parameters() if p.requires_grad)
    return {"rows": rows, "checkpoints": checkpoints, "weights": weights, "threads": torch.get_num_threads()}


def declared(method: str, tasks: int, weights: int) -> str:
    return {"replay": "200 examples", "ewc": f"{2 * tasks * weights / 1e6:.1f} MB (2 x {tasks} x weights)"}.get(method, "nothing")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--steps", type=int, default=100, help="optimizer steps per task")
    ap.add_argument("--eval", type=int, default=50, help="eval examples per task")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "TASKS"), help=argparse.SUPPRESS)  # a child run
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.steps, args.eval)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    n = max(args.tasks)
    print(f"{n} tasks, {args.steps} steps per task at batch 32, {args.eval} eval examples per task, {args.threads} "
          "threads, one process per method")  # fmt: skip
    print("| method | after task | train s / task | peak RSS MB | checkpoint MB | declared memory | train ratio | "
          "RSS ratio | checkpoint ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    evaluation = {}
    for method in args.methods:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "--one", method, str(n), "--steps",
                               str(args.steps), "--eval", str(args.eval)], env=env, capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            print(f"| {method} | failed: {proc.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows, first = r["rows"], None
        per_task = [b["train_s"] - a["train_s"] for a, b in zip(rows, rows[1:])]  # per_task[i]: task i + 1
        evaluation[method] = statistics.median(b["eval_s"] - a["eval_s"] for a, b in zip(rows, rows[1:]))
        for k in sorted(args.tasks):
            point = {"train": statistics.median(per_task[max(k - 4, 0) : k]), "rss": rows[k]["rss_mb"],
                     "checkpoint": r["checkpoints"][k] / 1e6}  # fmt: skip
            first = first or point
            print(f"| {method} | {k} | {point['train']:.2f} | {point['rss']:.0f} | "
                  f"{point['checkpoint']:.2f} | {declared(method, k, r['weights'])} | {point['train'] / first['train']:.2f} | "
                  f"{point['rss'] / first['rss']:.2f} | {point['checkpoint'] / first['checkpoint']:.2f} |", flush=True)  # fmt: skip
    print(f"evaluation of a row ({n} tasks x {args.eval} examples), median over the rows: "
          + ", ".join(f"{m} {v:.2f} s" for m, v in evaluation.items()))  # fmt: skip


if __name__ == "__main__":
    main()
