"""Console script `cl-dashboard`: a W&B workspace for a run, a sweep or a project (cl.outputs.dashboard)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cl.core.files import strict_json, write_text
from cl.outputs.dashboard import SCOPES, DashboardError, create, dashboard_spec, workspace

SPEC_NAME = "wandb_dashboard.json"


def _create(spec: dict) -> None:
    from cl.outputs.wandb_run import online_problem

    problem = online_problem()
    if problem:
        raise DashboardError(problem)
    print(f"W&B workspace created: {create(spec)}")


def main(argv: list[str] | None = None) -> None:
    """cl-dashboard DIR: the workspace of the runs in DIR (a run folder or a sweep folder).
    Runs logged online: it is created on W&B and its URL printed. Runs logged offline: its
    spec is written (DIR/wandb_dashboard.json) and `cl-dashboard --create SPEC` creates it
    after `wandb login` and `wandb sync`."""
    ap = argparse.ArgumentParser(prog="cl-dashboard", description=main.__doc__)
    ap.add_argument("dir", type=Path, nargs="?", help="a run folder or a folder of runs (a sweep)")
    ap.add_argument("--scope", choices=SCOPES, default=None,
                    help="runs the workspace shows: run, group (the sweep's W&B group), project; default: run or group")  # fmt: skip
    ap.add_argument("--name", default=None, help="workspace name (default: 'cl: <run id, group or project>')")
    ap.add_argument("--out", type=Path, default=None, help=f"write the spec here and create nothing (default DIR/{SPEC_NAME} for offline runs)")
    ap.add_argument("--create", type=Path, metavar="SPEC", default=None, help="create the workspace of a written spec on W&B")
    args = ap.parse_args(argv)
    if (args.dir is None) == (args.create is None):
        ap.error("give a run or sweep folder, or --create SPEC")
    try:
        if args.create:
            if not args.create.is_file():
                raise DashboardError(f"{args.create}: no such spec file")
            _create(json.loads(args.create.read_text()))
            return
        spec = dashboard_spec(args.dir, args.scope, args.name)
        workspace(spec)  # the spec builds a valid workspace before anything is written or sent
        if spec["online"] and args.out is None:
            _create(spec)
            return
        out = args.out or args.dir / SPEC_NAME
        write_text(out, strict_json(spec, indent=1) + "\n")
    except DashboardError as err:
        print(f"cl-dashboard: error: {err}", file=sys.stderr)
        sys.exit(2)
    panels = sum(len(s["panels"]) for s in spec["sections"])
    print(f"dashboard spec written to {out}: {len(spec['sections'])} sections, {panels} panels, "
          f"{len(spec['runs'])} run(s), scope {spec['scope']}")  # fmt: skip
    if not spec["online"]:
        print(f"the runs logged offline: upload them (`wandb login`, then `wandb sync <run>/wandb/offline-run-*`), "
              f"then create the workspace with `cl-dashboard --create {out}`")  # fmt: skip


if __name__ == "__main__":
    main()
