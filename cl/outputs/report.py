"""Sweep reports from run folders alone (no W&B): tables, mean matrices, bar chart, task curves.

A configuration is a run's Hydra overrides without `seed=` (nor those that change only where a
run writes and what it shows: hydra.*, paths.*, logger, the progress bar), so
the seeds of one configuration are averaged together. Every seed's values are listed too, and a
run that learned far less than the other seeds of its configuration, or ended below row 0 of R
on every task (a collapsed policy, a diverged run), is flagged there and counted in the
summary, not averaged in silently. The environments that computed the runs (library versions,
CPU kernels, threads, GPU) are counted last, with a warning when a report mixes them.
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from cl.evaluation.matrix import METRICS
from cl.core.files import atomic_path, finite_number, write_text

GENERAL_METRICS = ("held_out_acc", "held_out_retention", "ppl", "ppl_ratio", "kl_start", "kl_start_reverse")
CONTINUAL_METRICS = ("min_acc", "wc_acc", "wf")  # cl.evaluation.stability, where every run has them
PER_SEED_METRICS = ("acc", "bwt", "forgetting", "learning_acc")
OUTLIER_GAP = 0.2  # learning accuracy this far below its configuration's median flags a run
# Overrides that do not change what a run computes: where it writes, what it shows and logs
NOT_CONFIGURATION = re.compile(r"^\+*(seed=|hydra\.|paths\.|logger[.=]|trainer\.enable_progress_bar=)")


@dataclass
class Run:
    folder: Path
    config: str
    seed: int
    tasks: list[str]
    trained: list[str]
    R: np.ndarray
    metrics: dict[str, float]
    flag: str = ""  # why this run stands out from the other seeds of its configuration
    merges: tuple = ()  # results.json's merged models of this run (cl.merging.evaluate)
    independent: bool = False  # R of single-task runs side by side (cl-merge --independent): only its merges report
    environment: str = ""  # what computed it (run_environment): runs agree to the last digit only within one
    resources: dict = field(default_factory=dict)  # run_resources: what training cost (a merge: its run's)
    merge: str = ""  # a merged model of the run in `folder` (merged_runs): the merge's label


def run_environment(res: dict) -> str:
    """What computed a run, from its results.json: the versions of the libraries that decide its
    numbers and the machine's kernels, threads and GPU (`compute`, recorded since 0d7f34f)."""
    versions = res.get("versions", {})
    libraries = ", ".join(f"{name} {versions[name]}" for name in ("torch", "transformers", "lightning") if name in versions)
    compute = res.get("compute")
    if compute is None:
        machine = "machine not recorded"
    else:
        machine = f"{compute['cpu_capability']} CPU kernels, {compute['torch_threads']} thread(s)"
        machine += f", GPU {compute['cuda_device']}" if "cuda_device" in compute else ""
    return f"{libraries}; {machine}" if libraries else machine


def run_resources(res: dict) -> dict[str, float]:
    """What a run's training cost, from its results.json: parameters in the optimizer and its state
    (the most of any task; recorded since the leaderboard), peak resident memory, and seconds per
    optimizer step (training time over steps, evaluation left out). NaN where not recorded."""
    cost, timing = res.get("cost", {}), res.get("timing", {})
    steps = timing.get("train_steps") or 0
    return {"trainable_params": float(cost.get("trainable_params", math.nan)),
            "optimizer_state_mb": cost.get("optimizer_state_bytes", math.nan) / 2**20,
            "peak_rss_mb": float(res.get("peak_rss_mb", math.nan)),
            "s_per_step": timing["train_s"] / steps if steps else math.nan}  # fmt: skip


def configuration_overrides(overrides: list[str]) -> list[str]:
    """The overrides that make a run's configuration, sorted: all but NOT_CONFIGURATION's."""
    return sorted(o for o in overrides if not NOT_CONFIGURATION.match(o))


def folder_overrides(folder: Path) -> list[str]:
    """`configuration_overrides` of the run in `folder` (from Hydra's .hydra/overrides.yaml)."""
    overrides_file = folder / ".hydra" / "overrides.yaml"
    return configuration_overrides(yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else [])


def _label_configurations(runs: list[Run], overrides: dict[Path, list[str]]) -> None:
    """Name each run's configuration by the overrides that vary across the runs."""
    common = set.intersection(*(set(o) for o in overrides.values()))
    for run in runs:
        run.config = " ".join(o for o in overrides[run.folder] if o not in common) or "default"


def collect(root: Path) -> tuple[list[Run], list[tuple[Path, str]]]:
    """Finished runs under `root`, and (folder, reason) for every run folder left out."""
    runs, skipped = [], []
    for hydra_dir in sorted(root.rglob(".hydra")):
        folder = hydra_dir.parent
        if not (folder / "results.json").exists():
            skipped.append((folder, "unfinished: no results.json"))
            continue
        res = json.loads((folder / "results.json").read_text())
        status = res.get("status", {"state": "finished"})
        if status["state"] != "finished":
            skipped.append((folder, f"failed: {status.get('reason', 'no reason recorded')}"))
            continue
        runs.append(Run(folder, "", res["seed"], res["tasks"], res["trained_tasks"], np.array(res["R"]), res["metrics"],
                        merges=tuple(res.get("merges", ())), independent=res.get("kind") == "independent",
                        environment=run_environment(res), resources=run_resources(res)))  # fmt: skip
    if runs:
        streams = defaultdict(list)
        for run in runs:
            streams[tuple(run.tasks)].append(run)
        main = max(streams.values(), key=len)[0].tasks
        for run in [r for r in runs if r.tasks != main]:
            skipped.append((run.folder, f"different stream: {' -> '.join(run.tasks)} (report stream: {' -> '.join(main)})"))
        runs = [r for r in runs if r.tasks == main]
        _label_configurations(runs, {r.folder: folder_overrides(r.folder) for r in runs})
        runs = [r for r in runs if not r.independent] + merged_runs(runs)
        flag_runs(runs)
    return runs, skipped


def merged_runs(runs: list[Run]) -> list[Run]:
    """Each merged model of each run as a run of its own: its configuration is the run's plus
    the merge's label, its R the run's with the final row replaced by the merged model's."""
    out = []
    for run in runs:
        for merge in run.merges:
            R = run.R.copy()
            R[-1] = merge["row"]
            config = f"merged: {merge['label']}" if run.config == "default" else f"{run.config} | merged: {merge['label']}"
            out.append(Run(run.folder, config, run.seed, run.tasks, run.trained, R, merge["metrics"],
                           environment=run.environment, resources=run.resources, merge=merge["label"]))  # fmt: skip
    return out


def by_config(runs: list[Run]) -> dict[str, list[Run]]:
    """The runs of each configuration (its seeds)."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.config].append(run)
    return groups


def flag_runs(runs: list[Run], gap: float = OUTLIER_GAP) -> None:
    """Flag each run that did not learn the tasks as the other seeds of its configuration did
    (learning accuracy more than `gap` below their median), or that ended below where the stream
    started (row 0 of R) on every task: the two signs of a collapsed policy or a diverged run."""
    for rs in by_config(runs).values():
        median = float(np.median([r.metrics["learning_acc"] for r in rs]))
        for r in rs:
            learned, reasons = r.metrics["learning_acc"], []
            if learned < median - gap:
                gap_text = f"{median - learned:.2f} below its configuration's median {median:.3f}"
                reasons.append(f"learning_acc {learned:.3f} is {gap_text}")
            if len(r.R) > 1 and (r.R[-1] < r.R[0]).all():
                reasons.append("ended below row 0 on every task")
            r.flag = "; ".join(reasons)


def metric_names(runs: list[Run]) -> list[str]:
    """The forgetting metrics, then those every run has beyond them (general ability, continual
    evaluation)."""
    extra = set.intersection(*(set(r.metrics) for r in runs)) - set(METRICS)
    harness = sorted(m for m in extra if m.startswith("lm_eval/"))  # cl.evaluation.harness, where every run has them
    return [*METRICS, *(m for m in (*GENERAL_METRICS, *CONTINUAL_METRICS) if m in extra), *harness]


def seed_stats(values: list) -> tuple[float, float, int]:
    """Mean, population std (ddof 0) and number of the values present (a null in results.json is
    a metric with no value, e.g. min-ACC of a one-task stream); NaN, NaN, 0 when none is."""
    present = [v for v in values if finite_number(v)]
    return (float(np.mean(present)), float(np.std(present)), len(present)) if present else (math.nan, math.nan, 0)


def summarize(runs: list[Run]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """config -> metric -> (mean, std, number of seeds with a value). Flagged runs are in the
    mean: the tables say how many there are."""
    names = metric_names(runs)
    return {c: {m: seed_stats([r.metrics[m] for r in rs]) for m in names} for c, rs in sorted(by_config(runs).items())}


def _seeds(config: str, n: int, runs: list[Run]) -> str:
    flagged = sum(1 for r in runs if r.config == config and r.flag)
    return f"{n} ({flagged} flagged)" if flagged else str(n)


def stats_cell(stats: tuple[float, float, int], seeds: int, scale: float = 1.0, digits: int = 3) -> str:
    """mean ± std (times `scale`, to `digits` decimals), with how many of the seeds had a value
    when not all did ("n/a": none)."""
    mean, std, n = stats
    if n == 0:
        return "n/a"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}" + (f" ({n} of {seeds} seeds)" if n < seeds else "")


def _rows(summary, runs):
    names = list(next(iter(summary.values())))
    header = ["configuration", "seeds", *names]
    body = [[c, _seeds(c, ms["acc"][2], runs), *(stats_cell(ms[m], ms["acc"][2]) for m in names)]
            for c, ms in summary.items()]  # fmt: skip
    return header, body


def markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def per_seed_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """One row per run: configuration, seed, the main metrics, and its flag (if any)."""
    header = ["configuration", "seed", *PER_SEED_METRICS, "flag"]
    body = [[r.config, str(r.seed), *(f"{r.metrics[m]:.3f}" for m in PER_SEED_METRICS), r.flag]
            for r in sorted(runs, key=lambda r: (r.config, r.seed))]  # fmt: skip
    return header, body


def environment_lines(runs: list[Run]) -> list[str]:
    """What computed the runs, with how many each; a warning when they were computed in more
    than one environment (their last digits then differ for reasons other than the config)."""
    counts: dict[str, int] = defaultdict(int)
    for run in runs:
        counts[run.environment] += 1
    lines = ["", "Computed with:", ""] + [f"- {env}: {n} run(s)" for env, n in sorted(counts.items())]
    if len(counts) > 1:
        lines += ["", f"These runs come from {len(counts)} environments: the same configuration and seed agree "
                      "to the last digit only within one."]  # fmt: skip
    return lines


def write_tables(summary, runs: list[Run], out: Path, extra: list[str] = ()) -> None:
    """summary.md (with the `extra` lines after the tables), summary.csv, per_seed.csv, summary.tex."""
    header, body = _rows(summary, runs)
    seed_header, seed_body = per_seed_rows(runs)
    md = markdown_table(header, body) + ["", "Per seed:", ""] + markdown_table(seed_header, seed_body) + list(extra)
    md += environment_lines(runs)
    write_text(out / "summary.md", "\n".join(md) + "\n")
    with atomic_path(out / "per_seed.csv") as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([seed_header, *seed_body])
    with atomic_path(out / "summary.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        names = header[2:]
        w.writerow(["configuration", "seeds", *(f"{m}_{s}" for m in names for s in ("mean", "std"))])
        for config, ms in summary.items():
            w.writerow([config, ms["acc"][2], *(f"{ms[m][i]:.6f}" for m in names for i in (0, 1))])
    esc = lambda t: t.replace("_", r"\_").replace("&", r"\&")  # noqa: E731
    tex = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
           " & ".join(esc(h) for h in header) + r" \\", r"\midrule"]  # fmt: skip
    tex += [" & ".join(esc(c.replace(" ± ", r" $\pm$ ")) for c in row) + r" \\" for row in body]
    write_text(out / "summary.tex", "\n".join(tex + [r"\bottomrule", r"\end{tabular}"]) + "\n")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "default"


def plot_name(kind: str, config: str) -> str:
    """The file name `write_plots` gives a configuration's plot: kind R (its mean R) or tasks
    (each task's accuracy across the stream)."""
    return f"{kind}_{_slug(config)}.png"


def write_plots(runs: list[Run], summary, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cl.outputs.plots import heatmap

    for config in summary:
        rs = [r for r in runs if r.config == config]
        mean_R = np.mean([r.R for r in rs], axis=0)
        heatmap(mean_R, rs[0].tasks, rs[0].trained, out / plot_name("R", config), title=f"mean R: {config} ({len(rs)} seeds)")
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for j, task in enumerate(rs[0].tasks):
            ax.plot(range(mean_R.shape[0]), mean_R[:, j], marker="o", label=task)
        ax.set_xticks(range(mean_R.shape[0]), ["start"] + [f"after {t}" for t in rs[0].trained], rotation=30, ha="right")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"per-task accuracy across the stream: {config}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        with atomic_path(out / plot_name("tasks", config)) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
    names = ["acc", "bwt", "forgetting", "fwt", "learning_acc"]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 4))
    width = 0.8 / max(1, len(summary))
    for k, (config, ms) in enumerate(summary.items()):
        xs = np.arange(len(names)) + k * width
        ax.bar(xs, [ms[n][0] for n in names], width, yerr=[ms[n][1] for n in names], label=config, capsize=2)
    ax.set_xticks(np.arange(len(names)) + width * (len(summary) - 1) / 2, names)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7)
    ax.set_title("metrics per configuration (mean ± std over seeds)")
    fig.tight_layout()
    with atomic_path(out / "metrics.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def report(root: Path, out: Path | None = None, leaderboard: bool = False,
           examples: bool = False) -> tuple[Path, list[tuple[Path, str]]]:  # fmt: skip
    """Write the report of every run under `root` into `out` (default root/report): with
    `leaderboard`, the leaderboard too (cl.outputs.leaderboard); with `examples`, the examples
    the runs forgot in common (cl.outputs.example_report: examples_forgotten.md, .csv)."""
    from cl.outputs.example_report import NoExamples, shared_forgetting
    from cl.outputs.leaderboard import kl_forgetting, write_leaderboard

    runs, skipped = collect(root)
    if not runs:
        left_out = "".join(f"\n  {folder}: {reason}" for folder, reason in skipped)
        raise FileNotFoundError(f"no finished runs (results.json next to .hydra/) under {root}{left_out}")
    configs = {r.folder: r.config for r in runs if not r.merge}  # each run once, not its merged models
    if examples and not any((folder / "examples" / "index.json").is_file() for folder in configs):
        raise NoExamples(f"no run under {root} has per-example records (examples/): they are written by runs made "
                         "with eval.examples.save=true")  # fmt: skip
    out = out or root / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs)
    write_tables(summary, runs, out, kl_forgetting(runs, out))
    write_plots(runs, summary, out)
    if leaderboard:
        write_leaderboard(runs, out)
    if examples:
        shared_forgetting(list(configs), out, configs)
    return out, skipped
