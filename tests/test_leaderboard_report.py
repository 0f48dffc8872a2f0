"""`cl-report --leaderboard`: configurations ranked by mean ACC, mean ± std per column, cost
columns from results.json, the plot; the KL-to-start correlation with forgetting across runs."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from cl.outputs.leaderboard import correlation, ranks


def run_folder(folder: Path, config: str, seed: int, acc: float, forgetting: float, kl: float | None,
               retention: float = 0.8, cost: dict | None = None) -> None:  # fmt: skip
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([config, f"seed={seed}"]))
    metrics = {"acc": acc, "avg_inc_acc": acc, "bwt": -forgetting, "fwt": 0.0, "forgetting": forgetting,
               "learning_acc": 0.9, "held_out_retention": retention}  # fmt: skip
    if kl is not None:
        metrics |= {"kl_start": kl, "kl_start_reverse": kl / 2}
    (folder / "results.json").write_text(json.dumps({
        "seed": seed, "tasks": ["x", "y"], "trained_tasks": ["x", "y"], "R": [[0, 0], [0.9, 0], [0.5, 0.9]],
        "metrics": metrics, "peak_rss_mb": 1000.0 + seed, "timing": {"train_s": 10.0, "train_steps": 400},
        "cost": cost or {"trainable_params": 2_000_000, "optimizer_state_bytes": 16 * 2**20}}))  # fmt: skip


def test_leaderboard_ranks_by_mean_acc_with_every_column_over_seeds(tmp_path, capsys):
    from cl.cli.report import main as report_main

    lora = {"trainable_params": 100_000, "optimizer_state_bytes": 2**20}
    for seed, acc in enumerate([0.40, 0.50, 0.60]):
        run_folder(tmp_path / f"full{seed}", "finetune=full", seed, acc, 0.3 + 0.1 * seed, 2.0 + seed)
    for seed, acc in enumerate([0.70, 0.70, 0.70]):
        run_folder(tmp_path / f"lora{seed}", "finetune=lora", seed, acc, 0.1, 0.5, retention=0.95, cost=lora)
    report_main([str(tmp_path), "--leaderboard"])
    out = capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "report" / "leaderboard.csv")))
    assert [(r["rank"], r["configuration"]) for r in rows] == [("1", "finetune=lora"), ("2", "finetune=full")]
    full = rows[1]
    std = np.std([0.4, 0.5, 0.6])  # population std, as every cl-report table
    assert full["ACC"] == f"0.500 ± {std:.3f}" and full["forgetting"] == f"0.400 ± {std:.3f}"
    assert full["KL to start"] == f"3.000 ± {np.std([2, 3, 4]):.3f}" and rows[0]["held-out retention"] == "0.950 ± 0.000"
    assert rows[0]["trained params (M)"] == "0.100 ± 0.000" and full["trained params (M)"] == "2.000 ± 0.000"
    assert rows[0]["optimizer state (MB)"] == "1.0 ± 0.0" and full["optimizer state (MB)"] == "16.0 ± 0.0"
    assert full["ms/step"] == "25.0 ± 0.0" and full["peak RSS (MB)"] == f"1001.0 ± {np.std([1000, 1001, 1002]):.1f}"
    assert "| 1 | finetune=lora | 3 |" in out
    assert (tmp_path / "report" / "leaderboard.png").stat().st_size > 5000


def test_the_final_kl_is_correlated_with_forgetting_across_runs(tmp_path, capsys):
    from cl.cli.report import main as report_main

    kls, forgetting = [0.5, 1.0, 2.0, 4.0, 3.0], [0.05, 0.12, 0.2, 0.41, 0.25]
    for k, (kl, f) in enumerate(zip(kls, forgetting)):
        run_folder(tmp_path / f"r{k}", f"strategy=s{k % 2}", k, 0.5, f, kl)
    run_folder(tmp_path / "old", "strategy=s0", 9, 0.5, 0.9, None)  # from before the KL: left out of it
    report_main([str(tmp_path)])
    out = capsys.readouterr().out
    r = np.corrcoef(kls, forgetting)[0, 1]
    assert f"over 5 runs" in out and f"- KL(start || final): r = {r:.3f}, rho = 1.000" in out
    assert (tmp_path / "report" / "kl_forgetting.png").stat().st_size > 5000


def test_a_zero_kl_or_retention_is_a_value_not_a_missing_one(tmp_path):
    from cl.outputs.leaderboard import kept_axis, kl_forgetting
    from cl.outputs.report import collect

    for k, kl in enumerate([0.0, 1.0, 2.0]):  # an unchanged model has KL 0; a wiped-out held-out task retention 0
        run_folder(tmp_path / f"r{k}", "strategy=naive", k, 0.5, 0.1 * k, kl, retention=0.0)
    runs, _ = collect(tmp_path)
    assert kept_axis(runs)[0] == "held_out_retention"
    assert "over 3 runs" in "\n".join(kl_forgetting(runs, tmp_path))


def test_spearman_ranks_share_ties_and_constant_samples_give_no_correlation():
    assert ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    r, rho = correlation(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 4.0, 9.0, 16.0]))
    assert rho == pytest.approx(1.0) and 0.95 < r < 1.0
    assert all(math.isnan(v) for v in correlation(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.3])))
