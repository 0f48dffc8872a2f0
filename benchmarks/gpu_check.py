"""A GPU machine checked in one command: cl's GPU paths run once each, one table of what worked.

    python -m benchmarks.gpu_check [--steps 200] [--llm-steps 20] [--out FILE]

Every run is a real `cl-run` in a subprocess, into a temporary folder that is removed at the end
(logger, per-example records and the KL column off). The parts and their rows:
1. the default experiment (conf/config.yaml, `--steps` per task) on the CPU and on one GPU: R of
   the two within R_TOLERANCE of each other; the CPU run's final weights scored again here, in
   this process, on the CPU (must equal R's last row) and on the GPU (within RESCORE_TOLERANCE);
2. SmolLM2-135M-Instruct in bf16-mixed on one GPU, full fine-tuning and LoRA: `--llm-steps` steps,
   ms per step and peak GPU memory;
3. RFT rollouts with SmolLM2 on one GPU: ms per step;
4. DDP and FSDP over 2 GPUs, 2 tasks: R's last row must equal the final weights scored here in one
   process.
A part that fails says why in one line and the check goes on; the GPU parts say `skipped` on a
machine without enough GPUs. The table goes to the console and, as JSON with each run's overrides
(and the end of the log of each failed one), to `--out` (default: cl-gpu-check.json in the
system's temporary folder, /tmp on Linux).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Training R on other kernels: after a few hundred steps the two runs are different models, and
# cells of R move by up to 0.085 (17 of 200 examples) between two CPU kernel sets (AVX2 vs
# AVX512: 0.085, no vectorization vs AVX512: 0.065; --steps 200, seed 0; seed 1 vs seed 0: 0.18).
R_TOLERANCE = 0.15
# The same weights scored on other kernels: only an example whose top two tokens tie to within
# rounding can flip; allowed: 2 of a task's 200.
RESCORE_TOLERANCE = 0.01
# Quiet, fast runs: no W&B, no per-example records, no KL-to-start column.
QUIET = ["logger=none", "trainer.enable_progress_bar=false", "eval.examples.save=false", "eval.kl.prompts=0"]
# SmolLM2 on one instruction task (facts2text: ROUGE-L, a reward that varies within RFT's groups)
SMOLLM2 = ["+setup=smollm2_instruct", "stream.order=[facts2text]", "eval.general=null", "checkpoint.enabled=false",
           "trainer.accelerator=gpu", "trainer.precision=bf16-mixed"]  # fmt: skip
# The peak GPU memory of a cl-run process, written at its exit to the file named first in argv.
PEAK_MEMORY = """import atexit, pathlib, sys, torch
out = pathlib.Path(sys.argv.pop(1))
atexit.register(lambda: out.write_text(str(torch.cuda.max_memory_allocated())))
from cl.cli.run import entry
entry()"""
NO_GPU, TWO_GPUS = "no GPU", "needs 2 GPUs"
RUN_TIMEOUT_S = 600  # each run takes seconds to 2 minutes; longer is a hang
EQUAL = 1e-6  # R is rounded to 6 decimals in results.json


@dataclass
class Row:
    part: str
    run: str
    status: str = "ok"  # ok | failed | skipped
    reason: str = ""
    figures: dict = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    log: str = ""  # the end of a failed run's stderr


class RunFailed(Exception):
    """A part that failed: the reason in one line, the end of the run's log, the figures measured."""

    def __init__(self, reason: str, log: str = "", figures: dict | None = None) -> None:
        super().__init__(reason)
        self.log, self.figures = log, figures or {}


@dataclass
class Check:
    folder: Path
    steps: int
    llm_steps: int
    gpus: int


def default_runs(steps: int) -> dict[str, list[str]]:
    """The overrides of part 1's runs, by accelerator."""
    base = [*QUIET, f"train.steps_per_task={steps}"]
    return {"cpu": [*base, "trainer.accelerator=cpu"], "gpu": [*base, "trainer.accelerator=gpu"]}


def gpu_runs(steps: int, llm_steps: int) -> dict[str, list[str]]:
    """The overrides of parts 2-4's runs, by name."""
    llm = [*QUIET, *SMOLLM2, f"train.steps_per_task={llm_steps}"]
    # 32-true: R must equal an fp32 evaluation of the final weights in one process
    sharded = [*QUIET, f"train.steps_per_task={steps}", "stream.order=[reverse,sort]", "trainer.devices=2",
               "trainer.precision=32-true"]  # fmt: skip
    return {"full": llm, "lora": [*llm, "adapter=lora"], "rft": [*llm, "+finetune=rft", "train.batch_size=4"],
            "ddp": [*sharded, "trainer=ddp"], "fsdp": [*sharded, "trainer=fsdp"]}  # fmt: skip


def cl_run(folder: Path, overrides: list[str], peak_memory: bool = False, threads: int | None = None):
    """results.json of `cl-run overrides` run into `folder` (with `threads` CPU threads if
    given), its wall seconds, and (with `peak_memory`) its peak GPU memory in bytes; RunFailed
    with the error's line if it fails or outlasts RUN_TIMEOUT_S."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    env |= {"OMP_NUM_THREADS": str(threads)} if threads else {}
    peak = folder.with_suffix(".peak")
    head = ["-c", PEAK_MEMORY, str(peak)] if peak_memory else ["-m", "cl.cli.run"]
    start = time.perf_counter()
    # its own session: a hung run is killed with the processes it started (DDP's other ranks)
    proc = subprocess.Popen([sys.executable, *head, *overrides, f"hydra.run.dir={folder}"], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise RunFailed(f"no end after {RUN_TIMEOUT_S} s: killed", proc.communicate()[1][-4000:]) from None
    seconds, results = time.perf_counter() - start, folder / "results.json"
    if proc.returncode != 0 or not results.is_file():
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        raise RunFailed((lines or [f"exit status {proc.returncode}"])[-1][:300], stderr[-4000:])
    out = json.loads(results.read_text())
    if out["status"]["state"] != "finished":
        raise RunFailed(f"the run ended {out['status']['state']}: {out['status'].get('reason', '')}")
    return out, seconds, int(peak.read_text()) if peak_memory else None


def scored_last_row(run: Path, device: str = "cpu", subset: int | None = None) -> list[float]:
    """Every column's accuracy of a run's final weights (its newest checkpoint), scored in this
    process on `device` in fp32: teacher-forced exact match, as R's cells of exact-match tasks
    (`subset`: on the continual-evaluation subset of that many examples, as its points are)."""
    import numpy as np
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from cl.assembly.tasks import build_tasks
    from cl.core.seeding import task_seed
    from cl.evaluation.continual import subset_task
    from cl.evaluation.exact_match import teacher_forced_exact_match
    from cl.streams.encoding import Encoder

    cfg = OmegaConf.load(run / "config.yaml")
    model, tokenizer = instantiate(cfg.model)
    final = sorted((run / "checkpoints").iterdir())[-1]
    state = torch.load(final, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    encoder, tasks = Encoder(tokenizer, cfg.model.get("max_length")), build_tasks(cfg)
    columns = json.loads((run / "results.json").read_text())["tasks"]
    if subset:
        tasks = {n: subset_task(tasks[n], subset, task_seed(cfg.seed, f"continual:{n}")) for n in columns}
    model = model.to(device).eval()
    return [float(np.mean(teacher_forced_exact_match(model, encoder, tasks[n], cfg.eval.batch_size))) for n in columns]


def max_difference(a, b) -> float:
    import numpy as np

    return round(float(np.abs(np.asarray(a) - np.asarray(b)).max()), 6)


# -- the parts: each returns its row's figures, raises RunFailed, or is skipped before it runs --------
def default_cpu(check: Check) -> dict:
    """Part 1 on the CPU, and its final weights scored again in this process (must equal R's last
    row). One thread: the tiny model's steps are too small to share out, and other jobs on the
    machine's cores then slow it least (2 threads on a busy 2-core machine: 9x slower)."""
    out, seconds, _ = cl_run(check.folder / "default-cpu", default_runs(check.steps)["cpu"], threads=1)
    again = max_difference(scored_last_row(check.folder / "default-cpu", "cpu"), out["R"][-1])
    figures = {"R": out["R"], "wall_s": round(seconds, 1), "train_ms_per_step": ms_per_step(out),
               "rescored_max_diff": again}  # fmt: skip
    if again > EQUAL:
        raise RunFailed(f"R's last row differs from its final weights scored again on the CPU by {again}", figures=figures)
    return figures


def default_gpu(check: Check, cpu: dict | None) -> dict:
    """Part 1 on one GPU, R against the CPU's."""
    out, seconds, _ = cl_run(check.folder / "default-gpu", default_runs(check.steps)["gpu"])
    figures = {"R": out["R"], "wall_s": round(seconds, 1), "train_ms_per_step": ms_per_step(out),
               "tolerance": R_TOLERANCE}  # fmt: skip
    if cpu is None:
        raise RunFailed("no R of the CPU run to compare with", figures=figures)
    diff = figures["max_diff_vs_cpu"] = max_difference(out["R"], cpu["R"])
    if diff > R_TOLERANCE:
        raise RunFailed(f"R differs from the CPU's by {diff} (tolerance {R_TOLERANCE})", figures=figures)
    return figures


def cpu_weights_on_gpu(check: Check, cpu: dict | None) -> dict:
    """The CPU run's final weights scored on the GPU, against R's last row on the CPU."""
    if cpu is None:
        raise RunFailed("the CPU run failed: no weights to score")
    row = scored_last_row(check.folder / "default-cpu", "cuda")
    diff = max_difference(row, cpu["R"][-1])
    figures = {"last_row": row, "max_diff_vs_cpu": diff, "tolerance": RESCORE_TOLERANCE}
    if diff > RESCORE_TOLERANCE:
        raise RunFailed(f"the GPU scores them {diff} away from the CPU", figures=figures)
    return figures


def llm_steps(check: Check, name: str) -> dict:
    """Parts 2 and 3: SmolLM2 steps in bf16-mixed on one GPU."""
    overrides = gpu_runs(check.steps, check.llm_steps)[name]
    out, seconds, peak = cl_run(check.folder / name, overrides, peak_memory=True)
    return {"train_ms_per_step": ms_per_step(out), "steps": out["timing"]["train_steps"],
            "peak_gpu_mib": round(peak / 2**20), "wall_s": round(seconds, 1)}  # fmt: skip


def sharded(check: Check, name: str) -> dict:
    """Part 4: 2 processes on 2 GPUs; R's last row against one process's scoring of the final weights."""
    out, seconds, _ = cl_run(check.folder / name, gpu_runs(check.steps, check.llm_steps)[name])
    diff = max_difference(scored_last_row(check.folder / name, "cuda"), out["R"][-1])
    figures = {"R": out["R"], "max_diff_vs_one_process": diff, "wall_s": round(seconds, 1)}
    if diff > EQUAL:
        raise RunFailed(f"R's last row differs from one process's scoring of the final weights by {diff}", figures=figures)
    return figures


def ms_per_step(results: dict) -> float:
    """Mean milliseconds per optimizer step over the run's training (evaluation excluded; the
    first step's start-up cost included)."""
    timing = results["timing"]
    return round(1000 * timing["train_s"] / timing["train_steps"], 1)


# -- running and reporting ------------------------------------------------------------------------
def attempt(rows: list[Row], part: str, run: str, needs: int, gpus: int, work, overrides: list[str]) -> dict | None:
    """Row `part`/`run`: skipped when fewer than `needs` GPUs, else `work()`'s figures or its
    failure; the figures, or None."""
    row = Row(part, run, overrides=overrides)
    rows.append(row)
    if gpus < needs:
        row.status, row.reason = "skipped", NO_GPU if gpus == 0 else TWO_GPUS
        return None
    try:
        row.figures = work()
    except Exception as err:  # any failure is this row's, and the check goes on
        row.status, row.reason = "failed", f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
        if isinstance(err, RunFailed):
            row.reason, row.log, row.figures = str(err), err.log, err.figures
    return row.figures if row.status == "ok" else None


def run_check(check: Check) -> list[Row]:
    rows: list[Row] = []
    runs, gpu = default_runs(check.steps), gpu_runs(check.steps, check.llm_steps)
    part1, part2, part3, part4 = ("1 default experiment", "2 SmolLM2 bf16-mixed", "3 RFT rollouts", "4 two GPUs")
    cpu = attempt(rows, part1, "CPU", 0, check.gpus, lambda: default_cpu(check), runs["cpu"])
    attempt(rows, part1, "GPU vs CPU", 1, check.gpus, lambda: default_gpu(check, cpu), runs["gpu"])
    attempt(rows, part1, "CPU weights scored on GPU", 1, check.gpus, lambda: cpu_weights_on_gpu(check, cpu), [])
    attempt(rows, part2, "full fine-tuning", 1, check.gpus, lambda: llm_steps(check, "full"), gpu["full"])
    attempt(rows, part2, "LoRA", 1, check.gpus, lambda: llm_steps(check, "lora"), gpu["lora"])
    attempt(rows, part3, "SmolLM2 RFT", 1, check.gpus, lambda: llm_steps(check, "rft"), gpu["rft"])
    attempt(rows, part4, "DDP", 2, check.gpus, lambda: sharded(check, "ddp"), gpu["ddp"])
    attempt(rows, part4, "FSDP", 2, check.gpus, lambda: sharded(check, "fsdp"), gpu["fsdp"])
    return rows


def summary(figures: dict) -> str:
    """A row's figures in one line: R by its shape and last row; a re-scored row only in the JSON
    (its worst difference is on the line)."""
    parts = []
    for key, value in figures.items():
        if key == "R":
            parts.append(f"R {len(value)}x{len(value[0])}, last row {' '.join(f'{v:.3f}' for v in value[-1])}")
        elif key != "last_row":
            parts.append(f"{key} {value}")
    return "; ".join(parts)


def table(rows: list[Row]) -> str:
    """One line per row: part, run, status (with why when skipped), then a failure's reason and the figures."""
    cells = [("part", "run", "status", "figures (or why it failed)")]
    for r in rows:
        status = f"skipped: {r.reason}" if r.status == "skipped" else r.status
        details = [r.reason] if r.status == "failed" else []
        cells.append((r.part, r.run, status, "; ".join(details + ([summary(r.figures)] if r.figures else []))))
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = [" | ".join(c[i].ljust(widths[i]) for i in range(3)) + " | " + c[3] for c in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def machine() -> dict:
    import torch

    from cl.core.provenance import compute_environment, git_commit, package_versions

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"gpus": gpus, "cuda": torch.version.cuda, "compute": compute_environment(), "commit": git_commit(),
            "versions": package_versions()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="steps per task of parts 1 and 4")
    ap.add_argument("--llm-steps", type=int, default=20, help="steps of parts 2 and 3 (SmolLM2)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cl-gpu-check.json")
    args = ap.parse_args()
    about = machine()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cl-gpu-check-") as tmp:
        rows = run_check(Check(Path(tmp), args.steps, args.llm_steps, len(about["gpus"])))
    report = {"command": ["python", "-m", "benchmarks.gpu_check", *sys.argv[1:]], "machine": about,
              "seconds": round(time.perf_counter() - start, 1), "rows": [asdict(r) for r in rows]}  # fmt: skip
    print(table(rows))
    print(f"{', '.join(about['gpus']) or 'no GPU'}; {report['seconds']} s; commit {about['commit']}")
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
