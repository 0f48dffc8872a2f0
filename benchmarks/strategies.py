"""Every strategy against naive and joint on the default stream, over several seeds.

Each (strategy, seed) is one real `cl-run` in a subprocess (W&B off); the table gives ACC, BWT,
forgetting and learning accuracy as mean +- std over seeds, the wall time per run, and the time
per training step and peak memory of each strategy as ratios against naive measured in the
same sweep. Prints the table; `--doc FILE` also writes it to FILE as a Markdown page. The last
table, with its command, commit, environment and discussion, is docs/experiments/strategies.md
(write the new table elsewhere and copy it in: --doc replaces the whole file).
Run: .venv/bin/python -m benchmarks.strategies [--seeds 0 1 2] [--jobs 2] [--out DIR] [--doc FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# name in the table -> cl-run overrides
SETUPS = {
    "naive": ["strategy=naive"],
    "joint": ["strategy=joint"],
    "replay": ["strategy=replay"],
    "ewc": ["strategy=ewc"],
    "ewc (sampled Fisher)": ["strategy=ewc", "strategy.ewc.fisher=sampled"],
    "online_ewc": ["strategy=online_ewc"],
    "l2": ["strategy=l2"],
    "si": ["strategy=si"],
    "lwf": ["strategy=lwf"],
    "agem": ["strategy=agem"],
    "derpp": ["strategy=derpp"],
    "hft": ["strategy=hft"],
    "reset": ["strategy=reset"],
    "replay + ewc": ["strategy=[replay,ewc]"],
}


def run_one(name: str, seed: int, out: Path, threads: int, extra: list[str]) -> dict:
    run_dir = out / name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "and") / f"seed{seed}"
    if not (run_dir / "results.json").exists():
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
        cmd = [sys.executable, "-m", "cl.cli.run", *SETUPS[name], f"seed={seed}", "logger=none",
               "trainer.enable_progress_bar=false", *extra, f"hydra.run.dir={run_dir}"]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{name} seed {seed} failed:\n{proc.stderr[-2000:]}")
        (run_dir / "wall_seconds.txt").write_text(f"{time.perf_counter() - start:.2f}")
    res = json.loads((run_dir / "results.json").read_text())
    res["wall_s"] = float((run_dir / "wall_seconds.txt").read_text())
    return res


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):+.3f} ± {np.std(values):.3f}"


def table(results: dict[str, list[dict]]) -> str:
    def step_ms(r):
        return 1000 * r["timing"]["train_s"] / r["timing"]["train_steps"]

    base_step = np.mean([step_ms(r) for r in results["naive"]])
    base_mem = np.mean([r["peak_rss_mb"] for r in results["naive"]])
    lines = [
        "| strategy | ACC | BWT | forgetting | learning acc | wall s/run | step time vs naive | peak memory vs naive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        m = {k: [r["metrics"][k] for r in runs] for k in ("acc", "bwt", "forgetting", "learning_acc")}
        lines.append(
            f"| {name} | {fmt(m['acc'])} | {fmt(m['bwt'])} | {fmt(m['forgetting'])} | {fmt(m['learning_acc'])} "
            f"| {np.mean([r['wall_s'] for r in runs]):.0f} | {np.mean([step_ms(r) for r in runs]) / base_step:.2f}x "
            f"| {np.mean([r['peak_rss_mb'] for r in runs]) / base_mem:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (each gets cores/jobs threads)")
    ap.add_argument("--only", nargs="*", default=None, help="a subset of: " + ", ".join(SETUPS))
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cl-bench-strategies",
                    help="where the runs go (default: outside the checkout)")  # fmt: skip
    ap.add_argument("--doc", type=Path, default=None, help="also write the table to this Markdown file")
    ap.add_argument("extra", nargs="*", help="overrides for every run, e.g. train.steps_per_task=200")
    args = ap.parse_args()
    names = ["naive", *[n for n in (args.only or SETUPS) if n != "naive"]]
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    jobs = [(n, s) for n in names for s in args.seeds]
    done: dict[tuple[str, int], dict] = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_one, n, s, args.out, threads, args.extra): (n, s) for n, s in jobs}
        for k, fut in enumerate(futures):
            done[futures[fut]] = fut.result()
            print(f"[{k + 1}/{len(jobs)}] {futures[fut][0]} seed {futures[fut][1]}", flush=True)
    results = {n: [done[(n, s)] for s in args.seeds] for n in names}
    text = table(results)
    header = (f"Default stream ({' -> '.join(results['naive'][0]['trained_tasks'])}), seeds {args.seeds}, "
              f"{args.jobs} runs in parallel with {threads} thread(s) each. Extra overrides: {args.extra or 'none'}.")  # fmt: skip
    if args.doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(f"# Strategies on the default stream\n\n{header}\n\n{text}\n")
    print(header)
    print(text)


if __name__ == "__main__":
    main()
