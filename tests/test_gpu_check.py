"""`python -m benchmarks.gpu_check` on a machine without a GPU: the CPU half of the default
experiment runs, and every GPU part says it was skipped for want of a GPU."""
import json
from pathlib import Path

import pytest
import torch

from benchmarks.gpu_check import gpu_runs
from tests.helpers import cl_env, compose_configs
from tests.preloaded import run_module

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without a GPU gets")
def test_the_check_runs_the_cpu_half_and_skips_every_gpu_part(tmp_path):
    out = tmp_path / "check.json"
    proc = run_module("benchmarks.gpu_check", ["--steps", "40", "--out", str(out)], ROOT, cl_env(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    cpu, *gpu = report["rows"]
    assert (cpu["part"], cpu["run"], cpu["status"]) == ("1 default experiment", "CPU", "ok")
    R = cpu["figures"]["R"]
    assert len(R) == 4 + 1 and all(len(row) == 4 for row in R) and all(0 <= v <= 1 for row in R for v in row)
    assert max(R[-1]) > 0  # 40 steps learn something: the re-scoring below compares more than zeros
    assert cpu["figures"]["rescored_max_diff"] == 0  # the final weights scored again in the check's process
    assert cpu["figures"]["wall_s"] > 0 and cpu["figures"]["train_ms_per_step"] > 0
    assert len(gpu) == 7 and all((r["status"], r["reason"]) == ("skipped", "no GPU") for r in gpu), gpu
    assert report["machine"]["gpus"] == []
    for part in ("1 default experiment", "2 SmolLM2 bf16-mixed", "3 RFT rollouts", "4 two GPUs"):
        assert part in proc.stdout
    assert proc.stdout.count("skipped: no GPU") == 7 and str(out) in proc.stdout


def test_the_gpu_runs_compose_to_the_setups_their_rows_name():
    """The GPU parts' overrides, composed by Hydra as cl-run composes them: a misspelled key or a
    trainer file's precision winning over the override would show here, not first on a GPU."""
    runs = gpu_runs(steps=7, llm_steps=5)
    full, lora, rft, ddp, fsdp = compose_configs(*runs.values())
    for cfg in (full, lora, rft):
        assert (cfg.model._target_, cfg.trainer.accelerator, cfg.trainer.precision) == ("cl.models.smollm2", "gpu", "bf16-mixed")
        assert cfg.train.steps_per_task == 5 and list(cfg.stream.order) == ["facts2text"]
    assert (full.adapter._target_, full.objective._target_) == ("cl.models.adapters.NoAdapter", "cl.objectives.SFT")
    assert (lora.adapter._target_, lora.objective._target_) == ("cl.models.adapters.LoRA", "cl.objectives.SFT")
    assert (rft.objective._target_, rft.objective.group_size, rft.train.batch_size) == ("cl.objectives.RFT", 4, 4)
    assert ddp.trainer.strategy == "ddp" and fsdp.trainer.strategy._target_.endswith("FSDPStrategy")
    for cfg in (ddp, fsdp):
        assert (cfg.trainer.devices, cfg.trainer.precision, cfg.train.steps_per_task) == (2, "32-true", 7)
        assert list(cfg.stream.order) == ["reverse", "sort"]
