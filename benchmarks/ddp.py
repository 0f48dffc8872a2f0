"""Training throughput of one cl run over two processes (DDP) against one process, on the same
global batch and step budget.

    python -m benchmarks.ddp [--steps 200] [--batch 64] [--threads 1] [--accelerator cpu] [--repeats 2]

Each configuration is a real `cl-run` of the default stream (first two tasks, `--steps` steps
each, checkpoints and logging off); steps per second come from its results.json (training time
only, evaluation excluded). On CPU each process gets `--threads` threads, so two processes use
twice the cores of one: the ratio is the scaling of data parallelism here (ideal 2.0; this
machine has 2 cores). With `--accelerator gpu` the same script compares one GPU with two.
The best of `--repeats` runs is kept for each.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def steps_per_second(run: Path, overrides: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "cl.cli.run", *overrides, f"hydra.run.dir={run}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cl-run failed ({' '.join(overrides)}):\n{proc.stderr[-2000:]}")
    timing = json.loads((run / "results.json").read_text())["timing"]
    return timing["train_steps"] / timing["train_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="threads per process (CPU)")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    common = [f"train.steps_per_task={args.steps}", f"train.batch_size={args.batch}", "stream.order=[reverse,sort]",
              "checkpoint.enabled=false", "logger=none", "trainer.enable_progress_bar=false",
              f"trainer.accelerator={args.accelerator}"]  # fmt: skip
    layouts = {"1 process": ["trainer.devices=1"], "2 processes (DDP)": ["+trainer.strategy=ddp", "trainer.devices=2"]}
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, layout in layouts.items():
            runs = [steps_per_second(Path(tmp) / f"{name[0]}-{k}", common + layout, args.threads) for k in range(args.repeats)]
            rates[name] = max(runs)
            print(f"{name:18s} {rates[name]:7.2f} steps/s  (runs: {', '.join(f'{r:.2f}' for r in runs)})")
    ratio = rates["2 processes (DDP)"] / rates["1 process"]
    print(f"global batch {args.batch}, {args.steps} steps x 2 tasks, {args.threads} thread(s) per process")
    print(f"throughput ratio 2 processes / 1 process: {ratio:.2f} (ideal 2.00)")


if __name__ == "__main__":
    main()
