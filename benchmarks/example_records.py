"""What the per-example records cost the default experiment: their share of the run folder and of
the wall time, measured in one run of this script.

The default experiment (`cl-run`, the default stream on the tiny model) runs in pairs, with the
records (eval.examples.save=true, the default) and without, alternating, each as one real `cl-run`
process with the same threads. Size: examples/ (the records), and with examples.html (their page),
over the whole run folder (checkpoints included, as a user keeps it). Time: the wall time with
records over the wall time without (the median of the pairs); the records' share is that ratio
minus 1, which carries the noise of the machine (a few percent between identical runs), so
several pairs average it out.
Targets: at most 10% of the folder, at most 3% of the wall time.
Run: .venv/bin/python -m benchmarks.example_records [--pairs 2] [--steps 800]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(folder: Path, save: bool, steps: int, threads: int) -> float:
    """One default-experiment run into `folder`; its wall time in seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "OMP_NUM_THREADS": str(threads)}
    args = [sys.executable, "-m", "cl.cli.run", "logger=none", "trainer.enable_progress_bar=false",
            f"train.steps_per_task={steps}", f"eval.examples.save={str(save).lower()}", f"hydra.run.dir={folder}"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2, help="runs with and without records, alternating")
    ap.add_argument("--steps", type=int, default=800, help="steps per task (the default experiment's: 800)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    ratios, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.pairs):
            with_dir, without_dir = Path(tmp) / f"with{k}", Path(tmp) / f"without{k}"
            with_s = run(with_dir, True, args.steps, args.threads)
            without_s = run(without_dir, False, args.steps, args.threads)
            ratios.append(with_s / without_s)
            records, page = folder_bytes(with_dir / "examples"), (with_dir / "examples.html").stat().st_size
            sizes.append((records, page, folder_bytes(with_dir)))
            print(f"pair {k}: {with_s:.1f} s with records, {without_s:.1f} s without (ratio {ratios[-1]:.3f}); "
                  f"records {records / 1e6:.2f} MB and page {page / 1e6:.2f} MB of a {sizes[-1][2] / 1e6:.2f} MB "
                  "run folder")  # fmt: skip
    records, page, total = sizes[-1]
    ratio = statistics.median(ratios)
    print(f"size: the records (examples/) are {100 * records / total:.1f}% of the run folder, with examples.html "
          f"{100 * (records + page) / total:.1f}% (target <= 10%)")  # fmt: skip
    print(f"time: with / without records = {ratio:.3f} (median of {len(ratios)} pairs): "
          f"{100 * (ratio - 1):+.1f}% of the wall time (target <= 3%)")  # fmt: skip


if __name__ == "__main__":
    main()
