"""GaLore (optimizer=galore): which weights it projects, its low-rank updates, the projector's
schedule, its state's size, plain AdamW elsewhere, bad options, resume, and a run through cl-run."""
from __future__ import annotations

import math
import shutil

import pytest
import torch

from cl.models import tiny_llama
from cl.training.galore import GaLore, galore
from tests.helpers import cl_run, results

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
PROJECTED = [f"model.layers.0.self_attn.{m}.weight" for m in ("q_proj", "k_proj", "v_proj", "o_proj")] + [
    f"model.layers.0.mlp.{m}.weight" for m in ("gate_proj", "up_proj", "down_proj")
]


def model():
    return tiny_llama(**SIZES)[0]


def backward(net, step: int) -> None:
    """The language-model loss of a batch fixed by `step`, differentiated into `net`'s gradients."""
    ids = torch.randint(0, 99, (4, 12), generator=torch.Generator().manual_seed(step))
    net(input_ids=ids, labels=ids).loss.backward()


def train(net, opt, steps: range) -> None:
    for step in steps:
        backward(net, step)
        opt.step()
        opt.zero_grad(set_to_none=True)


def params(net) -> dict[str, torch.nn.Parameter]:
    return dict(net.named_parameters())


def test_the_attention_and_mlp_weights_are_projected_and_every_other_parameter_is_plain():
    net = model()
    opt = galore(net.named_parameters(), lr=1e-3)
    projected, plain = opt.param_groups
    assert projected["param_names"] == PROJECTED and projected["rank"] == 32
    assert "rank" not in plain and set(plain["param_names"]) == set(params(net)) - set(PROJECTED)
    # matched as peft matches: the whole module name or its end after a dot
    only_q = galore(net.named_parameters(), lr=1e-3, target_modules=["self_attn.q_proj"])
    assert only_q.param_groups[0]["param_names"] == PROJECTED[:1]


def test_one_step_changes_each_projected_weight_by_a_rank_r_matrix_in_the_projector_span():
    net, rank, lr, scale = model(), 4, 1e-3, 0.25
    opt = galore(net.named_parameters(), lr=lr, rank=rank, scale=scale, weight_decay=0.0)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    backward(net, 0)
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    opt.step()
    for name in PROJECTED:
        p = params(net)[name]
        delta, basis, grad = p.detach() - before[name], opt.state[p]["ortho_matrix"], grads[name]
        assert torch.linalg.matrix_rank(delta, rtol=1e-4) == rank, name
        m, n = p.shape
        if m >= n:  # the right side is projected: the basis is rank x n, the moments m x rank
            assert basis.shape == (rank, n) and opt.state[p]["exp_avg"].shape == (m, rank)
            assert torch.allclose(basis @ basis.T, torch.eye(rank), atol=1e-5)
            residual = delta - delta @ basis.T @ basis
            low, back = grad @ basis.T, lambda u: u @ basis
        else:  # the left side: m x rank, the moments rank x n
            assert basis.shape == (m, rank) and opt.state[p]["exp_avg"].shape == (rank, n)
            assert torch.allclose(basis.T @ basis, torch.eye(rank), atol=1e-5)
            residual = delta - basis @ basis.T @ delta
            low, back = basis.T @ grad, lambda u: basis @ u
        assert residual.abs().max() <= 1e-4 * delta.abs().max(), name  # float32 rounding of W_after - W_before
        # Adam's first step in the projected space, projected back and scaled by `scale`
        adam = (0.1 * low) / (0.001 * low**2).sqrt().add(1e-6) * (lr * math.sqrt(0.001) / 0.1)
        assert torch.allclose(delta, -scale * back(adam), rtol=1e-3, atol=1e-4 * delta.abs().max().item()), name
    assert {p.shape for n, p in params(net).items() if n in PROJECTED} >= {(32, 32), (64, 32), (32, 64)}


def test_the_projector_is_the_gradients_top_singular_vectors_refreshed_every_gap_steps():
    net, gap, rank = model(), 3, 4
    opt = galore(net.named_parameters(), lr=1e-3, rank=rank, update_proj_gap=gap)
    weight = params(net)[PROJECTED[4]]  # gate_proj, 64 x 32: the right side is projected
    bases, grads = [], []
    for step in range(1, 8):
        opt.step()  # no gradients (an objective's step without a loss): nothing changes, the schedule neither
        backward(net, step)
        grads.append(weight.grad.clone())
        opt.step()
        opt.zero_grad(set_to_none=True)
        bases.append(opt.state[weight]["ortho_matrix"].clone())
    assert opt.param_groups[0]["step"] == opt.param_groups[1]["step"] == 7
    changed = [step for step in range(2, 8) if not torch.equal(bases[step - 1], bases[step - 2])]
    assert changed == [gap + 1, 2 * gap + 1]  # unchanged for gap - 1 steps after each refresh (galore_torch's schedule)
    for step in (1, gap + 1, 2 * gap + 1):
        vh = torch.linalg.svd(grads[step - 1], full_matrices=False)[2]
        assert torch.allclose(bases[step - 1], vh[:rank], atol=1e-6)


def state_bytes(opt: torch.optim.Optimizer, names: list[str] | None = None) -> int:
    """Bytes of the optimizer's state tensors (of the parameters `names` only, if given)."""
    named = {p: n for group in opt.param_groups for n, p in zip(group["param_names"], group["params"])}
    values = [v for p, s in opt.state.items() if names is None or named[p] in names for v in s.values()]
    tensors = [t for v in values for t in (v if isinstance(v, tuple) else (v,))]
    assert all(isinstance(t, torch.Tensor) for t in tensors)  # what Lightning saves and moves between devices
    return sum(t.numel() * t.element_size() for t in tensors)


def test_the_optimizer_state_is_the_low_rank_moments_and_projectors_and_smaller_than_adamw():
    rank, galore_net, adamw_net = 4, model(), model()
    opt = galore(galore_net.named_parameters(), lr=1e-3, rank=rank)
    adamw = torch.optim.AdamW(adamw_net.named_parameters(), lr=1e-3)
    train(galore_net, opt, range(1))
    train(adamw_net, adamw, range(1))
    projected = plain = 0  # float32 numbers expected
    for name, p in galore_net.named_parameters():
        if name in PROJECTED:  # 2 moments of m x r (or r x n) and the r x n (or m x r) basis
            (m, n), r = p.shape, min(rank, *p.shape)
            projected += 2 * m * r + r * n if m >= n else 2 * r * n + m * r
        else:  # AdamW's 2 moments
            plain += 2 * p.numel()
    assert state_bytes(opt, PROJECTED) == 4 * projected and state_bytes(opt) == 4 * (projected + plain)
    # AdamW also keeps a 4-byte step per parameter; on this tiny model the embeddings and lm_head,
    # stepped by AdamW in both, are most of the state
    assert state_bytes(opt) / state_bytes(adamw) < 0.5
    assert state_bytes(opt, PROJECTED) / state_bytes(adamw, PROJECTED) < 0.2


def test_parameters_outside_the_targets_get_adamw_steps_with_eps_added_before_bias_correction():
    net, lr, betas, eps = model(), 1e-3, (0.9, 0.999), 1e-6
    opt = galore(net.named_parameters(), lr=lr, weight_decay=0.0, betas=betas, eps=eps)
    plain = {n: p for n, p in net.named_parameters() if n not in PROJECTED}
    reference = {n: p.detach().clone().requires_grad_() for n, p in plain.items()}
    same_eps = {n: p.detach().clone().requires_grad_() for n, p in plain.items()}
    adamw = torch.optim.AdamW(reference.values(), lr=lr, betas=betas, weight_decay=0.0)
    adamw_same_eps = torch.optim.AdamW(same_eps.values(), lr=lr, betas=betas, eps=eps, weight_decay=0.0)
    for step in range(1, 4):
        backward(net, step)
        for n, p in plain.items():
            reference[n].grad, same_eps[n].grad = p.grad.clone(), p.grad.clone()
        opt.step()
        opt.zero_grad(set_to_none=True)
        # pytorch_optimizer (and galore_torch) divide by sqrt(v) + eps, then correct the bias:
        # torch's AdamW with eps / sqrt(1 - beta2^t) takes the same step
        adamw.param_groups[0]["eps"] = eps / math.sqrt(1 - betas[1] ** step)
        adamw.step()
        adamw_same_eps.step()
    assert max((plain[n] - reference[n]).abs().max().item() for n in plain) < 1e-6
    assert max((plain[n] - same_eps[n]).abs().max().item() for n in plain) > 1e-5  # torch's own eps convention differs


@pytest.mark.parametrize("option, value, message", [
    ("rank", 0, "rank must be an integer of at least 1, got 0"),
    ("rank", 2.5, "rank must be an integer"),
    ("update_proj_gap", 0, "update_proj_gap must be an integer of at least 1"),
    ("scale", 0.0, "scale must be a number above 0, got 0.0"),
    ("scale", -1, "scale must be a number above 0"),
    ("projection_type", "random", "projection_type must be one of std, reverse_std, right, left, full"),
    ("target_modules", [], "target_modules must be a non-empty list"),
    ("target_modules", "q_proj", "target_modules must be a non-empty list"),
])  # fmt: skip
def test_a_bad_option_raises_one_value_error_naming_it(option, value, message):
    with pytest.raises(ValueError, match=message):
        galore(model().named_parameters(), lr=1e-3, **{option: value})


def test_targets_matching_no_weight_or_bare_parameters_raise_one_value_error():
    net = model()
    found = r"\['proj'\] match no trainable 2-D weight.*model\.layers\.\*\.self_attn\.q_proj.*lm_head"
    with pytest.raises(ValueError, match=found):
        galore(net.named_parameters(), lr=1e-3, target_modules=["proj"])  # a suffix of q_proj, not a module name
    with pytest.raises(ValueError, match=r"\(name, parameter\) pairs"):
        galore(net.parameters(), lr=1e-3)


@pytest.mark.parametrize("projection_type", ["std", "full"])  # full: the basis is a pair of matrices
def test_a_state_dict_round_trip_mid_task_continues_bit_identically(tmp_path, projection_type):
    options = dict(lr=3e-3, rank=4, update_proj_gap=3, weight_decay=0.01, projection_type=projection_type)
    straight = model()
    train(straight, galore(straight.named_parameters(), **options), range(8))
    first = model()
    opt = galore(first.named_parameters(), **options)
    train(first, opt, range(4))  # 4 steps: the projector was refreshed at step 4, and is next at step 7
    torch.save({"model": first.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ck.pt")
    saved = torch.load(tmp_path / "ck.pt", weights_only=False)
    resumed = model()
    resumed.load_state_dict(saved["model"])
    opt = galore(resumed.named_parameters(), **options)
    opt.load_state_dict(saved["optimizer"])
    assert isinstance(opt, GaLore) and opt.param_groups[0]["step"] == 4
    basis = opt.state[params(resumed)[PROJECTED[0]]]["ortho_matrix"]
    train(resumed, opt, range(4, 8))
    assert opt.state[params(resumed)[PROJECTED[0]]]["ortho_matrix"] is not basis  # refreshed after the resume
    assert all(torch.equal(p, params(straight)[n]) for n, p in resumed.named_parameters())


RUN = ["optimizer=galore", "optimizer.rank=4", "optimizer.update_proj_gap=2", "train.steps_per_task=5",
       "stream.order=[copy,shift]", "checkpoint.every_n_steps=3", "checkpoint.keep=2", "logger=none",
       "trainer.enable_progress_bar=false", "model.hidden_size=32", "model.intermediate_size=64", "model.num_heads=2",
       "model.num_layers=1"]  # fmt: skip


@pytest.mark.slow
def test_a_run_with_galore_finishes_and_resumes_mid_task_bit_identically(tmp_path):
    proc = cl_run(tmp_path, *RUN, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert out["trained_tasks"] == ["copy", "shift"] and len(out["R"]) == 3
    checkpoints = tmp_path / "run" / "checkpoints"
    (state,) = torch.load(checkpoints / "task001-step0000003.ckpt", weights_only=False)["optimizer_states"]
    projected = state["param_groups"][0]
    assert projected["step"] == 3 and projected["rank"] == 4 and len(projected["params"]) == 7
    assert all(4 in state["state"][i]["ortho_matrix"].shape for i in projected["params"])
    # as if killed after step 3 of task 1: resumed there, the projectors are next refreshed at step 5
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "run", killed)
    (killed / "results.json").unlink()
    (killed / "checkpoints" / "task001-end.ckpt").unlink()
    resumed = cl_run(tmp_path, f"resume={killed}", run_dir="new", env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = results(tmp_path, "killed")
    assert [r["checkpoint"] for r in again["resumed"]] == ["task001-step0000003.ckpt"] and again["R"] == out["R"]
    a, b = (torch.load(f / "checkpoints" / "task001-end.ckpt", weights_only=False)["state_dict"]
            for f in (tmp_path / "run", killed))  # fmt: skip
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
