"""The docs' figures, made from the runs of a finished sweep (never by hand).

    cl-run -m strategy=naive,replay,derpp seed=0,1,2 eval.every_n_steps=100 logger=none hydra.sweep.dir=outputs/figures
    python scripts/docs_figures.py outputs/figures

writes into docs/img/ (re-run both after an experiment changes):
- acc_bwt.png: ACC and BWT per strategy, the mean as a bar and every seed as a dot;
- R_<strategy>.png: the mean R of each strategy over its seeds, as a heatmap;
- tasks_<strategy>.png: each task's accuracy across the stream (the mean over the seeds);
- stability_gap.png: the continual evaluation of the first seed of the first strategy.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from cl.outputs.plots import stability_gap
from cl.outputs.report import by_config, collect, plot_name, summarize, write_plots

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def acc_bwt(groups: dict, path: Path) -> None:
    """ACC and BWT per configuration: bars of the mean, a dot per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, metric in zip(axes, ("acc", "bwt")):
        for k, (config, runs) in enumerate(groups.items()):
            values = [r.metrics[metric] for r in runs]
            ax.bar(k, np.mean(values), 0.6, alpha=0.6)
            ax.scatter([k] * len(values), values, color="black", s=12, zorder=3)
        ax.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(f"{metric.upper()} (bar: mean; dots: {len(next(iter(groups.values())))} seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", type=Path, help="a finished sweep folder")
    args = ap.parse_args()
    runs, skipped = collect(args.sweep)
    if skipped or not runs:
        raise SystemExit(f"every run of {args.sweep} must have finished; not: {skipped}")
    IMG.mkdir(parents=True, exist_ok=True)
    groups = by_config(runs)
    acc_bwt(groups, IMG / "acc_bwt.png")
    report = args.sweep / "report"
    report.mkdir(exist_ok=True)
    write_plots(runs, summarize(runs), report)
    for config in groups:
        name = config.removeprefix("strategy=")
        for kind in ("R", "tasks"):
            shutil.copy(report / plot_name(kind, config), IMG / f"{kind}_{name}.png")
    first = min(next(iter(groups.values())), key=lambda r: r.seed)
    points = json.loads((first.folder / "results.json").read_text())["continual"]["points"]
    steps_per_task = OmegaConf.load(first.folder / "config.yaml").train.steps_per_task
    stability_gap(points, first.trained, steps_per_task, IMG / "stability_gap.png")
    print(f"figures of {len(runs)} runs written to {IMG}")


if __name__ == "__main__":
    main()
