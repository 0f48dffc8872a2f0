"""Merging per-task models (cl.merging): each method against a hand computation, the identity
cases on a real model, and merges evaluated in a run, by cl-merge and in cl-report."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cl.merging.methods import Breadcrumbs, Dare, Lines, Slerp, Soup, TaskArithmetic, Ties
from tests.helpers import QUICK, cl_run

def _sd(**tensors) -> dict[str, torch.Tensor]:
    return {k.replace("__", "."): torch.tensor(v, dtype=torch.float32) for k, v in tensors.items()}


def test_task_arithmetic_adds_the_scaled_sum_of_task_vectors():
    base = _sd(w=[1.0, 2.0, 3.0], step=[7.0])
    base["count"] = torch.tensor([5])  # not floating point: taken from the base
    m1, m2 = _sd(w=[2.0, 2.0, 1.0], step=[7.0]), _sd(w=[1.0, 4.0, 4.0], step=[9.0])
    m1["count"] = m2["count"] = torch.tensor([6])
    merged = TaskArithmetic(scale=0.5).merge(base, [m1, m2])
    # tau_1 = [1, 0, -2], tau_2 = [0, 2, 1]: base + 0.5 * [1, 2, -1]
    assert merged["w"].tolist() == [1.5, 3.0, 2.5] and merged["step"].tolist() == [8.0]
    assert merged["count"].tolist() == [5]


def test_ties_trims_over_the_whole_vector_elects_signs_and_averages_the_agreeing_entries():
    base = _sd(a=[0.0, 0.0], b=[0.0, 0.0])
    models = [_sd(a=[4.0, 3.0], b=[0.5, 0.2]), _sd(a=[-2.0, 1.0], b=[-6.0, 0.1]), _sd(a=[2.0, -5.0], b=[1.0, 0.5])]
    # top half of each vector over a and b together: [4, 3 | 0, 0], [-2, 0 | -6, 0], [2, -5 | 0, 0]
    # (per-tensor trimming would keep b=[0.5, 0] of the first); signs by the sum: a0 + (4 - 2 + 2),
    # a1 - (3 - 5), b0 - (-6), b1 none (all trimmed)
    merged = Ties(density=0.5, scale=1.0).merge(base, models)
    assert merged["a"].tolist() == [3.0, -5.0]  # a0: mean of the agreeing 4 and 2; a1: -5 alone
    assert merged["b"].tolist() == [-6.0, 0.0]
    assert Ties(density=0.5, scale=0.5).merge(base, models)["a"].tolist() == [1.5, -2.5]


def test_dare_keeps_the_expectation_by_rescaling_what_it_does_not_drop():
    base = {"w": torch.zeros(200_000)}
    model = {"w": torch.full((200_000,), 2.0)}
    merged = Dare(density=0.3, scale=1.0, seed=1).merge(base, [model])["w"]
    values = merged.unique().tolist()
    assert values == [0.0, pytest.approx(2.0 / 0.3)]
    kept = (merged != 0).float().mean().item()
    assert abs(kept - 0.3) < 0.005  # 200k draws: std of the kept fraction ~0.001
    assert abs(merged.mean().item() - 2.0) < 0.03  # rescaled: the expectation is the task vector's
    assert torch.equal(merged, Dare(density=0.3, scale=1.0, seed=1).merge(base, [model])["w"])
    assert not torch.equal(merged, Dare(density=0.3, scale=1.0, seed=2).merge(base, [model])["w"])


def test_lines_scales_each_block_by_its_depth_and_the_rest_by_alpha():
    names = ["model.embed_tokens.weight", "model.layers.0.mlp.weight", "model.layers.1.mlp.weight",
             "model.layers.2.mlp.weight", "model.layers.2.sublayers.7.weight", "model.norm.weight", "lm_head.weight"]  # fmt: skip
    base = {n: torch.zeros(2) for n in names}
    model = {n: torch.ones(2) for n in names}
    merged = Lines(alpha=0.2, beta=0.6).merge(base, [model])
    got = {n: round(merged[n][0].item(), 6) for n in names}
    assert got == {"model.embed_tokens.weight": 0.2, "model.layers.0.mlp.weight": 0.2, "model.layers.1.mlp.weight": 0.5,
                   "model.layers.2.mlp.weight": 0.8, "model.layers.2.sublayers.7.weight": 0.8,
                   "model.norm.weight": 0.2, "lm_head.weight": 0.2}  # fmt: skip
    with pytest.raises(ValueError, match="no parameter name matches block_pattern"):
        Lines().merge({"h.0.w": torch.zeros(1)}, [{"h.0.w": torch.ones(1)}])


@pytest.mark.parametrize("method", [TaskArithmetic(scale=1.0), Ties(density=1.0, scale=1.0),
                                    Dare(density=1.0, scale=1.0), Lines(alpha=1.0, beta=0.0),
                                    Breadcrumbs(density=1.0, gamma=0.0, scale=1.0), Soup(mode="uniform"), Slerp(t=1.0)])  # fmt: skip
def test_merging_one_task_model_at_scale_one_reproduces_it(method):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    tuned = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.randint(0, 40, (2, 9))
    expected = model(ids).logits
    model.load_state_dict(method.merge(base, [tuned]))
    assert torch.allclose(model(ids).logits, expected, atol=1e-5)
    assert max((tuned[k] - v).abs().max().item() for k, v in model.state_dict().items()) < 1e-6


def test_cl_merge_builds_a_drawing_merge_with_the_runs_seed():
    from cl.cli.merge import merge_configurations

    (dare,) = merge_configurations([["merge=[dare]"]], 7).values()
    assert dare.name == "dare" and dare.seed == 7


def test_task_vectors_need_the_same_parameters():
    with pytest.raises(ValueError, match="lacks 'b' of the base"):
        TaskArithmetic().merge(_sd(a=[0.0], b=[0.0]), [_sd(a=[1.0])])


IDENTITY = ["merge=[task_arithmetic,lines]", "merge.task_arithmetic.scale=0", "merge.lines.alpha=1", "merge.lines.beta=0"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """One cl-run multirun with W&B offline: job 0 trains reverse -> sort -> copy, jobs 1 and 2
    train reverse and sort alone (the same seed: the same start); each keeps its weights and
    evaluates two identity merges (task arithmetic at scale 0, LiNeS at alpha 1, beta 0)."""
    root = tmp_path_factory.mktemp("merging")
    general = f"eval.general={Path(__file__).resolve().parents[1] / 'data' / 'general' / 'text.jsonl'}"
    proc = cl_run(root, "-m", "stream.order=[reverse,sort,copy],[reverse],[sort]", *QUICK, "train.steps_per_task=10",
                  general, *IDENTITY, f"hydra.sweep.dir={root / 'sweep'}", run_dir=None)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root / "sweep"


@pytest.mark.slow
def test_a_run_evaluates_its_merges_and_cl_merge_and_cl_report_add_more(sweep):
    run = sweep / "0"
    res = json.loads((run / "results.json").read_text())
    assert sorted(p.name for p in (run / "weights").iterdir()) == [f"{k}.safetensors" for k in ("start", "task000", "task001", "task002")]
    merges = {m["method"]: m for m in res["merges"]}
    # scale 0 is the stream's start (row 0); LiNeS at alpha 1, beta 0 is the final model (last row)
    assert merges["task_arithmetic"]["row"] == pytest.approx(res["R"][0], abs=1e-6)
    assert merges["lines"]["row"] == pytest.approx(res["R"][-1], abs=1e-6)
    assert merges["lines"]["metrics"]["acc"] == pytest.approx(res["metrics"]["acc"], abs=1e-6)
    ppl = res["general"]["ppl"]  # a continuous check: general-text perplexity of the start and the final model
    assert ppl[0] != pytest.approx(ppl[-1], rel=1e-3)
    assert merges["task_arithmetic"]["ppl"] == pytest.approx([ppl[0]], rel=1e-5)
    assert merges["lines"]["ppl"] == pytest.approx([ppl[-1]], rel=1e-5)
    assert merges["lines"]["metrics"]["ppl_ratio"] == pytest.approx(ppl[-1] / ppl[0], rel=1e-5)
    assert merges["task_arithmetic"]["models"] == ["task000", "task001", "task002"] and merges["lines"]["models"] == ["task002"]
    (table,) = (run / "wandb").glob("offline-run-*/files/media/table/merge/rows_*.table.json")
    logged = json.loads(table.read_text())  # the W&B run has the merged rows
    assert logged["columns"] == ["merge", "reverse", "sort", "copy"]
    assert np.allclose([r[1:] for r in logged["data"]], [m["row"] for m in res["merges"]])

    from cl.cli.merge import main as merge_main

    merge_main([str(run), "merge=ties", "merge.ties.density=0.5,1.0"])
    after = json.loads((run / "results.json").read_text())
    labels = [m["label"] for m in after["merges"]]
    assert labels[:2] == [merges["task_arithmetic"]["label"], merges["lines"]["label"]]  # kept
    assert labels[2:] == ["ties(density=0.5, scale=1.0)", "ties(density=1.0, scale=1.0)"]
    for m in after["merges"][2:]:
        assert m["metrics"]["acc"] == pytest.approx(sum(m["row"][:3]) / 3, abs=1e-6)
    assert after["R"] == res["R"] and after["metrics"] == res["metrics"]

    from cl.outputs.report import collect

    runs, _ = collect(run)
    configs = {r.config: r for r in runs}
    assert set(configs) == {"default", *(f"merged: {label}" for label in labels)}
    assert configs["merged: ties(density=1.0, scale=1.0)"].R[-1].tolist() == pytest.approx(after["merges"][3]["row"])


def test_cl_merge_names_what_is_wrong_before_any_work(tmp_path, capsys):
    from cl.cli.merge import main as merge_main

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps({"status": {"state": "finished"}}))
    (tmp_path / "run" / "config.yaml").write_text("seed: 0\n")
    cases = [([str(tmp_path / "run"), "merge=nosuch"], "unknown merge 'nosuch': choose with merge=NAME or merge=[A,B]. Available merges: breadcrumbs, dare, lines, slerp, soup, task_arithmetic, ties"),
             ([str(tmp_path / "run"), "merge.ties.density=0.5"], "no merge chosen"),
             ([str(tmp_path / "run"), "merge=ties", "seed=1"], "cl-merge takes merge=... and merge.NAME.KEY=... overrides only, got 'seed=1'"),
             ([str(tmp_path / "run"), "merge=ties"], "kept no per-task weights: train with merge=... or checkpoint.task_weights=true"),
             ([str(tmp_path), "merge=ties"], "is not a finished cl run folder")]  # fmt: skip
    for argv, message in cases:
        with pytest.raises(SystemExit) as stop:
            merge_main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and message in err, err
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == {"status": {"state": "finished"}}


@pytest.mark.slow
def test_cl_merge_independent_merges_single_task_runs_from_one_start(sweep, tmp_path):
    singles = [json.loads((sweep / str(i) / "results.json").read_text()) for i in (1, 2)]
    from cl.cli.merge import main as merge_main

    out = tmp_path / "merged"
    merge_main(["--independent", str(out), str(sweep / "1"), str(sweep / "2"),
                "merge=[task_arithmetic,ties]", "merge.task_arithmetic.scale=0,1"])  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    assert res["trained_tasks"] == ["reverse", "sort"] and res["kind"] == "independent"
    # row 0: the common start; row i: run i's model alone, which scores its own task as in its run
    assert res["R"][0][:2] == pytest.approx([singles[0]["R"][0][0], singles[1]["R"][0][0]], abs=1e-6)
    assert res["R"][1][0] == pytest.approx(singles[0]["R"][1][0], abs=1e-6)
    assert res["R"][2][1] == pytest.approx(singles[1]["R"][1][0], abs=1e-6)
    merged = {m["label"]: m for m in res["merges"]}
    assert merged["task_arithmetic(scale=0.0)"]["row"] == pytest.approx(res["R"][0], abs=1e-6)
    assert merged["ties(density=0.2, scale=1.0)"]["models"] == ["task000", "task001"]
    from cl.outputs.report import collect

    runs, _ = collect(out)  # the merges only: the rows of single models are no sequential result
    assert sorted(r.config for r in runs) == sorted(f"merged: {label}" for label in merged)


@pytest.mark.slow
def test_cl_merge_independent_slerps_the_models_of_two_runs(sweep, tmp_path):
    from cl.cli.merge import main as merge_main

    out = tmp_path / "slerped"
    merge_main(["--independent", str(out), str(sweep / "1"), str(sweep / "2"), "merge=slerp", "merge.slerp.models=all",
                "merge.slerp.t=0,1,0.5"])  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    merged = {m["label"]: m for m in res["merges"]}
    # t=0: run 1's model (row 1), t=1: run 2's (row 2); their general-text perplexity tells them apart
    for t, row in (("0.0", 1), ("1.0", 2)):
        single = json.loads((sweep / str(row) / "results.json").read_text())
        assert merged[f"slerp(t={t}, models=all)"]["row"] == pytest.approx(res["R"][row], abs=1e-6)
        assert merged[f"slerp(t={t}, models=all)"]["ppl"] == pytest.approx([single["general"]["ppl"][-1]], rel=1e-5)
    assert merged["slerp(t=0.5, models=all)"]["models"] == ["task000", "task001"]


def test_cl_merge_independent_refuses_runs_from_different_starts(tmp_path, capsys):
    import torch

    from cl.cli.merge import main as merge_main

    for i, (task, start) in enumerate([("reverse", 0.0), ("sort", 1.0)]):
        run = tmp_path / str(i)
        (run / "weights").mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({"trained_tasks": [task], "status": {"state": "finished"}}))
        (run / "config.yaml").write_text("seed: 0\n")
        torch.save({"w": torch.full((2,), start)}, run / "weights" / "start.pt")
    with pytest.raises(SystemExit) as stop:
        merge_main(["--independent", str(tmp_path / "out"), str(tmp_path / "0"), str(tmp_path / "1"), "merge=ties"])
    assert stop.value.code == 2 and "started from other weights than" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
