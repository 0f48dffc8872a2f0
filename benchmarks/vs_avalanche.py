"""cl against Avalanche: the same stream, MLP, hyperparameters and seeds through both.

Setting: split MNIST-1D, 5 experiences of 2 classes, class-incremental (one head over the 10
classes), built per seed by `cl.streams.benchmarks.split_mnist1d` as an Avalanche benchmark.
Avalanche (`avalanche.training` Naive, Replay, EWC, LwF, AGEM) trains directly on that
benchmark object; cl runs the real `cl-run` (stream=split_mnist1d, which builds the same
experiences from the same seed) in a subprocess. Both start from the same weights: cl's
`cl.models.classifiers.mlp` built with the run's seed (hidden 256x256, ReLU, no dropout), and
row 0 of R (before training) comes out identical on both sides. Both use plain SGD (no
momentum or weight decay, constant learning rate 0.1, no gradient clipping), cross-entropy,
batches of 32, evaluation batches of 256, on the CPU with the same number of threads.
Avalanche trains 10 epochs per experience (shuffled; the last batch of an epoch is partial);
cl trains a fixed number of optimizer steps per task on batches drawn with replacement, set
to epochs * ceil(n_train / 32) averaged over the experiences (252-254), so both take the same
number of optimizer steps up to a step per task.

The settings were fixed from the Avalanche side alone, before any cl run: learning rate and
epochs so that each experience is learnt (naive's accuracy right after each experience of
0.73-0.99 at seed 0; 2 epochs at 0.05 left the first below 0.65); EWC's lambda well inside
what SGD at this rate is stable with (SGD on the penalty needs lr * 2 * lambda * F < 2, and F
reaches 0.3 here: lambda < ~30; 1000 diverged); the rest Avalanche's defaults or usual values.

Each side fills the accuracy matrix R (row 0 before training, row i after experience i, one
column per experience's test set): Avalanche by its own `strategy.eval` on the test stream
(an EvaluationPlugin with experience accuracy and no logger), cl by its evaluation of every
task. The tables give ACC (mean of R's last row) and BWT (mean over j < T of R[T][j] -
R[j+1][j]), from `cl.evaluation.matrix`, as mean ± std over seeds and for every seed, and the
wall time per run (median over seeds) and the ratio cl / Avalanche. Set-up is excluded on
both sides. Avalanche: its `eval` and `train` calls, timed with time.perf_counter (its
after-experience work, EWC's Fisher or filling a memory, runs inside `train` and is counted).
cl: results.json's `timing.train_s + eval_s + hooks_s` (the fits, the evaluations and the
strategies' task-start and task-end work, EWC's Fisher and the memory fills among them). The
time of cl's whole subprocess, Python start-up, imports and data building included, is shown
apart. Runs go one at a time, each on `--threads` threads.

Where the pairs differ, and the cl settings that make them as close as the two allow:
- naive: the same algorithm. Avalanche sweeps each experience in epochs; cl draws batches with
  replacement (and logs the loss and gradient norm every few steps).
- replay (mem_size 200): Avalanche's default ReplayPlugin keeps an experience-balanced memory
  (mem_size / experiences seen, a random subset of each experience) and appends a memory batch
  of train_mb_size to every current batch, cycling through the memory. cl:
  strategy.replay.size=200, policy=balanced (equal slots per task, a reservoir within each),
  batch_share=0.5 (as many memory examples as current ones), drawn anew for each batch.
- ewc (mode separate, one penalty per experience): Avalanche adds lambda * sum F (theta -
  theta*)^2 with F the mean over the experience's training mini-batches (of 32) of the squared
  mini-batch gradient, in one pass; cl adds (lambda / 2) * sum F (theta - theta*)^2 with F the
  mean over examples of the squared per-example gradient (fisher=empirical; fisher_samples
  above the experience's size, so every training example, one backward pass each). The same
  lambda is therefore not the same strength: a squared mean of 32 gradients is 1/32 of their
  mean square only where the mean gradient is 0. Measured on these models (`--measure-fisher`:
  Avalanche naive, after each experience, both estimates on that experience), cl's Fisher is
  4-20 times Avalanche's (geometric mean 10.5 over 3 seeds x 5 experiences), so cl runs with
  lambda_cl = 2 * lambda_avalanche / 10 (Avalanche lambda 10: cl 2.0). Only the total is
  matched: how the Fisher spreads over the parameters differs.
- lwf (alpha 1, temperature 2, Avalanche's defaults): Avalanche's penalty is alpha *
  KL(teacher_T || student_T) over the units of the classes seen in earlier experiences only (a
  softmax over those), without the T^2 factor; cl's is alpha * T^2 * KL over every output unit.
  cl runs with alpha = 1 / T^2 = 0.25, the same weight on the KL. Row `lwf`: cl's default
  units=all, which differs in a class-incremental stream: cl's teacher also gives low logits to
  the current experience's classes and cl's penalty keeps them there, which Avalanche's (blind
  to those units) does not. Row `lwf_seen`: cl with units=seen, the units of the classes of
  earlier tasks only, Avalanche's algorithm (the same Avalanche runs as `lwf`). Both teachers
  are the model at the end of the previous experience.
- agem (patterns_per_exp 40, sample_size 32): Avalanche keeps 40 random examples of every
  experience (a memory that grows to 200) and draws its reference batch balanced over
  experiences (32 // experiences from each); cl keeps strategy.agem.size = 40 * 5 = 200 with
  policy=balanced (more per task than Avalanche before the last experience, the same at the
  end) and draws sample_size=32 from all of it. Both project when g . g_ref < 0.

Run: .venv/bin/python -m benchmarks.vs_avalanche [--seeds 0 1 2] [--strategies naive replay ewc lwf agem]
     [--epochs 10] [--lr 0.1] [--threads 1] [--doc FILE]
     .venv/bin/python -m benchmarks.vs_avalanche --measure-fisher   (the EWC Fisher ratio above)
About 4-5 minutes on 2 CPU cores. The last tables, with command, commit, environment and reading,
are docs/experiments/vs-avalanche.md (--doc replaces the whole file: write elsewhere and copy in).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STRATEGIES = ("naive", "replay", "ewc", "lwf", "lwf_seen", "agem")


@dataclass
class Settings:
    """The shared hyperparameters, fixed from the Avalanche side alone before any cl run."""

    n_experiences: int = 5
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    dropout: float = 0.0
    lr: float = 0.1
    batch_size: int = 32
    eval_batch_size: int = 256
    epochs: int = 10
    mem_size: int = 200  # replay
    ewc_lambda: float = 10.0  # Avalanche's lambda (cl's: 2 * this / ewc_fisher_ratio)
    ewc_fisher_ratio: float = 10.0  # cl's per-example Fisher / Avalanche's mini-batch Fisher (measured)
    lwf_alpha: float = 1.0  # Avalanche's alpha (cl's: this / temperature^2)
    lwf_temperature: float = 2.0
    agem_patterns_per_exp: int = 40
    agem_sample_size: int = 32


def metrics(R) -> dict[str, float]:
    from cl.evaluation.matrix import backward_transfer, final_accuracy

    return {"acc": final_accuracy(R), "bwt": backward_transfer(R)}


# -- Avalanche ------------------------------------------------------------------------------------
def avalanche_strategy(name: str, s: Settings, model):
    import torch
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training import AGEM, EWC, LwF, Naive, Replay
    from avalanche.training.plugins import EvaluationPlugin

    common = dict(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=s.lr),
        criterion=torch.nn.CrossEntropyLoss(),
        train_mb_size=s.batch_size,
        train_epochs=s.epochs,
        eval_mb_size=s.eval_batch_size,
        device="cpu",
        evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
    )
    if name == "naive":
        return Naive(**common)
    if name == "replay":
        return Replay(mem_size=s.mem_size, **common)
    if name == "ewc":
        return EWC(ewc_lambda=s.ewc_lambda, mode="separate", **common)
    if name in ("lwf", "lwf_seen"):
        return LwF(alpha=s.lwf_alpha, temperature=s.lwf_temperature, **common)
    if name == "agem":
        return AGEM(patterns_per_exp=s.agem_patterns_per_exp, sample_size=s.agem_sample_size, **common)
    raise ValueError(f"unknown strategy {name}")


def accuracy_row(results: dict, n: int) -> list[float]:
    """Avalanche's experience accuracies (Top1_Acc_Exp/eval_phase/test_stream/Task000/ExpNNN)."""
    row = [None] * n
    for key, value in results.items():
        if key.startswith("Top1_Acc_Exp/eval_phase/test_stream/"):
            row[int(key.rsplit("Exp", 1)[1])] = float(value)
    if any(v is None for v in row):
        raise RuntimeError(f"Avalanche evaluated only some experiences: {sorted(results)}")
    return row


@contextmanager
def quiet_avalanche():
    """Silence Avalanche's deprecation notices (its decorator re-enables them at every call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.showwarning = lambda *args, **kwargs: None
        yield


def run_avalanche(name: str, seed: int, s: Settings, threads: int) -> dict:
    with quiet_avalanche():
        return _run_avalanche(name, seed, s, threads)


def _run_avalanche(name: str, seed: int, s: Settings, threads: int) -> dict:
    import torch

    from cl.models.classifiers import mlp
    from cl.streams.benchmarks import split_mnist1d

    torch.set_num_threads(threads)
    random.seed(seed)  # Avalanche's A-GEM picks its memory with Python's random
    np.random.seed(seed)
    torch.manual_seed(seed)
    bench = split_mnist1d(n_experiences=s.n_experiences, seed=seed)
    model = mlp(input_shape=(40,), n_classes=10, head_classes=None, hidden=s.hidden, dropout=s.dropout, seed=seed)
    strategy = avalanche_strategy(name, s, model)
    n = len(bench.test_stream)
    start = time.perf_counter()
    R = [accuracy_row(strategy.eval(bench.test_stream), n)]
    for experience in bench.train_stream:
        strategy.train(experience)
        R.append(accuracy_row(strategy.eval(bench.test_stream), n))
    wall = time.perf_counter() - start
    sizes = [len(e.dataset) for e in bench.train_stream]
    return {"R": R, "wall_s": wall, "train_sizes": sizes, **metrics(R)}


# -- cl ---------------------------------------------------------------------------------------------
def steps_per_task(s: Settings, train_sizes: list[int]) -> int:
    """Avalanche's optimizer steps per experience (epochs * batches per epoch), averaged."""
    return round(s.epochs * np.mean([math.ceil(n / s.batch_size) for n in train_sizes]))


def cl_ewc_lambda(s: Settings) -> float:
    """cl's lambda for the strength of Avalanche's: (lambda_cl / 2) F_cl = lambda_av F_av."""
    return 2 * s.ewc_lambda / s.ewc_fisher_ratio


def cl_overrides(name: str, s: Settings) -> list[str]:
    if name == "naive":
        return ["strategy=naive"]
    if name == "replay":
        return ["strategy=replay", f"strategy.replay.size={s.mem_size}", "strategy.replay.policy=balanced",
                "strategy.replay.batch_share=0.5"]  # fmt: skip
    if name == "ewc":
        return ["strategy=ewc", f"strategy.ewc.lambda_={cl_ewc_lambda(s)}", "strategy.ewc.fisher=empirical",
                "strategy.ewc.fisher_samples=100000", "strategy.ewc.online=false"]  # fmt: skip
    if name in ("lwf", "lwf_seen"):
        return ["strategy=lwf", f"strategy.lwf.alpha={s.lwf_alpha / s.lwf_temperature**2}",
                f"strategy.lwf.temperature={s.lwf_temperature}", f"strategy.lwf.units={name[4:] or 'all'}"]  # fmt: skip
    if name == "agem":
        return ["strategy=agem", f"strategy.agem.size={s.agem_patterns_per_exp * s.n_experiences}",
                "strategy.agem.policy=balanced", f"strategy.agem.sample_size={s.agem_sample_size}"]  # fmt: skip
    raise ValueError(f"unknown strategy {name}")


def run_cl(name: str, seed: int, s: Settings, threads: int, steps: int, run_dir: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}  # fmt: skip
    hidden = "[" + ",".join(map(str, s.hidden)) + "]"
    cmd = [sys.executable, "-m", "cl.cli.run", "stream=split_mnist1d", f"stream.benchmark.n_experiences={s.n_experiences}",
           "model=mlp", f"model.hidden={hidden}", f"model.dropout={s.dropout}", *cl_overrides(name, s),
           "optimizer=sgd", f"optimizer.lr={s.lr}", "scheduler=constant", "logger=none", "checkpoint.enabled=false",
           "trainer.enable_progress_bar=false", "trainer.gradient_clip_val=null", f"seed={seed}",
           f"train.steps_per_task={steps}", f"train.batch_size={s.batch_size}", f"eval.batch_size={s.eval_batch_size}",
           f"hydra.run.dir={run_dir}"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    process_s = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"cl-run {name} seed {seed} failed:\n{' '.join(cmd)}\n{proc.stderr[-3000:]}")
    res = json.loads((run_dir / "results.json").read_text())
    timing = res["timing"]
    R = [list(map(float, row)) for row in res["R"]]
    wall = timing["train_s"] + timing["eval_s"] + timing["hooks_s"]
    return {"R": R, "wall_s": wall, "hooks_s": timing["hooks_s"], "process_s": process_s, **metrics(R)}


# -- the tables -------------------------------------------------------------------------------------
def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def tables(results: dict[str, dict[str, list[dict]]], seeds: list[int]) -> str:
    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    lines = [
        "Wall time per run, median over seeds, set-up excluded (cl: training, evaluation and task hooks; "
        "cl process: the whole subprocess, Python start-up and imports included).",
        "",
        "| strategy | ACC cl | ACC Avalanche | BWT cl | BWT Avalanche | cl s | Avalanche s | cl/Avalanche | cl process s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, sides in results.items():
        c, a = sides["cl"], sides["avalanche"]
        cw, aw = med(c, "wall_s"), med(a, "wall_s")
        lines.append(
            f"| {name} | {fmt([r['acc'] for r in c])} | {fmt([r['acc'] for r in a])} | {fmt([r['bwt'] for r in c])} "
            f"| {fmt([r['bwt'] for r in a])} | {cw:.2f} | {aw:.2f} | {cw / aw:.2f} | {med(c, 'process_s'):.1f} |"
        )
    lines += ["", "Every seed:", "",
              "| strategy | seed | ACC cl | ACC Avalanche | BWT cl | BWT Avalanche | cl s (of which hooks) | Avalanche s |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, sides in results.items():
        for seed, c, a in zip(seeds, sides["cl"], sides["avalanche"]):
            lines.append(
                f"| {name} | {seed} | {c['acc']:.3f} | {a['acc']:.3f} | {c['bwt']:+.3f} | {a['bwt']:+.3f} "
                f"| {c['wall_s']:.2f} ({c['hooks_s']:.2f}) | {a['wall_s']:.2f} |"
            )
    return "\n".join(lines)


def measure_fisher(s: Settings, seeds: list[int], threads: int) -> None:
    """Print, after each experience of Avalanche's naive run, the total of cl's Fisher (mean
    squared per-example gradient) over the total of Avalanche EWC's (mean squared gradient of
    train_mb_size mini-batches), both on that experience's training data: the ratio behind
    `ewc_fisher_ratio`."""
    import torch
    import torch.nn.functional as F
    from avalanche.training.plugins.ewc import EWCPlugin

    from cl.models.classifiers import mlp
    from cl.streams.benchmarks import split_mnist1d

    torch.set_num_threads(threads)
    ratios = []
    for seed in seeds:
        with quiet_avalanche():
            torch.manual_seed(seed)
            bench = split_mnist1d(n_experiences=s.n_experiences, seed=seed)
            model = mlp(input_shape=(40,), n_classes=10, hidden=s.hidden, dropout=s.dropout, seed=seed)
            strategy = avalanche_strategy("naive", s, model)
            row = []
            for experience in bench.train_stream:
                strategy.train(experience)
                data = experience.dataset
                avalanche = EWCPlugin(1.0).compute_importances(
                    model, torch.nn.CrossEntropyLoss(), strategy.optimizer, data, "cpu", s.batch_size
                )
                per_example = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
                for i in range(len(data)):
                    x, y = data[i][0], data[i][1]
                    model.zero_grad()
                    F.cross_entropy(model(x[None]), torch.tensor([y])).backward()
                    for n, p in model.named_parameters():
                        per_example[n] += p.grad**2
                cl_total = sum(f.sum().item() for f in per_example.values()) / len(data)
                row.append(cl_total / sum(f.data.sum().item() for f in avalanche.values()))
        ratios += row
        print(f"seed {seed}: cl Fisher / Avalanche Fisher after each experience: " + ", ".join(f"{r:.1f}" for r in row))
    print(f"geometric mean {math.exp(np.mean(np.log(ratios))):.1f} (min {min(ratios):.1f}, max {max(ratios):.1f}); "
          f"the runs use ewc_fisher_ratio={s.ewc_fisher_ratio}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--epochs", type=int, default=Settings.epochs, help="epochs per experience (Avalanche)")
    ap.add_argument("--lr", type=float, default=Settings.lr)
    ap.add_argument("--ewc-fisher-ratio", type=float, default=Settings.ewc_fisher_ratio,
                    help="cl's Fisher over Avalanche's, for cl's EWC lambda (see --measure-fisher)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each side")
    ap.add_argument("--doc", type=Path, default=None, help="also write the tables to this Markdown file")
    ap.add_argument("--measure-fisher", action="store_true", help="only measure the EWC Fisher ratio and exit")
    args = ap.parse_args()
    s = Settings(epochs=args.epochs, lr=args.lr, ewc_fisher_ratio=args.ewc_fisher_ratio)
    if args.measure_fisher:
        measure_fisher(s, args.seeds, args.threads)
        return
    from cl.streams.benchmarks import split_mnist1d

    results: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.strategies:
            results[name] = {"avalanche": [], "cl": []}
            for seed in args.seeds:
                a = run_avalanche(name, seed, s, args.threads)
                sizes = [len(e.dataset) for e in split_mnist1d(n_experiences=s.n_experiences, seed=seed).train_stream]
                steps = steps_per_task(s, sizes)
                c = run_cl(name, seed, s, args.threads, steps, Path(tmp) / f"{name}-{seed}")
                results[name]["avalanche"].append(a)
                results[name]["cl"].append(c)
                print(f"{name} seed {seed}: Avalanche ACC {a['acc']:.3f} BWT {a['bwt']:+.3f} in {a['wall_s']:.2f} s; "
                      f"cl ACC {c['acc']:.3f} BWT {c['bwt']:+.3f} in {c['wall_s']:.2f} s ({steps} steps per task)",
                      flush=True)  # fmt: skip
    header = (f"Split MNIST-1D, {s.n_experiences} experiences, class-incremental; seeds {args.seeds}; "
              f"{args.threads} thread(s) per side, one run at a time. Settings: {json.dumps(asdict(s))}.")  # fmt: skip
    text = tables(results, args.seeds)
    print(f"\n{header}\n\n{text}")
    if args.doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(f"# cl against Avalanche\n\n{header}\n\n{text}\n")


if __name__ == "__main__":
    main()
