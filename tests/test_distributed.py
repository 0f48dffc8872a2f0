"""One run over two processes (DDP on CPU): the same budget, the same matrix, one set of outputs."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchmarks.gpu_check import scored_last_row
from cl.core.distributed import shard
from tests.helpers import cl_env, cl_run, example_rows, results

# one test worker runs them all (make test: --dist loadfile), so that no two multi-process
# runs pick their rendezvous ports at the same time
pytestmark = pytest.mark.slow

DDP = ["+trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]


def test_process_shares_take_every_item_once():
    items = list(range(11))
    shares = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(shares, [])) == items and [len(s) for s in shares] == [4, 4, 3]


def test_ddp_run_trains_the_budget_and_a_killed_one_resumes_to_the_same_end(tmp_path):
    """A 2-process run trains exactly its budget, writes one set of outputs, and its matrix is
    the one-process evaluation of its final weights; the same run killed inside its second task
    (every process at once, right after a checkpoint) and resumed ends with the same R, the
    same continual-evaluation points and bit-identical weights."""
    steps = 20
    # generation-based evaluation: processes decode in step (synced), each scoring its own share;
    # continual evaluation inside the tasks on subsets of 45 (shares of 23 and 22)
    run = [*DDP, f"train.steps_per_task={steps}", "train.batch_size=16", "logger=wandb", "eval.mode=generate",
           "eval.every_n_steps=10", "eval.subset=45", "stream.order=[copy,shift]", "strategy=[replay,ewc]",
           "checkpoint.every_n_steps=10", "trainer.enable_progress_bar=false", "scheduler=constant",
           "optimizer.lr=1e-2"]  # fmt: skip
    one_thread = {"OMP_NUM_THREADS": "1"}
    reference = cl_run(tmp_path, *run, run_dir="ref", env=one_thread)
    assert reference.returncode == 0, reference.stderr[-3000:]
    ref = results(tmp_path, "ref")
    assert ref["timing"]["train_steps"] == 2 * steps  # every task: exactly the optimizer steps asked for
    assert len(list((tmp_path / "ref").rglob("results.json"))) == 1
    assert len(list((tmp_path / "ref").rglob("offline-run-*"))) == 1  # one W&B run
    assert [p.name for p in (tmp_path / "ref" / "checkpoints").iterdir()] == ["task001-end.ckpt"]
    # R's last row equals scoring the final weights in one process: each example counted once
    direct = scored_last_row(tmp_path / "ref")
    assert ref["R"][-1] == pytest.approx(direct, abs=1e-9)
    assert max(direct) > 0  # something was learned: the comparison is not between zeros
    records = example_rows(tmp_path / "ref")  # gathered from both processes: every example once
    for r, values in enumerate(ref["R"]):
        for j, task in enumerate(ref["tasks"]):
            mine = records[(records["row"] == r) & (records["task"] == task)]
            assert sorted(mine["example"]) == list(range(len(mine))) and len(mine) > 0
            assert mine["score"].mean() == pytest.approx(values[j], abs=1e-6)
    points = ref["continual"]["points"]
    assert [p["step"] for p in points] == [10, 20, 30, 40]
    assert points[-1]["acc"] == pytest.approx(scored_last_row(tmp_path / "ref", subset=45), abs=1e-9)

    victim = subprocess.Popen([sys.executable, "-m", "cl.cli.run", *run, f"hydra.run.dir={tmp_path / 'run'}"],
                              env=cl_env(tmp_path, one_thread), cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while not (tmp_path / "run" / "checkpoints" / "task001-step0000010.ckpt").exists():
        assert victim.poll() is None and time.time() < deadline, "the run ended before the kill point"
        time.sleep(0.01)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    resumed = cl_run(tmp_path, f"resume={tmp_path / 'run'}", run_dir="new", env=one_thread)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = results(tmp_path, "run")
    assert out["R"] == ref["R"] and out["timing"]["train_steps"] == 2 * steps
    assert out["continual"]["points"] == points
    assert example_rows(tmp_path / "run").equals(records)
    assert out["resumed"][0]["task"] == 1
    a, b = (torch.load(sorted((tmp_path / r / "checkpoints").iterdir())[-1], weights_only=False)["state_dict"]
            for r in ("ref", "run"))  # fmt: skip
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rft_with_every_strategy_stays_in_step_across_processes(tmp_path):
    """Every process ends each task with the same weights (checked by cl at every task end) and
    the run trains its budget with one set of outputs. Under RFT each process samples its own
    completions, also for A-GEM's reference gradient (averaged over processes: with HFT's
    frozen half, per-process references made the weights drift apart)."""
    proc = cl_run(tmp_path, *DDP, "objective=rft", "base=mixture", "base.steps=100", "strategy=[replay,ewc,hft,agem,derpp,lwf,si]",
                  "train.steps_per_task=15", "train.batch_size=16", "optimizer.lr=3e-3", "logger=none",
                  "stream.order=[copy,shift]", "trainer.enable_progress_bar=false", env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert out["timing"]["train_steps"] == 100 + 2 * 15 and out["status"]["state"] == "finished"
    assert len(list(tmp_path.rglob("results.json"))) == 1
    assert len(out["R"]) == 3 and max(out["R"][-1]) > 0
    assert out["R"][-1] == pytest.approx(scored_last_row(tmp_path / "run"), abs=1e-9)


def _join_group(rank: int, world: int, folder: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world)


def _leave_group() -> None:
    """Leave without interpreter finalization: gloo's worker thread can still be freeing the last
    collective's tensors, which needs the GIL, and aborts the process if Python is finalizing
    (about one exit in ten here; pytorch/pytorch#179291). Everything was written before."""
    torch.distributed.destroy_process_group()
    os._exit(0)


def _fisher_on_a_share(rank: int, world: int, folder: str) -> None:
    from cl.strategies.ewc import diagonal_fisher

    _join_group(rank, world, folder)
    model, batches, nll = _fisher_inputs()
    fisher = diagonal_fisher(model, shard(batches, rank, world), nll)
    if rank == 0:
        torch.save(fisher, f"{folder}/fisher.pt")
    _leave_group()


def _fisher_inputs():
    """A model, one batch per example and EWC's empirical negative log-likelihood for them."""
    from functools import partial

    from cl.families.language import LanguageFamily
    from cl.models import tiny_llama
    from cl.strategies.ewc import empirical_nll
    from cl.streams import make_task
    from cl.streams.encoding import Encoder, collate_to

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    task = make_task("copy", "copy", n_train=9, n_eval=2)
    batches = [collate_to([e], tok.pad_token_id, "cpu") for e in Encoder(tok).encode(task, task.train)]
    return model, batches, partial(empirical_nll, LanguageFamily(Encoder(tok)))


def test_fisher_over_process_shares_equals_the_one_process_fisher(tmp_path):
    torch.multiprocessing.spawn(_fisher_on_a_share, args=(2, str(tmp_path)), nprocs=2)
    from cl.strategies.ewc import diagonal_fisher

    model, batches, nll = _fisher_inputs()
    alone, shared = diagonal_fisher(model, batches, nll), torch.load(tmp_path / "fisher.pt")
    assert alone.keys() == shared.keys() and all(torch.allclose(alone[k], shared[k], rtol=1e-5, atol=1e-12) for k in alone)
    assert sum(float(f.sum()) for f in alone.values()) > 0  # 9 examples over 2 processes: shares of 5 and 4


def _agem_reference_on_a_share(rank: int, world: int, folder: str) -> None:
    _join_group(rank, world, folder)
    torch.save(_agem_reference(), f"{folder}/g_ref{rank}.pt")
    _leave_group()


def _agem_reference() -> tuple[torch.Tensor, list[int]]:
    """A-GEM's reference gradient on a sample of 9 of the 12 examples in its memory (a classifier:
    its loss is a plain mean over examples, so the shares' weighted average is the whole mean),
    and the sizes of the batches this process scored for it."""
    from types import SimpleNamespace

    from cl.families.classifier import ClassifierFamily
    from cl.models.classifiers import mlp
    from cl.objectives import SFT
    from cl.strategies import AGEM
    from cl.streams.classes import ClassTask

    gen = torch.Generator().manual_seed(0)
    task = ClassTask("exp0", [(torch.randn(6, generator=gen), c % 3) for c in range(12)], [], [0, 1, 2])
    scored = []

    class Recording(SFT):
        def reference_loss(self, module, batch):
            scored.append(len(batch["y"]))
            return super().reference_loss(module, batch)

    module = SimpleNamespace(model=mlp([6], 3, hidden=[8], seed=0), family=ClassifierFamily(), objective=Recording())
    agem = AGEM(size=12, sample_size=9)
    agem.after_task(module, 0, task)
    return agem.reference_gradient(module, list(module.model.parameters())), scored


def test_agem_reference_gradient_over_process_shares_equals_the_one_process_one(tmp_path):
    """Each process scores its share of the same memory sample (5 and 4 of 9 examples) and every
    process ends with the gradient of the whole sample: under RFT, whose reference rollouts
    differ across processes, a per-process g_ref would let the weights drift apart."""
    torch.multiprocessing.spawn(_agem_reference_on_a_share, args=(2, str(tmp_path)), nprocs=2)
    (first, scored0), (second, scored1) = (torch.load(tmp_path / f"g_ref{r}.pt") for r in (0, 1))
    alone, scored = _agem_reference()
    assert scored == [9] and scored0 == [5] and scored1 == [4]
    assert torch.equal(first, second) and float(alone.norm()) > 0
    assert torch.allclose(first, alone, rtol=1e-5, atol=1e-7)


def _derpp_memory_on_a_share(rank: int, world: int, folder: str) -> None:
    _join_group(rank, world, folder)
    torch.save(_derpp_memory(lambda rows: rows[rank * len(rows) // world : (rank + 1) * len(rows) // world]),
               f"{folder}/memory{rank}.pt")  # fmt: skip
    _leave_group()


def _derpp_memory(share) -> list:
    """DER++'s memory after three steps of 8 examples, each process offering `share(rows)`."""
    from cl.models import tiny_llama
    from cl.training.module import ContinualModule
    from cl.objectives import SFT
    from cl.strategies import DERpp
    from cl.streams import make_task
    from cl.streams.encoding import Collator, Encoder

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    module = ContinualModule(model.eval(), tok, SFT(), [], torch.optim.AdamW)
    task = make_task("copy", "copy", n_train=24, n_eval=2)
    rows = Encoder(tok).encode(task, task.train)
    der = DERpp(size=6, top_k=3)
    for step in range(3):
        der.after_optimizer_step(module, Collator(tok.pad_token_id)(share(rows[8 * step : 8 * step + 8])))
    return [(enc.input_ids, values, ids) for enc, values, ids in der.buffer.items]


def test_derpp_memory_is_the_same_on_every_process_and_as_in_one(tmp_path):
    torch.multiprocessing.spawn(_derpp_memory_on_a_share, args=(2, str(tmp_path)), nprocs=2)
    first, second = (torch.load(tmp_path / f"memory{r}.pt", weights_only=False) for r in (0, 1))
    alone = _derpp_memory(lambda rows: rows)
    assert len(alone) == 6
    for a, b, c in zip(alone, first, second):
        assert a[0] == b[0] == c[0] and torch.equal(a[2], b[2]) and torch.equal(b[1], c[1])
        assert torch.allclose(a[1], b[1], atol=1e-5)  # logits of half a batch vs a whole one


SHARES = [(41, 2, 20), (200, 3, 64), (5, 2, 2), (1, 2, 8), (64, 1, 64)]
SHARES += [(n, world, size) for n in range(8) for world in range(1, 5) for size in range(1, 4)]  # small ones


@pytest.mark.parametrize("n, world, size", SHARES)
def test_every_process_gets_the_same_number_of_batches_and_every_item_once(n, world, size):
    """Fewer items than processes, or uneven shares in batches of 1: a process short of batches
    gets empty ones (padding steps), so that none waits for the others forever."""
    from cl.core.distributed import share_batches

    shares = [share_batches(n, r, world, size) for r in range(world)]
    assert sorted(i for share in shares for batch in share for i in batch) == list(range(n))
    assert all(len(batch) <= size for share in shares for batch in share)
    assert [len(share) for share in shares] == [-(-(-(-n // world)) // size)] * world  # the largest share's batches
    assert all(max(map(len, share)) <= 1 for share in shares if [] in share)  # padding only where none can split
    if world == 1:  # alone: plain consecutive batches
        assert shares[0] == [list(range(k, min(k + size, n))) for k in range(0, n, size)]


def _generated_sums_on_a_share(rank: int, world: int, folder: str) -> None:
    _join_group(rank, world, folder)
    torch.save(_generated_sums(rank, world), f"{folder}/sums{rank}.pt")
    _leave_group()


def _generated_sums(rank: int = 0, world: int = 1) -> list[list[float]]:
    """(total, count) of the generation-based evaluation of two tasks in batches of 1, summed over
    the processes: 1 example (fewer than 2 processes) and 3 (shares of 2 and 1). The score is
    graded (distinct characters of the completion), so each example's share of it shows."""
    import dataclasses

    from cl.core.distributed import sum_tensors_over_processes
    from cl.evaluation.evaluators import GeneratedScore
    from cl.models import tiny_llama
    from cl.streams import make_task
    from cl.streams.encoding import Encoder

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    sums = []
    for n in (1, 3):
        task = make_task("copy", "copy", n_train=1, n_eval=n)
        task = dataclasses.replace(task, check=lambda prompt, text: len(set(text)) / 8, max_new_tokens=8)
        evaluator, total, count = GeneratedScore(Encoder(tok), task), 0.0, 0
        for batch in evaluator.loader(1, rank, world):
            t, c = evaluator.step(model.eval(), batch)
            total, count = total + t, count + c
        sums.append([total, count])
    return sum_tensors_over_processes({"sums": torch.tensor(sums, dtype=torch.float64)})["sums"].tolist()


def test_generation_evaluation_with_fewer_items_than_processes_ends_and_counts_each_once(tmp_path):
    """Every process runs as many generate() calls (each waits for all): a process without a
    share, or with fewer batches of 1, decodes padding whose score is dropped. Before, the others'
    generate() waited for it: a hang, or gloo aborting on the mismatched collectives."""
    world, seconds = 2, 120
    context = torch.multiprocessing.spawn(_generated_sums_on_a_share, args=(world, str(tmp_path)), nprocs=world,
                                          join=False)  # fmt: skip
    deadline = time.monotonic() + seconds
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the {world} processes did not end within {seconds} s")
    alone = _generated_sums()
    assert [count for _, count in alone] == [1, 3] and all(total > 0 for total, _ in alone)
    for rank in range(world):
        assert sum(torch.load(tmp_path / f"sums{rank}.pt"), []) == pytest.approx(sum(alone, []), abs=1e-9)
