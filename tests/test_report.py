"""A small Hydra multirun, every job with its own offline W&B run, then `cl-report` over it."""
import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import QUICK, cl_run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("launcher", ["basic", "local_parallel", "slurm_local"])
def test_multirun_then_report_gives_per_configuration_means(tmp_path, launcher):
    """Two seeds per configuration with the basic launcher (the report's means and stds); one
    seed with the parallel and the SLURM code path launchers (what they change is how the jobs run)."""
    sweep, seeds = tmp_path / "sweep", 2 if launcher == "basic" else 1
    proc = cl_run(tmp_path, "--multirun", "strategy=naive,replay", f"seed={','.join(map(str, range(seeds)))}",
                  "stream.order=[copy,shift]", f"hydra/launcher={launcher}", *QUICK, f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = 2 * seeds
    assert f"sweep of {jobs} jobs" in proc.stdout
    if launcher == "basic":  # joblib and submitit workers log in their own processes
        assert f"sweep progress: {jobs}/{jobs} jobs done" in proc.stdout
    results = sorted(sweep.glob("*/results.json"))
    assert len(results) == jobs
    assert len(list(sweep.glob("*/wandb/offline-run-*"))) == jobs
    (sweep / "9" / ".hydra").mkdir(parents=True)  # a job that never finished
    from cl.cli.report import main as report_main

    report_main([str(sweep)])
    by_config = {}
    for path in results:
        res = json.loads(path.read_text())
        by_config.setdefault(res["strategies"][0], []).append(res["metrics"]["bwt"])
    rows = {r["configuration"]: r for r in csv.DictReader(open(sweep / "report" / "summary.csv"))}
    assert set(rows) == {"strategy=naive", "strategy=replay"}
    for name, bwts in by_config.items():
        row = rows[f"strategy={name}"]
        assert row["seeds"] == str(seeds)
        # mean; population std (ddof 0, as documented): for two seeds |a - b| / 2
        assert float(row["bwt_mean"]) == pytest.approx(sum(bwts) / seeds, abs=1e-6)
        assert float(row["bwt_std"]) == pytest.approx(abs(bwts[0] - bwts[-1]) / 2, abs=1e-6)
    md = (sweep / "report" / "summary.md").read_text()
    assert f"| strategy=naive | {seeds} |" in md and r"\pm" in (sweep / "report" / "summary.tex").read_text()
    for png in ("metrics.png", "R_strategy_naive.png", "tasks_strategy_replay.png"):
        assert (sweep / "report" / png).stat().st_size > 5000
    if launcher == "basic":  # the leaderboard of real runs: their recorded cost and KL to the start
        report_main([str(sweep), "--leaderboard"])
        board = list(csv.DictReader(open(sweep / "report" / "leaderboard.csv")))
        accs = [float(r["ACC"].split(" ± ")[0]) for r in board]
        assert accs == sorted(accs, reverse=True) and {r["configuration"] for r in board} == set(rows)
        assert all(float(r["trained params (M)"].split(" ± ")[0]) > 0 and float(r["KL to start"].split(" ± ")[0]) > 0
                   for r in board)  # fmt: skip


def test_report_names_skipped_runs(tmp_path, capsys):
    from cl.cli.report import main as report_main

    for name, tasks in (("a", ["x", "y"]), ("b", ["x", "y"]), ("c", ["y", "x"])):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
        R = [[0, 0], [1, 0], [0.5, 1]]
        metrics = dict.fromkeys(["acc", "avg_inc_acc", "bwt", "fwt", "forgetting", "learning_acc"], 0.5)
        (tmp_path / name / "results.json").write_text(json.dumps(
            {"seed": 1, "tasks": tasks, "trained_tasks": tasks, "R": R, "metrics": metrics}))  # fmt: skip
    (tmp_path / "d" / ".hydra").mkdir(parents=True)
    report_main([str(tmp_path)])
    out = capsys.readouterr().out
    assert f"skipped {tmp_path / 'd'}: unfinished" in out
    assert f"skipped {tmp_path / 'c'}: different stream: y -> x" in out
    assert "| default | 2 |" in out


def fake_run(folder: Path, seed: int, overrides: list[str], learning_acc: float, R=((0, 0), (1, 0), (0.5, 1)),
             extra: dict | None = None) -> None:  # fmt: skip
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, f"seed={seed}"]))
    metrics = {**dict.fromkeys(["acc", "avg_inc_acc", "bwt", "fwt", "forgetting"], 0.1 * seed), "learning_acc": learning_acc}
    (folder / "results.json").write_text(json.dumps({"seed": seed, "tasks": ["x", "y"], "trained_tasks": ["x", "y"],
                                                     "R": R, "metrics": metrics, **(extra or {})}))  # fmt: skip


def test_report_says_what_computed_the_runs_and_warns_when_they_mix_environments(tmp_path, capsys):
    from cl.cli.report import main as report_main

    versions = {"torch": "2.14.1", "transformers": "5.24.0", "lightning": "2.6.6", "numpy": "2.4.6"}
    avx512 = {"versions": versions, "compute": {"cpu_capability": "AVX512", "torch_threads": 1}}
    gpu = {"versions": versions, "compute": {"cpu_capability": "AVX2", "torch_threads": 8, "cuda_device": "NVIDIA H200"}}
    for seed, extra in enumerate([avx512, avx512, gpu, {"versions": versions}]):
        fake_run(tmp_path / f"run{seed}", seed, [], 0.9, extra=extra)
    report_main([str(tmp_path)])
    out = capsys.readouterr().out
    libraries = "torch 2.14.1, transformers 5.24.0, lightning 2.6.6"
    assert f"- {libraries}; AVX512 CPU kernels, 1 thread(s): 2 run(s)" in out
    assert f"- {libraries}; AVX2 CPU kernels, 8 thread(s), GPU NVIDIA H200: 1 run(s)" in out
    assert f"- {libraries}; machine not recorded: 1 run(s)" in out
    assert "These runs come from 3 environments" in out
    for folder in ("run2", "run3"):
        shutil.rmtree(tmp_path / folder)
    report_main([str(tmp_path)])
    out = capsys.readouterr().out
    assert f"- {libraries}; AVX512 CPU kernels, 1 thread(s): 2 run(s)" in out and "environments" not in out


def test_report_lists_every_seed_and_flags_runs_that_learned_far_less_or_ended_below_row_0(tmp_path, capsys):
    from cl.cli.report import main as report_main

    for seed, learned in enumerate([0.90, 0.85, 0.88, 0.30]):  # seed 3: 0.56 below the median 0.865
        fake_run(tmp_path / f"rft{seed}", seed, ["objective=rft"], learned)
    for seed, learned in enumerate([0.80, 0.62, 0.70]):  # spread, but none 0.2 below the median 0.70
        # overrides that change only where a run writes or what it shows do not split a configuration
        display = [[], ["paths.output_dir=/elsewhere", "logger=none"], ["trainer.enable_progress_bar=false"]][seed]
        fake_run(tmp_path / f"sft{seed}", seed, ["objective=sft", *display], learned)
    # learned as the others, but ended below the row the stream started from on every task
    fake_run(tmp_path / "sft3", 3, ["objective=sft"], 0.75, R=[[0.6, 0.6], [0.9, 0.3], [0.59, 0.55]])
    fake_run(tmp_path / "sft4", 4, ["objective=sft"], 0.75, R=[[0.6, 0.6], [0.9, 0.3], [0.2, 0.6]])  # level on y
    report_main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| objective=rft | 4 (1 flagged) |" in out and "| objective=sft | 5 (1 flagged) |" in out
    rows = list(csv.DictReader(open(tmp_path / "report" / "per_seed.csv")))
    assert [(r["configuration"], r["seed"]) for r in rows] == [("objective=rft", str(s)) for s in range(4)] + [
        ("objective=sft", str(s)) for s in range(5)]  # fmt: skip
    assert [r["learning_acc"] for r in rows[:4]] == ["0.900", "0.850", "0.880", "0.300"]
    assert [bool(r["flag"]) for r in rows] == [False, False, False, True, False, False, False, True, False]
    assert rows[3]["flag"] == "learning_acc 0.300 is 0.56 below its configuration's median 0.865"
    assert rows[7]["flag"] == "ended below row 0 on every task"
    summary = {r["configuration"]: r for r in csv.DictReader(open(tmp_path / "report" / "summary.csv"))}
    assert float(summary["objective=rft"]["learning_acc_mean"]) == pytest.approx((0.9 + 0.85 + 0.88 + 0.3) / 4)


def test_report_averages_the_seeds_that_have_a_value_and_says_how_many(tmp_path, capsys):
    """A null metric in results.json (strict JSON's NaN, e.g. min-ACC of a one-task stream) is missing,
    not zero and not a crash: the mean is over the seeds with a value, "n/a" when none has one."""
    from cl.cli.report import main as report_main

    for seed, (min_acc, wf) in enumerate([(0.4, None), (None, None), (0.7, None)]):
        fake_run(tmp_path / f"run{seed}", seed, [], 0.9, extra={"metrics": {
            **dict.fromkeys(["acc", "avg_inc_acc", "bwt", "fwt", "forgetting", "learning_acc"], 0.5),
            "min_acc": min_acc, "wc_acc": 0.3, "wf": wf}})  # fmt: skip
    report_main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| default | 3 | 0.500 ± 0.000 |" in out
    assert "| 0.550 ± 0.150 (2 of 3 seeds) | 0.300 ± 0.000 | n/a |" in out  # min_acc, wc_acc, wf
    (row,) = csv.DictReader(open(tmp_path / "report" / "summary.csv"))
    assert row["seeds"] == "3" and float(row["min_acc_mean"]) == pytest.approx(0.55) and row["wf_mean"] == "nan"


def test_optuna_search_returns_the_reported_metric(tmp_path):
    sweep = tmp_path / "optuna"
    proc = cl_run(tmp_path, "--multirun", "--config-dir", str(Path(__file__).parents[1] / "sweeps"), "+sweep=optuna_ewc",
                  "hydra.sweeper.n_trials=3", "report_metric=bwt", "stream.order=[copy,shift]",
                  "strategy.ewc.fisher_samples=4", "logger=none", *QUICK, f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]
    assert len(trials) == 3
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t["metrics"]["bwt"] for t in trials))
    lambdas = {yaml.safe_load((sweep / str(k) / "config.yaml").read_text())["strategy"]["ewc"]["lambda_"] for k in range(3)}
    assert len(lambdas) == 3 and all(1.0 <= x <= 1e6 for x in lambdas)
