"""results.json is strict JSON (jq and JavaScript read it): a metric without a value is null, never NaN."""
import csv
import math

import numpy as np
import pytest

from tests.conftest import strict_loads
from tests.helpers import QUICK, cl_run


def test_strict_json_writes_non_finite_floats_as_null():
    from cl.core.files import strict_json

    text = strict_json({"a": [1.5, math.nan], "b": (-math.inf,), "c": {"d": np.float64("inf")}, "e": "NaN", "f": 0})
    assert strict_loads(text) == {"a": [1.5, None], "b": [None], "c": {"d": None}, "e": "NaN", "f": 0}


@pytest.mark.slow
def test_metrics_without_a_value_are_null_through_cl_run_cl_merge_and_cl_report(tmp_path, capsys):
    """One trained task: min-ACC and WF have no earlier task to measure; the untrained model scores 0
    on the held-out task, so its retention (relative to row 0) has no value either."""
    proc = cl_run(tmp_path, "stream.order=[copy]", "stream.held_out=[reverse]", *QUICK, "eval.every_n_steps=2",
                  "eval.subset=10", "logger=none", "checkpoint.task_weights=true")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    res = strict_loads((run / "results.json").read_text())
    assert [row[1] for row in res["R"]] == [0.0, 0.0]  # the held-out column
    assert {k: res["metrics"][k] for k in ("min_acc", "wf", "held_out_retention")} == dict.fromkeys(
        ("min_acc", "wf", "held_out_retention"))  # fmt: skip
    assert res["general"]["held_out_retention"] == [None, None]
    assert res["metrics"]["wc_acc"] == res["R"][-1][0]  # one task: WC-ACC is its final accuracy, a number

    from cl.cli.merge import main as merge_main

    merge_main([str(run), "merge=task_arithmetic"])  # rewrites results.json
    after = strict_loads((run / "results.json").read_text())
    assert after["metrics"] == res["metrics"] and after["merges"][0]["metrics"]["held_out_retention"] is None

    from cl.cli.report import main as report_main

    report_main([str(run)])
    rows = {r["configuration"]: r for r in csv.DictReader(open(run / "report" / "summary.csv"))}
    assert rows["default"]["seeds"] == "1" and rows["default"]["held_out_retention_mean"] == "nan"
    assert float(rows["default"]["acc_mean"]) == pytest.approx(res["metrics"]["acc"])
    lines = capsys.readouterr().out.splitlines()
    header, row = ([line for line in lines if line.startswith(start)][0].strip("| ").split(" | ")
                   for start in ("| configuration |", "| default |"))  # fmt: skip
    assert dict(zip(header, row))["held_out_retention"] == "n/a"
