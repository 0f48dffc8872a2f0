"""lm-evaluation-harness scores as general-ability columns (cl.evaluation.harness)."""
import math

import pytest

from cl.evaluation.harness import Harness, harness_columns, score_names


def test_score_names_keep_the_metrics_and_name_only_filters_other_than_none():
    results = {
        "cl_capitals_mc": {"alias": "cl_capitals_mc", "acc,none": 0.5, "acc_stderr,none": "N/A", "acc_norm,none": 0.25},
        "gsm8k": {"exact_match,strict-match": 0.1, "exact_match_stderr,strict-match": 0.01, "sample_len": 40},
    }
    assert score_names(results) == {"cl_capitals_mc/acc": 0.5, "cl_capitals_mc/acc_norm": 0.25,
                                    "gsm8k/exact_match/strict-match": 0.1}  # fmt: skip


def test_harness_columns_give_each_score_per_row_and_its_retention():
    scores = [{"t/acc": 0.8, "t/brier_score": 0.0}, None, {"t/acc": 0.6, "t/brier_score": 0.3}]  # rows=ends skips row 1
    cols = harness_columns(scores)
    assert cols["lm_eval/t/acc"][0] == 0.8 and math.isnan(cols["lm_eval/t/acc"][1]) and cols["lm_eval/t/acc"][2] == 0.6
    assert cols["lm_eval/t/acc_retention"][2] == pytest.approx(0.75) and cols["lm_eval/t/acc_retention"][0] == 1.0
    assert all(math.isnan(v) for v in cols["lm_eval/t/brier_score_retention"])  # row 0 is 0: no retention
    assert harness_columns([None, None]) == {}


def test_rows_every_or_ends():
    every, ends = Harness(["cl_capitals_mc"]), Harness(["cl_capitals_mc"], rows="ends")
    assert [every.due(r, 3) for r in range(4)] == [True] * 4
    assert [ends.due(r, 3) for r in range(4)] == [True, False, False, True]


def test_scoring_leaves_the_runs_random_generators_as_they_were(tiny):
    """simple_evaluate seeds the global generators; the run's next draws must not change."""
    import random

    import numpy as np
    import torch

    model, tok = tiny
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    expected = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    scores = Harness(["cl_capitals_mc"], limit=4, batch_size=4).score(model, tok)
    assert set(scores) == {"cl_capitals_mc/acc", "cl_capitals_mc/acc_norm", "cl_capitals_mc/brier_score"}
    assert scores["cl_capitals_mc/acc"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]
