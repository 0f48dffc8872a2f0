"""The composition matrix: every pair of parts either acts or is refused before any work.

Cells come from the config groups (conf/strategy, conf/adapter, conf/objective, conf/optimizer), so a new part
joins the matrix without editing this file: strategy x strategy, strategy x adapter (each
adapter, alone and with O-LoRA; adapter=lora also with each start in ADAPTER_INITS), strategy x objective (sft, rft, rft_kl, s3ft), strategy x optimizer (each
optimizer but the plain adamw and sgd, compared with adamw), each strategy under
gradient accumulation (2 micro-batches) and under 2 processes (DDP on CPU), and each strategy,
adapter and objective in bf16-mixed precision and with bfloat16 weights. A cell runs the
real path: Hydra composition, cl-run's config checks and builders, Lightning fits of two tasks
on a tiny model. Its verdict (`verdict`) is

- refused: the checks stop it with one message that names both parts; or
- acts: each part acts (the weights after the two tasks differ from those of the same cell
  without that part or, for a strategy that edits gradients, it changes a random gradient or
  its opposite: A-GEM projects only a conflicting one), and every strategy penalty is non-zero,
  with a non-zero gradient on the parameters being trained, at the end of the last task; and
  under another layout the first optimizer step of each task equals the one-process,
  one-batch step (weights within 1e-5, answers of different lengths), unless INEXACT says
  why it cannot (no strategy today); in bf16-mixed or with bfloat16 weights, the weights differ
  from the float32 run's and are finite.

tests/test_composition.py asserts every verdict; `python -m tests.composition_matrix` writes
the table of docs/concepts/composition.md.
"""
from __future__ import annotations

import copy
import itertools
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

CONF = Path(__file__).resolve().parents[1] / "conf"
STRATEGIES = sorted(p.stem for p in (CONF / "strategy").glob("*.yaml"))
OBJECTIVES = sorted(p.stem for p in (CONF / "objective").glob("*.yaml"))
ADAPTERS = sorted(p.stem for p in (CONF / "adapter").glob("*.yaml"))
OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
PLAIN_OPTIMIZERS = ("adamw", "sgd")  # the rest (GaLore) get a cell with every strategy, compared with adamw
ADAPTER_STRATEGIES = ("conpet", "olora")  # strategies that make an adapter method of adapter=lora
ADAPTER_INITS = ("corda_ipm",)  # adapter=lora's starts other than peft's, each a cell with every strategy
PLAIN_OBJECTIVE = "sft"
# the mixed precision a CPU runs, and weights stored in bfloat16: every strategy, adapter and objective gets a cell in each
MIXED, LOW_DTYPE = "bf16-mixed", "bfloat16"

# Strategies whose step under a layout is not the one-process, one-batch step, and why (they
# must still act). Every other strategy must give the same step.
INEXACT: dict[str, dict[str, str]] = {"accumulate": {}, "processes": {}}

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32"]
SMALL_TASKS = [f"stream.tasks.{t}.{k}={v}" for t in ("copy", "shift") for k, v in (("n_train", 48), ("n_eval", 8))]
# strategies' memories and samples scaled to the tiny tasks; penalties strong enough to show
SMALL_PARTS = {"agem": ["size=32", "sample_size=8"], "derpp": ["size=32", "sample_size=4"], "replay": ["size=32"],
               "reset": ["every_steps=2"], "ewc": ["fisher_samples=8"], "online_ewc": ["fisher_samples=8"]}  # fmt: skip
BASE = ["stream.order=[copy,shift]", *TINY, *SMALL_TASKS, "train.steps_per_task=3", "train.batch_size=4",
        "logger=none", "trainer.enable_progress_bar=false", "checkpoint.enabled=false", "optimizer.lr=3e-3",
        "scheduler=constant", "trainer.gradient_clip_val=null"]  # fmt: skip
# GaLore at a rank below the tiny model's width, its projector refreshed within a task
SMALL_OPTIMIZERS = {"galore": ["optimizer.rank=4", "optimizer.update_proj_gap=2"]}
# RFT on a random tiny model: the format reward (ending within the budget) gives groups with a signal
RFT = ["objective.group_size=4", "objective.max_new_tokens=6", "objective.format_reward=1.0", "objective.min_kept=0.0"]
# S3FT on a random tiny model: no answer is right, so every one is accepted (threshold 0) and trained on instead of the gold
S3FT = ["objective.threshold=0.0", "objective.max_new_tokens=6"]
SMALL_OBJECTIVES = {"rft": RFT, "rft_kl": RFT, "s3ft": S3FT}


@dataclass(frozen=True)
class Cell:
    strategies: tuple[str, ...]
    adapter: str = "none"
    objective: str = "sft"
    accumulate: int = 1
    processes: int = 1
    optimizer: str = "adamw"
    init: str = "default"  # adapter=lora's start
    precision: str = "32-true"
    dtype: str = "float32"  # the weights' (model.dtype)

    def overrides(self) -> list[str]:
        out = [*BASE, f"strategy=[{','.join(self.strategies)}]", f"objective={self.objective}", f"adapter={self.adapter}",
               f"optimizer={self.optimizer}", *SMALL_OPTIMIZERS.get(self.optimizer, [])]  # fmt: skip
        out += [f"adapter.init={self.init}"] if self.init != "default" else []
        out += [f"strategy.{s}.{o}" for s in self.strategies for o in SMALL_PARTS.get(s, [])]
        out += SMALL_OBJECTIVES.get(self.objective, [])
        out += [f"trainer.accumulate_grad_batches={self.accumulate}"] if self.accumulate > 1 else []
        out += ["+trainer.strategy=ddp", f"trainer.devices={self.processes}", "trainer.accelerator=cpu"] * (self.processes > 1)
        out += [f"trainer.precision={self.precision}"] if self.precision != "32-true" else []
        out += [f"model.dtype={self.dtype}"] if self.dtype != "float32" else []
        return out

    def without(self, part: str) -> Cell:
        """The same cell without one of its strategies (naive if none is left)."""
        rest = tuple(s for s in self.strategies if s != part) or ("naive",)
        return replace(self, strategies=rest)

    @property
    def layout(self) -> str | None:
        """"accumulate", "processes" or None (one process, one batch per step)."""
        return "accumulate" if self.accumulate > 1 else "processes" if self.processes > 1 else None

    @property
    def label(self) -> str:
        extra = [f"adapter={self.adapter}"] if self.adapter != "none" else []
        extra += [f"adapter.init={self.init}"] if self.init != "default" else []
        extra += [f"objective={self.objective}"] if self.objective != "sft" else []
        extra += [f"optimizer={self.optimizer}"] if self.optimizer != "adamw" else []
        extra += [f"accumulate={self.accumulate}"] if self.accumulate > 1 else []
        extra += [f"processes={self.processes}"] if self.processes > 1 else []
        extra += [f"precision={self.precision}"] if self.precision != "32-true" else []
        extra += [f"model.dtype={self.dtype}"] if self.dtype != "float32" else []
        return " ".join([f"strategy=[{','.join(self.strategies)}]", *extra])


def _adapter_of(strategy: str) -> str:
    """The adapter a strategy runs on alone (lora for those that make an adapter method of it)."""
    return "lora" if strategy in ADAPTER_STRATEGIES else "none"


def cells(processes: int = 1) -> list[Cell]:
    """Every cell run in one process, or (`processes` > 1) the cells of that many processes."""
    if processes > 1:
        return [Cell((s,), _adapter_of(s), processes=processes) for s in STRATEGIES]
    out = [Cell(pair) for pair in itertools.combinations(STRATEGIES, 2)]
    out += [Cell(tuple(sorted({s, *extra})), adapter) for s in STRATEGIES for adapter in ADAPTERS if adapter != "none"
            for extra in ((), *((a,) for a in ADAPTER_STRATEGIES))]  # fmt: skip
    out += [Cell(tuple(sorted({s, *extra})), "lora", init=init) for s in STRATEGIES for init in ADAPTER_INITS
            for extra in ((), *((a,) for a in ADAPTER_STRATEGIES))]  # fmt: skip
    out += [Cell((s,), objective=o) for s in STRATEGIES for o in OBJECTIVES if o != PLAIN_OBJECTIVE]
    out += [Cell((s,), adapter, o) for s in ADAPTER_STRATEGIES for adapter in ADAPTERS if adapter != "none"
            for o in OBJECTIVES if o != PLAIN_OBJECTIVE]  # fmt: skip
    out += [Cell((s,), _adapter_of(s), optimizer=o) for s in STRATEGIES for o in OPTIMIZERS if o not in PLAIN_OPTIMIZERS]
    out += [Cell((s,), _adapter_of(s), accumulate=2) for s in STRATEGIES]
    for numbers in ({"precision": MIXED}, {"dtype": LOW_DTYPE}):
        out += [Cell((s,), _adapter_of(s), **numbers) for s in STRATEGIES]
        out += [Cell(("naive",), adapter, **numbers) for adapter in ADAPTERS if adapter != "none"]
        out += [Cell(("naive",), objective=o, **numbers) for o in OBJECTIVES if o != PLAIN_OBJECTIVE]
    return list(dict.fromkeys(out))


@lru_cache(maxsize=None)
def composed(cell: Cell):
    """The cell's config, composed by Hydra (once per cell)."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra
    from hydra import initialize_config_dir

    if GlobalHydra.instance().is_initialized():  # within `hydra_session`
        return compose(config_name="config", overrides=cell.overrides())
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=cell.overrides())


@contextmanager
def hydra_session():
    """One Hydra initialisation for many compositions (each costs half as much within it)."""
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def refusal(cell: Cell) -> str | None:
    """The config checks' message for the cell, or None when they accept it."""
    from cl.assembly.checks import check_config
    from cl.core.errors import ConfigError

    try:
        check_config(composed(cell), [p.stem for p in (CONF / "task").glob("*.yaml")])
    except ConfigError as err:
        return str(err)
    return None


@dataclass
class Outcome:
    weights: dict[str, torch.Tensor]  # after both tasks
    first_steps: list[dict[str, torch.Tensor]]  # after the first optimizer step of each task
    penalties: dict[str, tuple[float, float]]  # strategy -> (penalty, its gradient's norm) at the end
    edits: dict[str, bool]  # strategy -> whether its gradient hook changed a random gradient or its opposite


class FirstStep:
    """Keeps the trainable weights after a fit's first optimizer step."""

    def __init__(self, into: list) -> None:
        self.into = into

    def __call__(self):
        import lightning as L

        into = self.into

        class Callback(L.Callback):
            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
                if trainer.global_step == 1 and (batch_idx + 1) % trainer.accumulate_grad_batches == 0:
                    into.append({n: p.detach().clone() for n, p in module.model.named_parameters()})

        return Callback()


@lru_cache(maxsize=None)
def run(cell: Cell) -> Outcome:
    """Train the cell's two tasks through cl-run's builders, in this process."""
    import lightning as L

    from cl.assembly.parts import build_loop
    from cl.assembly.tasks import build_tasks
    from cl.families.base import to_batch
    from cl.strategies.base import Strategy

    torch.set_num_threads(1)
    cfg = copy.deepcopy(composed(cell))
    L.seed_everything(cfg.seed, verbose=False)
    loop = build_loop(cfg, Path("unused"), build_tasks(cfg), writer=False)
    module, first_steps = loop.module, []
    for i, task in enumerate(loop.stream.tasks):
        task = module.begin_task(i, task)
        data = loop.task_data(i, task)
        loop.fit(data, cfg.train.steps_per_task, f"train:{task.name}", callbacks=[FirstStep(first_steps)()])
        if i == len(loop.stream.tasks) - 1:
            batch = to_batch(module.family, data[:4], "cpu")
            named = list(zip(cfg.strategy, module.strategies))
            penalties = {n: penalty_and_gradient(module, s, batch) for n, s in named if type(s).penalty is not Strategy.penalty}
            edits = {n: edits_gradients(module, s) for n, s in named
                     if type(s).before_optimizer_step is not Strategy.before_optimizer_step}  # fmt: skip
        module.end_task(i, task)
    weights = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    return Outcome(weights, first_steps, penalties, edits)


def edits_gradients(module, strategy, directions: int = 4) -> bool:
    """Whether the strategy's gradient hook changes one of a few random gradients or their opposites."""
    params, changed = [p for p in module.model.parameters() if p.requires_grad], False
    for seed, sign in itertools.product(range(directions), (1, -1)):
        gen = torch.Generator().manual_seed(seed)
        g = [sign * torch.randn(p.shape, generator=gen).to(p.dtype) for p in params]
        for p, gp in zip(params, g):
            p.grad = gp.clone()
        strategy.before_optimizer_step(module)
        changed |= any(not torch.equal(p.grad, gp) for p, gp in zip(params, g))
    for p in params:
        p.grad = None
    return changed


def penalty_and_gradient(module, strategy, batch) -> tuple[float, float]:
    """The strategy's penalty on `batch` and the norm of its gradient on the parameters being trained."""
    value = strategy.penalty(module, batch)
    if not isinstance(value, torch.Tensor) or not value.requires_grad:  # None, or a constant
        return float(value or 0.0), 0.0
    params = [p for p in module.model.parameters() if p.requires_grad]
    grads = [g for g in torch.autograd.grad(value, params, allow_unused=True) if g is not None]
    return float(value), float(torch.sqrt(sum((g**2).sum() for g in grads))) if grads else 0.0


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest difference between the weights two runs share."""
    return max(float((a[n] - b[n]).abs().max()) for n in a.keys() & b.keys())


def compared_objective(name: str) -> str:
    """The objective a cell's objective is compared with to show that it acts: the config it
    extends (rft_kl.yaml extends rft.yaml: its KL term must change the run), else plain SFT."""
    from omegaconf import OmegaConf

    defaults = OmegaConf.load(CONF / "objective" / f"{name}.yaml").get("defaults", [])
    return next((d for d in defaults if isinstance(d, str) and d != "_self_"), PLAIN_OBJECTIVE)




def twins(cell: Cell) -> list[Cell]:
    """The cells a verdict on `cell` compares it with, in its own layout."""
    out = [cell.without(part) for part in cell.strategies if part != "naive"]
    out += [replace(cell, objective=compared_objective(cell.objective))] if cell.objective != PLAIN_OBJECTIVE else []
    return out + ([replace(cell, optimizer="adamw")] if cell.optimizer not in PLAIN_OPTIMIZERS else [])


def verdict(cell: Cell, outcome: Callable[[Cell], Outcome] = run) -> str:
    """"refused: <message>" or "acts"; an AssertionError says how the cell fails. `outcome`
    gives the runs of the cell and of its `twins` (the one-process runs come from `run`)."""
    message = refusal(cell)
    if message is not None:
        parts = [*cell.strategies, f"adapter={cell.adapter}", cell.objective, f"optimizer={cell.optimizer}",
                 *([f"adapter.init={cell.init}"] if cell.init != "default" else []),
                 *(["accumulate_grad_batches"] if cell.accumulate > 1 else [])]  # fmt: skip
        named = [p for p in parts if p in message]
        assert len(named) >= 2, f"the refusal of {cell.label} names fewer than two parts: {message}"
        return f"refused: {message}"
    result = outcome(cell)
    for part in [s for s in cell.strategies if s != "naive"]:
        alone = outcome(cell.without(part))
        acts = distance(result.weights, alone.weights) > 1e-6 or result.edits.get(part, False)
        assert acts, f"{part} changes nothing in {cell.label}"
    for name, (value, grad) in result.penalties.items():
        assert value != 0 and grad > 0, f"strategy {name}'s penalty is {value} (gradient {grad}) in {cell.label}"
    if cell.objective != PLAIN_OBJECTIVE:
        other = outcome(replace(cell, objective=compared_objective(cell.objective)))
        assert distance(result.weights, other.weights) > 1e-6, f"objective {cell.objective} changes nothing"
    if cell.optimizer not in PLAIN_OPTIMIZERS:
        other = outcome(replace(cell, optimizer="adamw"))
        assert distance(result.weights, other.weights) > 1e-6, f"optimizer {cell.optimizer} changes nothing"
    if (cell.precision, cell.dtype) != ("32-true", "float32"):  # in effect: not the float32 run; nothing overflowed
        full = run(replace(cell, precision="32-true", dtype="float32"))
        assert distance(result.weights, full.weights) > 1e-6, f"{cell.label}: the weights are those of float32"
        assert all(torch.isfinite(w).all() for w in result.weights.values()), f"{cell.label}: weights not finite"
        stored = {w.dtype for w in result.weights.values()}  # with peft's adapters float32 beside the base's
        assert getattr(torch, cell.dtype) in stored, f"{cell.label}: no weight is stored in {cell.dtype}"
    inexact = set(cell.strategies) & INEXACT.get(cell.layout, {}).keys()
    if cell.layout and not inexact:
        one = run(replace(cell, accumulate=1, processes=1))
        for a, b in zip(result.first_steps, one.first_steps, strict=True):
            assert distance(a, b) < 1e-5, f"{cell.label}: the step differs from the one-process, one-batch step"
    return "acts" + (f" (step differs: {INEXACT[cell.layout][sorted(inexact)[0]]})" if inexact else "")


def table(verdicts: dict[Cell, str]) -> str:
    """docs/concepts/composition.md: every cell's verdict, and how many act and are refused."""
    acts = sum(v.startswith("acts") for v in verdicts.values())
    lines = [
        "# Composition matrix",
        "",
        "Every pair of parts cl composes either **acts** (each part, optimizer included, changes the trained weights or,",
        "for A-GEM, the gradient; every penalty and its gradient are non-zero; under gradient",
        "accumulation or 2 processes the step equals the one-process step; in bf16-mixed precision or",
        "with bfloat16 weights the weights differ from float32's and are finite) or is **refused** before any",
        "work with one message naming both. Cells come from the config groups; `make test` checks",
        "every one (tests/test_composition.py) and `python -m tests.composition_matrix` writes this",
        f"page. {len(verdicts)} cells: {acts} act, {len(verdicts) - acts} refused, none silent.",
        "",
        "| cell | verdict |",
        "|---|---|",
    ]
    lines += [f"| `{cell.label}` | {v.replace('|', '/')} |" for cell, v in verdicts.items()]
    return "\n".join(lines) + "\n"


def _main() -> None:
    import sys
    import tempfile

    from tests.test_composition import outcomes_in_processes

    with hydra_session():
        verdicts = {cell: verdict(cell) for cell in cells()}
    with tempfile.TemporaryDirectory() as folder:
        outcomes = outcomes_in_processes(2, Path(folder))
    with hydra_session():
        verdicts |= {cell: verdict(cell, outcomes.__getitem__) for cell in cells(processes=2)}
    default = Path(__file__).resolve().parents[1] / "docs" / "concepts" / "composition.md"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.write_text(table(verdicts))
    print(f"wrote {out}")


if __name__ == "__main__":
    from tests.composition_matrix import _main as write_table  # cells as the spawned processes name them

    write_table()
