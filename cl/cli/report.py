"""Console script `cl-report`: tables and plots of the runs under a folder (cl.outputs.report)."""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Console script `cl-report DIR [--out OUT] [--leaderboard]`: tables and plots of the runs under DIR."""
    import argparse

    from cl.outputs.report import report

    ap = argparse.ArgumentParser(prog="cl-report", description=main.__doc__)
    ap.add_argument("dir", type=Path, help="a sweep folder (or any folder holding run folders)")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default DIR/report)")
    ap.add_argument("--leaderboard", action="store_true",
                    help="also one table of every configuration, best ACC first, with their costs, and its plot")
    args = ap.parse_args(argv)
    try:
        out, skipped = report(args.dir, args.out, args.leaderboard)
    except FileNotFoundError as err:
        print(f"cl-report: error: {err}", file=sys.stderr)
        sys.exit(2)
    for folder, reason in skipped:
        print(f"skipped {folder}: {reason}")
    print((out / "summary.md").read_text())
    if args.leaderboard:
        print((out / "leaderboard.md").read_text())
    print(f"report written to {out}")


if __name__ == "__main__":
    main()
