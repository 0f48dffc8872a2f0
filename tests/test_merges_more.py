"""Model Breadcrumbs, model soups, SLERP and task increments (cl.merging.methods): each against a
hand computation or its defining property, then in a real sequential run (`cl-run merge=...`)
and `cl-merge` on it; merging entry by entry (what it reads at once, DARE's draws)."""
import copy
import json
import math
import weakref
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

from cl.merging.methods import Breadcrumbs, Dare, Lines, Soup, TaskArithmetic, Ties, entry_vectors, slerp
from cl.merging.weights import START, TaskWeights, task_key
from tests.helpers import QUICK, cl_run


def _random_models(n: int, shape=(6, 7)) -> tuple[dict, list[dict]]:
    torch.manual_seed(0)
    base = {"w": torch.randn(shape), "b": torch.randn(shape[0]), "count": torch.tensor([4])}
    return base, [{**{k: v + torch.randn_like(v) for k, v in base.items() if k != "count"}, "count": torch.tensor([i])}
                  for i in range(n)]  # fmt: skip


# -- Model Breadcrumbs ---------------------------------------------------------------------------------
def test_breadcrumbs_drops_the_largest_gamma_and_the_small_entries_of_each_tensor():
    torch.manual_seed(1)
    magnitudes = torch.randperm(1000).float() + 1  # 1..1000, each once
    signs = torch.where(torch.rand(1000) < 0.5, -1.0, 1.0)
    # rows of very different scale: a per-row mask would keep entries of every row, the per-tensor one does not
    vector = (signs * magnitudes).view(10, 100) * torch.logspace(0, 1, 10).view(10, 1)
    masked = Breadcrumbs(density=0.2, gamma=0.01).mask(vector)
    ranked = vector.abs().flatten().argsort(descending=True)
    kept = masked.flatten() != 0
    assert not kept[ranked[:10]].any()  # the 1% largest magnitudes (outliers)
    assert kept[ranked[10:210]].all() and not kept[ranked[210:]].any()  # the next 20%; the small rest dropped
    assert kept.float().mean().item() == pytest.approx(0.2)  # the kept share is the density
    assert torch.equal(masked.flatten()[kept], vector.flatten()[kept])  # kept values unchanged
    assert not kept.view(10, 100)[0].any()  # the smallest-scale row lost everything: masked per tensor


def test_breadcrumbs_without_a_mask_is_task_arithmetic_and_at_scale_0_the_base():
    base, models = _random_models(3)
    whole = Breadcrumbs(density=1.0, gamma=0.0, scale=0.4).merge(base, models)
    arithmetic = TaskArithmetic(scale=0.4).merge(base, models)
    assert all(torch.allclose(whole[k], arithmetic[k]) for k in base)
    masked = Breadcrumbs(density=0.3, gamma=0.05, scale=0.4).merge(base, models)
    assert not torch.allclose(masked["w"], arithmetic["w"])
    at_zero = Breadcrumbs(scale=0.0).merge(base, models)
    assert all(torch.equal(at_zero[k], base[k]) for k in base)


def test_breadcrumbs_refuses_shares_that_do_not_fit():
    with pytest.raises(ValueError, match="density \\+ gamma at most 1"):
        Breadcrumbs(density=0.9, gamma=0.2)


# -- model soups ---------------------------------------------------------------------------------------
def test_a_uniform_soup_of_identical_models_is_that_model_and_otherwise_their_mean():
    base, (model, other, _) = _random_models(3)
    soup = Soup(mode="uniform").merge(base, [model, model, model])
    assert all(torch.allclose(soup[k].float(), model[k].float(), atol=1e-6) for k in ("w", "b"))
    assert soup["count"].tolist() == [4]  # not floating point: the base's
    mean = Soup(mode="uniform").merge(base, [model, other])
    assert torch.allclose(mean["w"], (model["w"] + other["w"]) / 2, atol=1e-6)


def _linear_task() -> tuple[torch.Tensor, torch.Tensor]:
    """Validation data of a 3-class linear problem: points and the labels of a true weight matrix."""
    torch.manual_seed(2)
    x = torch.randn(400, 5)
    return x, (x @ torch.randn(5, 3)).argmax(1)


def test_a_greedy_soup_ranks_by_validation_accuracy_and_adds_only_on_a_strict_rise():
    x, y = _linear_task()
    truth = torch.linalg.lstsq(x, torch.nn.functional.one_hot(y, 3).float()).solution
    calls = []

    def accuracy(state_dict) -> float:  # the soup's validation accuracy as a linear classifier
        calls.append(state_dict["w"].clone())
        return float(((x @ state_dict["w"]).argmax(1) == y).float().mean())

    base = {"w": torch.zeros(5, 3)}
    torch.manual_seed(3)
    noisy = [truth + s * torch.randn(5, 3) * truth.abs().mean() for s in (1.0, 0.9, 4.0, 1.1)]
    models = [{"w": w} for w in [*noisy, noisy[1]]]  # the last: a copy of the best, which adds nothing
    method = Soup(mode="greedy")
    soup = method.merge(base, models, accuracy)
    found = method.details()
    alone = [accuracy({"w": m["w"]}) for m in models]
    assert found["validation"] == pytest.approx(alone)
    assert found["order"] == sorted(range(5), key=lambda i: -alone[i])  # by validation accuracy, best first
    assert found["order"][0] == 1 and 4 not in found["ingredients"]  # the copy: equal accuracy is no rise
    assert found["soup_validation"] >= max(alone)  # never below its best model
    assert len(found["ingredients"]) == 2 and found["soup_validation"] > max(alone)  # here: one rise, three left out
    assert accuracy(soup) == found["soup_validation"]
    expected = sum(models[i]["w"] for i in found["ingredients"]) / len(found["ingredients"])
    assert torch.allclose(soup["w"], expected, atol=1e-6)
    # candidates tried in that order: each soup of the ingredients so far plus the next model
    tried, chosen = calls[5 : 5 + 4], found["order"][:1]
    for w, i in zip(tried, found["order"][1:]):
        assert torch.allclose(w, sum(models[j]["w"] for j in [*chosen, i]) / (len(chosen) + 1), atol=1e-6)
        chosen = [*chosen, i] if i in found["ingredients"] else chosen
    with pytest.raises(ValueError, match="merge needs `score`"):
        Soup(mode="greedy").merge(base, models)


# -- SLERP ---------------------------------------------------------------------------------------------
def _angle(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return math.acos(float(a @ b / (a.norm() * b.norm())))


def test_slerp_goes_from_one_model_to_the_other_along_the_angle():
    torch.manual_seed(4)
    a, b = torch.randn(8, 9), 3 * torch.randn(8, 9)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-6) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    for t in (0.25, 0.5, 0.8):
        out = slerp(a, b, t)
        assert _angle(out, a) == pytest.approx(t * _angle(a, b), abs=1e-5)
        assert _angle(out, b) == pytest.approx((1 - t) * _angle(a, b), abs=1e-5)  # on the great circle
        assert out.norm().item() == pytest.approx((1 - t) * a.norm().item() + t * b.norm().item(), rel=1e-5)
    nearly = a + 1e-3 * torch.randn(8, 9)  # |cos| above 0.9995: linear interpolation
    assert torch.equal(slerp(a, nearly, 0.3), (0.7 * a.double() + 0.3 * nearly.double()).float())


def test_slerp_merges_the_start_and_the_final_model_or_exactly_two_models():
    from cl.merging.methods import Slerp

    base, models = _random_models(3)
    merged = Slerp(t=0.4).merge(base, models[-1:])
    assert torch.allclose(merged["w"], slerp(base["w"], models[-1]["w"], 0.4)) and merged["count"].tolist() == [4]
    two = Slerp(t=0.4, models="all").merge(base, models[:2])
    assert torch.allclose(two["b"], slerp(models[0]["b"], models[1]["b"], 0.4))
    with pytest.raises(ValueError, match="interpolates two models, got 3"):
        Slerp(models="all").merge(base, models)


# -- entry by entry -----------------------------------------------------------------------------------
def test_dare_drops_entry_by_entry_what_peft_drops_vector_by_vector():
    """Merging goes entry by entry; DARE's drop is still the one drawn from its seed one task
    vector after the other, each entry in order (peft's `prune` on the global generator)."""
    from peft.utils.merge_utils import prune

    base, models = _random_models(3)
    floating = ["w", "b"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        dropped = [{k: prune(m[k] - base[k], 0.4, "random", rescale=True) for k in floating} for m in models]
    merged = Dare(density=0.4, scale=0.7, seed=4).merge(base, models)
    for k in floating:
        assert torch.equal(merged[k], base[k] + 0.7 * sum(d[k] for d in dropped))
    assert torch.equal(merged["count"], base["count"])
    assert not torch.equal(merged["w"], Dare(density=0.4, scale=0.7, seed=5).merge(base, models)["w"])


class _Counted(Mapping):
    """A state dict whose reads are counted: how many tensors read from any of them are alive."""

    alive = peak = 0

    def __init__(self, tensors: dict) -> None:
        self.tensors = tensors

    def __getitem__(self, key):
        tensor = self.tensors[key].clone()
        _Counted.alive += 1
        _Counted.peak = max(_Counted.peak, _Counted.alive)
        weakref.finalize(tensor, _Counted.release)
        return tensor

    @staticmethod
    def release():
        _Counted.alive -= 1

    def __iter__(self):
        return iter(self.tensors)

    def __len__(self):
        return len(self.tensors)


@pytest.mark.parametrize("method", [TaskArithmetic(), Ties(density=0.3), Dare(density=0.5), Breadcrumbs(density=0.3),
                                    Soup(mode="uniform"), Soup(mode="greedy"), Lines(models="all", block_pattern=r"e(\d)")])  # fmt: skip
def test_a_merge_of_lazy_state_dicts_holds_one_entry_of_each_model_at_a_time(method):
    torch.manual_seed(0)
    base = {f"e{i}": torch.randn(5, 3) for i in range(8)}
    models = [{k: v + torch.randn_like(v) for k, v in base.items()} for _ in range(4)]
    expected = copy.deepcopy(method).merge(base, models, score=lambda s: -float(s["e0"].abs().sum()))
    _Counted.alive = _Counted.peak = 0
    merged = method.merge(_Counted(base), [_Counted(m) for m in models], score=lambda s: -float(s["e0"].abs().sum()))
    assert all(torch.equal(merged[k], expected[k]) for k in base)
    assert _Counted.alive == 0 and 5 <= _Counted.peak <= 6  # the start's and 4 models' entry (eagerly: 40 tensors)
    target = {k: torch.zeros_like(v) for k, v in base.items()}  # a model's state_dict(): its weights' tensors
    storage = {k: v.data_ptr() for k, v in target.items()}
    into = method.merge(base, models, score=lambda s: -float(s["e0"].abs().sum()), into=target)
    assert into is target and all(target[k].data_ptr() == storage[k] and torch.equal(target[k], expected[k]) for k in base)
    with pytest.raises(ValueError, match="the model merged into does not have the merged entries .differs at 'e7'"):
        method.merge(base, models, score=lambda s: 0.0, into={k: v for k, v in target.items() if k != "e7"})


@pytest.mark.parametrize("method", [TaskArithmetic(), Ties(density=0.3), Dare(density=0.5, vectors="increments"),
                                    Soup(mode="uniform"), Lines(models="all", block_pattern=r"e(\d)")])  # fmt: skip
def test_elementwise_merges_of_large_tensors_go_by_rows_and_merge_the_same(method, monkeypatch):
    torch.manual_seed(0)
    base = {"e0": torch.randn(9, 4), "e1": torch.randn(7).bfloat16(), "e2": torch.tensor(0.5)}
    models = [{k: (v.float() + torch.randn(v.shape)).to(v.dtype) for k, v in base.items()} for _ in range(3)]
    whole = copy.deepcopy(method).merge(base, models)
    monkeypatch.setattr("cl.merging.methods.CHUNK", 8)  # e0: two rows at a time, e1: one entry
    by_rows = method.merge(base, models)
    assert all(torch.equal(by_rows[k], whole[k]) and by_rows[k].dtype == whole[k].dtype for k in base)
    assert any(not torch.equal(whole[k], base[k]) for k in base)


# -- task increments -----------------------------------------------------------------------------------
def test_increments_are_what_each_model_changed_from_the_one_before():
    base, models = _random_models(3)
    steps = entry_vectors(base["w"], [m["w"] for m in models], increments=True)
    assert torch.allclose(steps[1], models[1]["w"] - models[0]["w"])
    assert torch.allclose(steps[0], models[0]["w"] - base["w"])
    merged = TaskArithmetic(scale=0.5, vectors="increments").merge(base, models)
    assert torch.allclose(merged["w"], base["w"] + 0.5 * (models[2]["w"] - base["w"]), atol=1e-6)
    with pytest.raises(ValueError, match="vectors must be one of cumulative, increments"):
        TaskArithmetic(vectors="steps")


# -- in a run ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A sequential run of reverse -> sort -> copy that evaluates Model Breadcrumbs, a greedy
    soup (20 training examples per task as validation) and SLERP at t=0 after its stream; the
    general-text perplexity of every model is the continuous check (a few steps of a model
    trained from scratch score near 0 on the tasks)."""
    root = tmp_path_factory.mktemp("merges_more")
    general = f"eval.general={Path(__file__).resolve().parents[1] / 'data' / 'general' / 'text.jsonl'}"
    proc = cl_run(root, "stream.order=[reverse,sort,copy]", *QUICK, "train.steps_per_task=10", general,
                  "merge=[breadcrumbs,soup,slerp]", "merge.soup.validation=20", "merge.slerp.t=0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root / "run"


@pytest.mark.slow
def test_a_run_evaluates_breadcrumbs_a_greedy_soup_and_slerp(run):
    res = json.loads((run / "results.json").read_text())
    merges = {m["method"]: m for m in res["merges"]}
    assert set(merges) == {"breadcrumbs", "soup", "slerp"}
    assert merges["breadcrumbs"]["label"] == "breadcrumbs(density=0.15, gamma=0.006, scale=0.3)"
    for m in merges.values():
        assert len(m["row"]) == len(res["tasks"]) and m["metrics"]["acc"] == pytest.approx(sum(m["row"][:3]) / 3, abs=1e-6)
    ppl = res["general"]["ppl"]  # of the start and after each task
    assert ppl[0] != pytest.approx(ppl[-1], rel=1e-3)
    assert merges["slerp"]["row"] == pytest.approx(res["R"][0], abs=1e-6)  # t=0: the stream's start
    assert merges["slerp"]["ppl"] == pytest.approx([ppl[0]], rel=1e-5)
    assert merges["breadcrumbs"]["ppl"][0] not in (pytest.approx(ppl[0], rel=1e-4), pytest.approx(ppl[-1], rel=1e-4))
    found = merges["soup"]["details"]
    assert merges["soup"]["models"] == ["task000", "task001", "task002"] and len(found["validation"]) == 3
    assert found["order"] == sorted(range(3), key=lambda i: -found["validation"][i])
    assert found["soup_validation"] >= max(found["validation"]) and found["ingredients"][0] == found["order"][0]
    if len(found["ingredients"]) == 1:  # a soup of one model is that model: its perplexity is that row's
        assert merges["soup"]["ppl"] == pytest.approx([ppl[found["ingredients"][0] + 1]], rel=1e-5)
    assert "details" not in merges["breadcrumbs"]


@pytest.mark.slow
def test_the_increments_of_a_run_sum_to_its_final_update_and_merge_back_to_its_final_model(run):
    weights = TaskWeights(run / "weights")
    start, models = weights.load(START), [weights.load(task_key(i)) for i in range(3)]
    keys = [k for k in start if start[k].is_floating_point()]
    steps = {k: entry_vectors(start[k], [m[k] for m in models], increments=True) for k in keys}
    final = {k: entry_vectors(start[k], [models[-1][k]])[0] for k in keys}
    assert max(v.abs().max().item() for v in final.values()) > 1e-3  # the run trained
    for k, v in final.items():
        assert torch.allclose(sum(steps[k]), v, atol=1e-6)
    assert max((final[k] - steps[k][0]).abs().max().item() for k in final) > 1e-3  # an increment is not the update

    from cl.cli.merge import main as merge_main

    merge_main([str(run), "merge=task_arithmetic", "merge.task_arithmetic.scale=1", "merge.task_arithmetic.vectors=increments"])
    res = json.loads((run / "results.json").read_text())
    (added,) = [m for m in res["merges"] if m["method"] == "task_arithmetic"]
    assert added["label"] == "task_arithmetic(scale=1.0, vectors=increments)"
    assert added["row"] == pytest.approx(res["R"][-1], abs=1e-6)  # start + sum of increments: the final model
    assert added["ppl"] == pytest.approx([res["general"]["ppl"][-1]], rel=1e-5)
