"""`cl-report --leaderboard`: one table of every configuration of a sweep, best ACC first, with
what each kept of the stream and of general ability and what it cost; a picture of ACC against
what each kept (held-out retention, else BWT); and, across the runs, how well the KL to the
start on the last task predicts forgetting (cl.evaluation.kl_to_start).

Every cell is mean ± std over the seeds of its configuration, the population std (ddof 0) as in
every cl-report table; a cell measured on fewer seeds says on how many. A merged model's cost
columns are those of the run it merges (the merge itself is not counted).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cl.core.files import atomic_path, finite_number, write_text
from cl.outputs.report import Run, by_config, markdown_table, seed_stats, stats_cell

QUALITY = (("acc", "ACC"), ("bwt", "BWT"), ("forgetting", "forgetting"), ("held_out_retention", "held-out retention"),
           ("ppl_ratio", "ppl ratio"), ("min_acc", "min-ACC"), ("kl_start", "KL to start"))  # fmt: skip
COST = (("trainable_params", "trained params (M)", 1e-6), ("optimizer_state_mb", "optimizer state (MB)", 1.0),
        ("peak_rss_mb", "peak RSS (MB)", 1.0), ("s_per_step", "ms/step", 1e3))  # fmt: skip


def _values(runs: list[Run], key: str) -> list:
    return [r.metrics.get(key, r.resources.get(key)) for r in runs]


def _cell(values: list, seeds: int, scale: float = 1.0, digits: int = 3) -> str:
    return stats_cell(seed_stats(values), seeds, scale, digits)


def leaderboard_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """The table: one row per configuration, sorted by mean ACC (best first); the columns every
    configuration has no value for are left out."""
    groups = sorted(by_config(runs).items(), key=lambda item: -seed_stats(_values(item[1], "acc"))[0])
    quality = [(k, name) for k, name in QUALITY if any(seed_stats(_values(rs, k))[2] for _, rs in groups)]
    cost = [(k, name, scale) for k, name, scale in COST if any(seed_stats(_values(rs, k))[2] for _, rs in groups)]
    header = ["rank", "configuration", "seeds", *(n for _, n in quality), *(n for _, n, _ in cost)]
    body = []
    for rank, (config, rs) in enumerate(groups, 1):
        seeds = len(rs)
        flagged = sum(1 for r in rs if r.flag)
        row = [str(rank), config, f"{seeds} ({flagged} flagged)" if flagged else str(seeds)]
        row += [_cell(_values(rs, k), seeds) for k, _ in quality]
        row += [_cell(_values(rs, k), seeds, scale, 3 if k == "trainable_params" else 1) for k, _, scale in cost]
        body.append(row)
    return header, body


def kept_axis(runs: list[Run]) -> tuple[str, str]:
    """What the picture puts against ACC: held-out retention where every run measured it, else BWT."""
    if all(finite_number(r.metrics.get("held_out_retention")) for r in runs):
        return "held_out_retention", "held-out retention (final / before training)"
    return "bwt", "BWT"


def write_leaderboard_plot(runs: list[Run], out: Path) -> Path:
    """leaderboard.png: one point per configuration at its mean, bars of one std both ways."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, label = kept_axis(runs)
    fig, ax = plt.subplots(figsize=(8, 6))
    for config, rs in sorted(by_config(runs).items()):
        (x, dx, _), (y, dy, _) = seed_stats(_values(rs, key)), seed_stats(_values(rs, "acc"))
        if math.isnan(x) or math.isnan(y):
            continue
        ax.errorbar(x, y, xerr=dx, yerr=dy, fmt="o", capsize=3, markersize=5)
        ax.annotate(config, (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(label)
    ax.set_ylabel("ACC (final mean accuracy over the trained tasks)")
    ax.set_title(f"ACC against {label.split(' (')[0]}: mean ± std over seeds", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "leaderboard.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def write_leaderboard(runs: list[Run], out: Path) -> list[str]:
    """leaderboard.md and .csv, leaderboard.png; returns the markdown lines."""
    import csv

    header, body = leaderboard_rows(runs)
    lines = ["Leaderboard (best ACC first; mean ± population std over seeds; cost of a merge: its run's):", "",
             *markdown_table(header, body)]  # fmt: skip
    write_text(out / "leaderboard.md", "\n".join(lines) + "\n")
    with atomic_path(out / "leaderboard.csv") as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header, *body])
    write_leaderboard_plot(runs, out)
    return lines


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank (for Spearman's rho)."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values))
    ranked[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        tied = values == v
        ranked[tied] = ranked[tied].mean()
    return ranked


def correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson's r and Spearman's rho of two samples (NaN when either is constant)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    return float(np.corrcoef(x, y)[0, 1]), float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def kl_forgetting(runs: list[Run], out: Path) -> list[str]:
    """Across the runs that measured it: the final KL to the start (on the last task) against the
    forgetting of the earlier tasks, its correlations and kl_forgetting.png; [] when fewer than
    three runs measured it."""
    measured = [r for r in runs if finite_number(r.metrics.get("kl_start"))]
    if len(measured) < 3:
        return []
    forgetting = np.array([r.metrics["forgetting"] for r in measured])
    lines = ["", f"KL to the start on the last task against forgetting, over {len(measured)} runs "
                 "(Pearson r, Spearman rho):", ""]  # fmt: skip
    for key, name in (("kl_start", "KL(start || final)"), ("kl_start_reverse", "KL(final || start)")):
        r, rho = correlation(np.array([m.metrics[key] for m in measured]), forgetting)
        lines.append(f"- {name}: r = {r:.3f}, rho = {rho:.3f}")
    _kl_plot(measured, forgetting, out)
    return lines + ["", "Scatter: kl_forgetting.png"]


def _kl_plot(runs: list[Run], forgetting: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    configs = sorted({r.config for r in runs})
    cmap = plt.get_cmap("tab20", max(len(configs), 1))
    for k, config in enumerate(configs):
        xs = [r.metrics["kl_start"] for r in runs if r.config == config]
        ys = [f for r, f in zip(runs, forgetting) if r.config == config]
        ax.scatter(xs, ys, color=cmap(k), label=config, s=22)
    ax.set_xlabel("KL(start || final) per answer token, on the last task's training prompts")
    ax.set_ylabel("forgetting (mean drop from each task's best)")
    ax.set_title("RL's Razor on this sweep: one point per run", fontsize=10)
    if len(configs) <= 30:
        ax.legend(fontsize=5, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out / "kl_forgetting.png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
