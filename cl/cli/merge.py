"""Console script `cl-merge`: merge the per-task models that finished runs kept, evaluate the
merged models, and add them to results.json (where cl-report finds them).

    cl-merge RUN [RUN ...] merge=NAME|[A,B] [merge.NAME.KEY=V1,V2 ...]
        each RUN on its own: a sequential run's per-task models (<RUN>/weights/)
    cl-merge --independent OUT RUN [RUN ...] merge=...
        runs that each trained one task from the same start (e.g. a sweep over stream.order=[a],[b],[c]):
        their models merged together, evaluated on all their tasks, written to the folder OUT

Every chosen merge is run with every combination of the swept settings (comma-separated
values). Merges are composed from the package's conf/merge group, so their defaults and names
are those of `cl-run merge=...`.
"""
from __future__ import annotations

import itertools
import sys
from functools import partial
from pathlib import Path

from cl.assembly.merges import check_independent, check_run, merge_independent, merge_run, run_results
from cl.core.errors import ConfigError
from cl.core.paths import CONF_DIR


def _merge_choices() -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / "merge").glob("*.yaml") if p.stem != "none")


def merge_combinations(overrides: list[str]) -> list[list[str]]:
    """The overrides of every merge configuration asked for: `merge=NAME` or `merge=[A,B]` chooses
    merges, `merge.NAME.KEY=V1,V2` sweeps a setting; every combination of the swept values."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    for o in parsed:
        if not o.key_or_group.startswith("merge"):
            raise ConfigError(f"cl-merge takes merge=... and merge.NAME.KEY=... overrides only, got '{o.input_line}'")
    values = [o.value() for o in parsed if o.key_or_group == "merge"]
    names = [n for v in values for n in (v if isinstance(v, list) else [v])]
    choices = _merge_choices()
    unknown = [n for n in names if n not in choices]
    if not names or unknown:
        what = f"unknown merge '{unknown[0]}'" if unknown else "no merge chosen"
        raise ConfigError(f"{what}: choose with merge=NAME or merge=[A,B]. Available merges: {', '.join(choices)}")
    options = [[f"{o.key_or_group}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.input_line]
               for o in parsed if o.key_or_group != "merge"]  # fmt: skip
    return [[f"merge=[{','.join(names)}]", *combo] for combo in itertools.product(*options)]


def merge_configurations(combinations: list[list[str]], seed: int) -> dict:
    """Every merge of every combination, by label (a drawing merge's seed: the run's)."""
    import hydra

    from cl.assembly.parts import merge_methods

    methods = {}
    with hydra.initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for combo in combinations:  # built from the whole config: a merge's ${seed} resolves there
            cfg = hydra.compose("config", overrides=[*combo, f"seed={seed}"])
            methods.update({m.label(): m for m in merge_methods(cfg).values()})
    return methods


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if argv else 2)
    independent = argv[0] == "--independent"
    if independent:
        if len(argv) < 2:
            print("cl-merge: error: --independent needs the output folder, then the runs", file=sys.stderr)
            sys.exit(2)
        out, argv = Path(argv[1]).expanduser(), argv[2:]
    folders = [Path(a).expanduser() for a in argv if "=" not in a]
    try:
        combinations = merge_combinations([a for a in argv if "=" in a])
        if not folders:
            raise ConfigError("give at least one run folder")
        if independent:
            check_independent(out, folders)
        else:
            for folder in folders:
                check_run(folder)
    except ConfigError as err:
        print(f"cl-merge: error: {err}", file=sys.stderr)
        sys.exit(2)
    from cl.outputs.console import print_merges

    try:
        methods = partial(merge_configurations, combinations)
        targets = [(out, merge_independent(out, folders, methods))] if independent else \
            [(f, merge_run(f, methods)) for f in folders]  # fmt: skip
    except ConfigError as err:
        print(f"cl-merge: error: {err}", file=sys.stderr)
        sys.exit(2)
    for folder, records in targets:
        results = run_results(folder)
        sequential = None if independent else (results["R"][-1], results["metrics"])
        print_merges(records, results["tasks"], sequential)
        print(f"merged models added to {folder / 'results.json'}")


if __name__ == "__main__":
    main()
