"""bf16-mixed against float32 on this machine: training time per step and R, one cl-run of each
with the same seed and config (the default experiment; with --smollm2 also SmolLM2-135M-Instruct
on the shipped instruction stream).

    python -m benchmarks.precision [--steps 200] [--smollm2] [--llm-steps 8] [--threads 2]

Prints, per setting, ms per training step in each precision, their ratio (bf16-mixed / float32:
above 1 is slower) and the largest difference between the two runs' R (the accuracy matrix).
bf16-mixed keeps float32 weights and AdamW state and runs the forward and backward passes under
bfloat16 autocast; a CPU without bfloat16 instructions emulates them.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.gpu_check import QUIET, cl_run, max_difference, ms_per_step

PRECISIONS = ("32-true", "bf16-mixed")


def settings(steps: int, llm_steps: int, smollm2: bool) -> dict[str, list[str]]:
    """The overrides of each setting compared."""
    out = {"default experiment": [*QUIET, f"train.steps_per_task={steps}", "trainer.accelerator=cpu"]}
    if smollm2:  # the instruction stream, 20 eval examples per task, no general-text perplexity
        evals = [f"stream.tasks.{t}.n_eval=20" for t in ("topic", "word_math", "facts2text", "capitals")]
        out["SmolLM2 instruction stream"] = [*QUIET, "+setup=smollm2_instruct", f"train.steps_per_task={llm_steps}",
                                             "eval.general=null", "trainer.accelerator=cpu", *evals]  # fmt: skip
    return out


def compare(folder: Path, overrides: list[str], threads: int) -> dict:
    """One run per precision: ms/step of each, their ratio, R of each and the largest difference."""
    runs = {p: cl_run(folder / p, [*overrides, f"trainer.precision={p}"], threads=threads)[0] for p in PRECISIONS}
    ms = {p: ms_per_step(r) for p, r in runs.items()}
    return {"ms_per_step": ms, "ratio": round(ms["bf16-mixed"] / ms["32-true"], 3),
            "R": {p: r["R"] for p, r in runs.items()}, "max_R_difference": max_difference(*(r["R"] for r in runs.values())),
            "acc": {p: r["metrics"]["acc"] for p, r in runs.items()}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="steps per task of the default experiment")
    ap.add_argument("--smollm2", action="store_true", help="also SmolLM2 on the instruction stream")
    ap.add_argument("--llm-steps", type=int, default=8, help="steps per task of the SmolLM2 runs")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (OMP_NUM_THREADS)")
    args = ap.parse_args()
    for name, overrides in settings(args.steps, args.llm_steps, args.smollm2).items():
        with tempfile.TemporaryDirectory(prefix="cl-precision-") as tmp:
            out = compare(Path(tmp), overrides, args.threads)
        ms = out["ms_per_step"]
        print(f"{name}: ms/step float32 {ms['32-true']}, bf16-mixed {ms['bf16-mixed']}: ratio {out['ratio']}; "
              f"ACC {out['acc']['32-true']:.3f} vs {out['acc']['bf16-mixed']:.3f}; largest |R difference| {out['max_R_difference']}")  # fmt: skip
        for precision, R in out["R"].items():
            print(f"  R {precision}: " + " | ".join(" ".join(f"{v:.3f}" for v in row) for row in R))


if __name__ == "__main__":
    main()
