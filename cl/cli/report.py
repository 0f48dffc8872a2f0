"""Console script `cl-report`: tables and plots of the runs under a folder (cl.outputs.report)."""
from __future__ import annotations

import sys
from pathlib import Path


def _is_run_folder(folder: Path) -> bool:
    """One run's folder (not a folder holding runs): Hydra's .hydra/, results.json or examples/ in it."""
    return any((folder / name).exists() for name in (".hydra", "results.json", "examples"))


def _run_examples(folder: Path, n: int) -> None:
    """`cl-report RUN --examples`: the console view of one run's examples; nothing written."""
    from cl.outputs.example_report import NoExamples, examples_view

    try:
        print(examples_view(folder, n))
    except NoExamples as err:
        print(f"cl-report: error: {err}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Console script `cl-report DIR [--out OUT] [--leaderboard] [--examples [--n N]]`: tables and
    plots of the runs under DIR; with --examples, what became of their examples (DIR one run
    folder: its forgotten examples, nothing written; else also the examples forgotten in common)."""
    import argparse

    from cl.outputs.report import report

    ap = argparse.ArgumentParser(prog="cl-report", description=main.__doc__)
    ap.add_argument("dir", type=Path,
                    help="a sweep folder (or any folder holding run folders); with --examples, also one run folder")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default DIR/report)")
    ap.add_argument("--leaderboard", action="store_true",
                    help="also one table of every configuration, best ACC first, with their costs, and its plot")
    ap.add_argument("--examples", action="store_true",
                    help="per-example records (eval.examples.save): for one run folder, each task's outcomes and its "
                         "forgotten examples' texts (nothing written); for a sweep, also the examples most runs forgot "
                         "(examples_forgotten.md, .csv)")  # fmt: skip
    ap.add_argument("--n", type=int, default=3, help="with --examples on one run: forgotten examples shown per task")
    args = ap.parse_args(argv)
    if args.examples and _is_run_folder(args.dir):
        _run_examples(args.dir, args.n)
        return
    try:
        out, skipped = report(args.dir, args.out, args.leaderboard, args.examples)
    except FileNotFoundError as err:
        print(f"cl-report: error: {err}", file=sys.stderr)
        sys.exit(2)
    for folder, reason in skipped:
        print(f"skipped {folder}: {reason}")
    print((out / "summary.md").read_text())
    if args.leaderboard:
        print((out / "leaderboard.md").read_text())
    if args.examples:
        print((out / "examples_forgotten.md").read_text())
    print(f"report written to {out}")


if __name__ == "__main__":
    main()
