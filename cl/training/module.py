"""ContinualModule: one LightningModule for the whole stream; objective + strategies per task."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Callable, Sequence

import lightning as L
import torch

from cl.core.distributed import StepShare, gather_by_key, process_count, sum_tensors_over_processes
from cl.core.errors import TrainingDiverged
from cl.evaluation.evaluators import ExampleScore, step_of
from cl.families.base import Family
from cl.models.adapters import AdapterData, NoAdapter
from cl.objectives.base import Objective, zero_loss
from cl.strategies.base import Strategy
from cl.streams.encoding import Encoder, to_device
from cl.streams.task import Task


class ContinualModule(L.LightningModule):
    """Trains one task at a time; the loop calls `begin_task`/`end_task` around each fit.

    The optimizer is rebuilt for every task over the parameters that then require grad, so a
    strategy that freezes parameters in `before_task` leaves them without optimizer state.
    `begin_task` runs every strategy's `before_task` (which may change the model, e.g. add the
    task's parameters to `trainable_names`), then every `on_task_start` (which reads the model
    as the task starts), so the order of strategies in a config does not matter.
    Each training batch's place in its optimizer step (`step_share`) is set before the
    strategies see it.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        objective: Objective,
        strategies: Sequence[Strategy] = (),
        optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        encoder: Encoder | None = None,
        adapter: NoAdapter | None = None,
        family: Family | None = None,
        held_out: Sequence[Task] = (),
    ) -> None:
        """`model` is already wrapped by `adapter` (cl.models.adapters), if any. `family` (cl.families)
        defaults to language models encoded by `encoder` (by default one of `tokenizer`). `held_out`:
        the stream's held-out tasks (the adapter may read them before a task)."""
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.adapter = adapter or NoAdapter()
        self.held_out = list(held_out)
        # what training may change (all weights, or an adapter's) before any strategy freezes some
        self._built_trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        if family is None:
            from cl.families.language import LanguageFamily

            family = LanguageFamily(encoder or Encoder(tokenizer))
        self.family = family  # examples -> batches -> logits -> prediction rows (strategies use it)
        self.objective, self.strategies = objective, list(strategies)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.task_index: int | None = None
        self.task: Task | None = None  # the task being trained (its checker is the RFT reward)
        self.seen_tasks: dict[int, Task] = {}  # by stream index: checkers of replayed examples
        self.evaluators: list = []  # one per dataloader of `validate` (set by the loop)
        self.eval_totals: dict[int, list[float]] = {}
        self.keeps_examples = False  # keep every evaluated example's score and text (cl.outputs.examples)
        self.eval_examples: dict[int, list[tuple[int, float, str]]] = {}  # per evaluator: (example, score, text)
        self._step_logits: tuple[torch.Tensor, torch.Tensor] | None = None
        self._step_batch: dict | None = None  # the last batch trained, until its optimizer step
        self.step_share = StepShare()  # the training batch's place in its optimizer step
        # the most any task of the stream trained and kept in its optimizer (not the base stage)
        self.cost = {"trainable_params": 0, "optimizer_state_bytes": 0}

    @property
    def trainable_names(self) -> list[str]:
        """Parameters training may change in this task: those trainable when the module was built
        (whether or not a strategy froze some for the task) and those added trainable since
        (O-LoRA's adapter of the task)."""
        return [n for n, p in self.model.named_parameters() if p.requires_grad or n in self._built_trainable]

    # -- task boundaries (called by the loop) ---------------------------------------------------
    def begin_task(self, index: int, task: Task) -> Task:
        """Start task `index`; returns the task as it trains: with the objective's training
        examples (`Objective.training_examples`), which the strategies' hooks get too."""
        task = self._trained_task(index, task)
        self.task_index, self.task = index, task
        self.seen_tasks[index] = task
        data = AdapterData(task, self.held_out, getattr(self.family, "encoder", None))  # a classifier has no encoder
        self.model = self.adapter.before_task(self.model, index, data)
        for s in self.strategies:
            s.before_task(self, index, task)
        for s in self.strategies:
            s.on_task_start(self, index, task)
        return task

    def resume_task(self, index: int, task: Task) -> Task:
        """`begin_task` for a run resumed inside task `index`: the strategies' and the objective's
        state is restored already; they only put back what the model's weights do not hold."""
        task = self._trained_task(index, task)
        self.task_index, self.task = index, task
        self.seen_tasks[index] = task
        for s in self.strategies:
            s.resume_task(self, index, task)
        return task

    def _trained_task(self, index: int, task: Task) -> Task:
        """`task` with the examples the objective trains it on (the same object if its own)."""
        examples = self.objective.training_examples(self, index, task)
        return task if examples is task.train else replace(task, train=examples)

    def end_task(self, index: int, task: Task) -> None:
        for s in self.strategies:
            s.after_task(self, index, task)
        self.adapter.after_task(self.model, index, task.name)

    @property
    def encoder(self) -> Encoder:
        """The language-model family's encoder (prompts and answers -> token ids)."""
        return self.family.encoder

    @property
    def task_name(self) -> str:
        """The name of the task being trained ("base" in the base stage, before any task)."""
        return self.task.name if self.task else "base"

    def named_trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """The parameters training may change in this task (`trainable_names`), whether or not a
        strategy has frozen some of them for it."""
        params = dict(self.model.named_parameters())
        return [(n, params[n]) for n in self.trainable_names]

    # -- continual state (checkpoints) ----------------------------------------------------------
    def continual_state(self) -> dict:
        """What the module carries across steps and tasks besides the weights."""
        return {
            "task_index": self.task_index,
            "seen": sorted(self.seen_tasks),
            "objective": self.objective.state_dict(),
            "strategies": [s.state_dict() for s in self.strategies],
            "cost": dict(self.cost),
        }

    def load_continual_state(self, state: dict, tasks: list[Task]) -> None:
        """Restore `continual_state()`; `tasks` are the stream's tasks (by index)."""
        if len(state["strategies"]) != len(self.strategies):
            raise ValueError(f"the checkpoint holds {len(state['strategies'])} strategy states for {len(self.strategies)} strategies")
        index = state["task_index"]
        self.task_index, self.task = index, None if index is None else tasks[index]
        self.seen_tasks = {i: tasks[i] for i in state["seen"]}
        self.cost = {**self.cost, **state.get("cost", {})}  # checkpoints before it lack it
        self.objective.load_state_dict(state["objective"])
        self.model = self.adapter.restore_structure(self.model, index)
        for strategy, s in zip(self.strategies, state["strategies"]):
            strategy.load_state_dict(s)
            strategy.restore_structure(self)

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """Batches are flat dicts of tensors (and prompt texts): move them directly (Lightning's
        generic walk costs about 1 ms per step on small models)."""
        return to_device(batch, device)

    # -- training -----------------------------------------------------------------------------
    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's logits on `batch`, computed once per training step and shared by the
        objective and the strategies' penalties (LwF, DER++ read the same forward pass)."""
        if self._step_logits is None or self._step_logits[0] is not batch:
            self._step_logits = (batch, self.family.forward(self.model, batch))
        return self._step_logits[1]

    def training_step(self, batch, batch_idx):
        trainer, accumulate = self.trainer, self.trainer.accumulate_grad_batches
        self.step_share = StepShare(batch_idx % accumulate, accumulate, trainer.global_rank, trainer.world_size)
        for s in self.strategies:
            batch = s.train_batch(self, batch)
        loss, logs = self.objective.loss(self, batch)
        if loss is None:  # the objective takes no optimizer step on this batch (RFT collecting signal)
            if self._writes_logs():
                self.log_dict(logs, prog_bar=True, batch_size=self.family.size(batch))
            # a zero backward that every process joins (DDP cannot skip a step on one process);
            # with no real loss in the step (_step_batch None), its gradients are dropped before
            # the optimizer, which then changes nothing (not even its moments)
            return zero_loss(self.model)
        for extra in (self.adapter.penalty(self.model), *(s.penalty(self, batch) for s in self.strategies)):
            if extra is not None:
                loss = loss + extra
        if not torch.isfinite(loss):
            raise TrainingDiverged(self.task.name if self.task else "base stage", self.trainer.global_step + 1, loss.item())
        self._step_batch = batch
        if self._writes_logs():
            self.log_dict({"train/loss": loss, **logs}, prog_bar=True, batch_size=self.family.size(batch))
        return loss

    def _writes_logs(self) -> bool:
        """Whether the loggers write this step (every `log_every_n_steps` optimizer steps, as
        Lightning decides): self.log costs ~1 ms, so it is called only then."""
        trainer = self.trainer
        return (trainer.global_step + 1) % trainer.log_every_n_steps == 0 or trainer.should_stop

    def on_before_optimizer_step(self, optimizer) -> None:
        """The step's gradients are complete (accumulated over its micro-batches, averaged over
        processes): the strategies edit them, then their global norm is logged before clipping;
        the gradients of a step without any real loss are dropped."""
        if self._step_batch is None:
            optimizer.zero_grad(set_to_none=True)
            return
        for s in self.strategies:
            s.before_optimizer_step(self)
        if self._writes_logs():
            grads = [p.grad.detach() for p in self.model.parameters() if p.grad is not None]
            if grads:
                self.log("train/grad_norm", torch.nn.utils.get_total_norm(grads), batch_size=1)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        self.adapter.after_optimizer_step(self.model)
        if self._step_batch is not None:
            for s in self.strategies:
                s.after_optimizer_step(self, self._step_batch)
        self._step_logits = self._step_batch = None

    def configure_optimizers(self):
        """A fresh optimizer per task over the parameters that require grad, given by name (torch's
        optimizers take (name, parameter) pairs; GaLore picks the matrices it projects by name);
        the scheduler (if any) spans the task's `max_steps`."""
        opt = self.optimizer_factory([(n, p) for n, p in self.model.named_parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return opt
        sched = self.scheduler_factory(opt, total_steps=self.trainer.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- evaluation: one evaluator per dataloader (index = matrix column, then perplexity) -------
    def on_validation_epoch_start(self) -> None:
        self.eval_totals, self.eval_examples = {}, {}

    @contextmanager
    def routing(self, batch: dict, column: int):
        """The strategies' say in how the model runs on an evaluated `batch` of R's column
        `column` (-1: no column, e.g. cl.evaluation.kl_to_start): ConPET's routing."""
        with ExitStack() as stack:
            for s in self.strategies:
                stack.enter_context(s.evaluating(self, batch, column))
            yield

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        evaluator = self.evaluators[dataloader_idx]
        keep = self.keeps_examples and isinstance(evaluator, ExampleScore)  # a task's examples, one by one
        with self.routing(batch, dataloader_idx):
            scored = evaluator.scored(self.model, batch) if keep else None
            total, count = step_of(scored, batch) if keep else evaluator.step(self.model, batch)
        if keep and not batch["padding"]:
            self.eval_examples.setdefault(dataloader_idx, []).extend(zip(scored.examples, scored.scores, scored.texts))
        sums = self.eval_totals.setdefault(dataloader_idx, [0.0, 0])
        sums[0] += total
        sums[1] += count

    def on_train_end(self) -> None:
        """Record what the task cost (`cost`: parameters in the optimizer, bytes of its state).
        Processes running together must end a task with the same weights (DDP keeps them so
        unless a strategy or objective acts differently on one of them): stop if they do not."""
        if self.task is not None:
            optimizers = self.trainer.optimizers
            trained = sum(p.numel() for o in optimizers for g in o.param_groups for p in g["params"])
            state = sum(v.numel() * v.element_size() for o in optimizers for s in o.state.values()
                        for v in s.values() if torch.is_tensor(v))  # fmt: skip
            self.cost = {"trainable_params": max(self.cost["trainable_params"], trained),
                         "optimizer_state_bytes": max(self.cost["optimizer_state_bytes"], state)}  # fmt: skip
        if process_count() == 1:
            return
        sums = torch.stack([p.detach().double().sum() for p in self.model.parameters()])
        every = self.all_gather(sums)
        if not (every == every[0]).all():
            raise RuntimeError(f"the processes hold different weights after task {self.task_name}: "
                               "a strategy or objective is not in step across them")  # fmt: skip

    def on_validation_epoch_end(self) -> None:
        """Each process scored its own share of every evaluation set: sum the pairs over them."""
        pairs = [self.eval_totals.get(j, [0.0, 0]) for j in range(len(self.evaluators))]
        local = torch.tensor(pairs, dtype=torch.float64, device=self.device)
        summed = sum_tensors_over_processes({"pairs": local})["pairs"]
        self.eval_totals = {j: [total, int(count)] for j, (total, count) in enumerate(summed.tolist())}
        if self.keeps_examples:  # each process scored its share of the examples: every process gets all
            self.eval_examples = gather_by_key(self.eval_examples)

    def eval_values(self) -> list[float]:
        """Each evaluator's value from the last validation run."""
        return [ev.value(*self.eval_totals[j]) for j, ev in enumerate(self.evaluators)]
