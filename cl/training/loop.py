"""The continual loop: evaluate all tasks, then for each task fit, after-task hooks, evaluate all."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import torch
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy

from cl.core.events import Events, Row
from cl.core.provenance import code_changes, code_identity
from cl.core.seeding import rng_state, set_rng_state, task_seed
from cl.evaluation.continual import ContinualEvaluation, subset_ids, subset_task
from cl.evaluation.evaluators import Perplexity
from cl.evaluation.kl_to_start import KLToStart
from cl.evaluation.harness import Harness, harness_columns
from cl.evaluation.matrix import general_ability
from cl.streams.task import Stream, Task
from cl.training.batches import TaskBatches
from cl.training.checkpoint import CheckpointFolder, StepCheckpoint, checkpoint_name, load
from cl.training.module import ContinualModule

log = logging.getLogger("cl")


@dataclass
class TrainingPlan:
    """How much to train per task and how to batch."""

    steps_per_task: int
    batch_size: int = 32
    eval_batch_size: int = 256
    seed: int = 0
    eval_mode: str = "auto"  # auto | teacher_forced | generate (see cl.evaluation.evaluators)
    eval_every_n_steps: int = 0  # continual evaluation inside tasks (0: off; cl.evaluation.continual)
    eval_subset: int = 50  # eval examples per task in continual evaluation
    eval_window: int = 10  # evaluations a windowed forgetting spans (cl.evaluation.stability)
    examples_correct_at: float | None = None  # keep every example's score per row (cl.evaluation.example_events); None: off


@dataclass
class CheckpointPlan:
    """Where and how often a run saves its checkpoints (see cl.training.checkpoint)."""

    folder: CheckpointFolder
    every_n_steps: int = 0  # 0: only at task ends
    writer: bool = True  # this process writes the files (process 0 of several)



class ContinualLoop:
    """Fills the accuracy matrix R (row 0 before training, row i after task i).

    `make_trainer(**overrides)` returns a fresh Lightning Trainer; one is made per task, so
    each task gets its own optimizer and step budget. Every task's examples are encoded up front,
    so data that cannot be used stops the run before any training. `general` adds the
    perplexity on general text to every row, `kl` the KL to the start on the task just trained
    (cl.evaluation.kl_to_start). With `checkpoints`, the run saves its state inside
    and after every task (with `events.checkpoint_state()`), and `run(resume=...)` continues from
    such a checkpoint. With `plan.eval_every_n_steps`, `points` collects the continual evaluation
    of the seen tasks. With `harness`, lm-evaluation-harness scores the model at the rows it is
    due (`harness_scores`). What happens goes to `events` (cl.core.events): stream and task
    starts and ends, rows and points.
    """

    def __init__(
        self,
        module: ContinualModule,
        stream: Stream,
        make_trainer: Callable[..., L.Trainer],
        plan: TrainingPlan,
        events: Events | None = None,
        general: Perplexity | None = None,
        checkpoints: CheckpointPlan | None = None,
        harness: Harness | None = None,
        kl: KLToStart | None = None,
    ) -> None:
        self.module, self.stream, self.plan = module, stream, plan
        self.kl = kl
        self.make_trainer, self.events, self.checkpoints = make_trainer, events or Events(), checkpoints
        self.harness = harness
        self.harness_scores: list[dict | None] = []  # per row: the harness's scores, None where not due
        family = module.family
        self.collate = family.collate
        self.train_data = [family.encode(t, t.train, i) for i, t in enumerate(stream.tasks)]
        evaluators = [family.evaluator(t, j, plan.eval_mode) for j, t in enumerate(stream.eval_tasks)]
        self.evaluators = evaluators + ([general] if general else [])
        self.point_evaluators = []  # continual evaluation: one per trained task, on its subset
        self.point_ids = None  # with per-example records: each subset's ids in its task's eval set
        if plan.eval_every_n_steps:
            seeds = [task_seed(plan.seed, f"continual:{t.name}") for t in stream.tasks]
            subsets = [subset_task(t, plan.eval_subset, seed) for t, seed in zip(stream.tasks, seeds)]
            self.point_evaluators = [family.evaluator(t, j, plan.eval_mode) for j, t in enumerate(subsets)]
            if plan.examples_correct_at is not None:
                self.point_ids = [subset_ids(plan.eval_subset, len(t.eval), seed) for t, seed in zip(stream.tasks, seeds)]
        self.points: list[dict] = []
        self._eval_trainer: L.Trainer | None = None
        self._eval_loaders: list = []  # this process's share of every evaluation set
        self._point_loaders: list = []  # and of every continual-evaluation subset
        self.general_ppl: list[float] = []
        # seconds training, evaluating, in the strategies' task hooks (Fisher, memory fills, ...)
        self.timing = {"train_s": 0.0, "train_steps": 0, "eval_s": 0.0, "continual_eval_s": 0.0, "lm_eval_s": 0.0,
                       "hooks_s": 0.0, "kl_s": 0.0}  # fmt: skip
        self.resumed: list[dict] = []  # where this run continued from checkpoints
        self._fit_started, self._fit_start_batch, self._fit_accumulate = 0.0, 0, 1  # of the fit under way
        self._fit_evaluated = 0.0  # timing["continual_eval_s"] when the fit under way started
        self.R = np.zeros((len(stream.tasks) + 1, len(stream.eval_tasks)))
        self.rows_done = 0  # rows of R filled so far
        module.keeps_examples = plan.examples_correct_at is not None
        self.example_scores: list[dict[str, list[float]]] = []  # per row: task -> score of each example
        self._row_examples: dict[str, list] = {}  # the last evaluated row's records, for its Row event

    def train_loader(self, data: list, steps: int, seed_name: str, start: int = 0,
                     trainer: L.Trainer | None = None) -> TaskBatches:  # fmt: skip
        """`steps` batches drawn with replacement from `data`, in an order fixed by the seed; with
        `trainer`, cut for its gradient accumulation and cut among its processes."""
        gen = torch.Generator().manual_seed(task_seed(self.plan.seed, seed_name) % 2**63)
        layout = {}
        if trainer is not None:
            layout = dict(accumulate=trainer.accumulate_grad_batches, rank=trainer.global_rank, world=trainer.world_size)
        return TaskBatches(data, steps, self.plan.batch_size, gen, self.collate, self.module.family.item_targets, start,
                           **layout)  # fmt: skip

    def fit(self, data: list, steps: int, seed_name: str, start: int = 0, ckpt_path: Path | None = None,
            callbacks: list = ()) -> None:  # fmt: skip
        """Train the module for `steps` optimizer steps on batches drawn with replacement from
        `data` (the model family's items, e.g. `train_data[i]`); from item `start` of the loader of
        Lightning's checkpoint `ckpt_path`. `timing` counts the optimizer steps taken and the
        training time (without the continual evaluation inside the fit, counted apart)."""
        trainer = self.make_trainer(max_steps=steps, max_epochs=1, callbacks=list(callbacks), use_distributed_sampler=False)
        loader = self.train_loader(data, steps, seed_name, start, trainer)
        self._fit_started, self._fit_start_batch, self._fit_accumulate = time.perf_counter(), start, loader.accumulate
        self._fit_evaluated = self.timing["continual_eval_s"]
        trainer.fit(self.module, train_dataloaders=loader, ckpt_path=ckpt_path, weights_only=False if ckpt_path else None)
        self.timing["train_s"] += self._fit_training_seconds()
        self.timing["train_steps"] += trainer.global_step - start // loader.accumulate
        self._release_training_state(trainer)

    def _release_training_state(self, trainer: L.Trainer) -> None:
        """Drop the finished fit's optimizer (each task makes a fresh one; its cost is recorded
        at the fit's end) and the last step's gradients, so that evaluation, merges and the next
        task do not run beside them: AdamW's two moments and the gradients are three copies of
        the trained weights (1.6 GB for SmolLM2-135M in float32)."""
        self.module.zero_grad(set_to_none=True)
        trainer.strategy.lr_scheduler_configs = []
        trainer.optimizers = []

    def _fit_training_seconds(self) -> float:
        """Seconds the fit under way has trained so far, its continual evaluation left out."""
        evaluated = self.timing["continual_eval_s"] - self._fit_evaluated
        return time.perf_counter() - self._fit_started - evaluated

    def evaluate(self) -> list[float]:
        """The score of every evaluated task of the stream (one row of R); the general-text
        perplexity, if measured, is appended to `general_ppl`, the harness's scores (or None) to
        `harness_scores`."""
        start = time.perf_counter()
        row, ppl = self.score()
        self.timing["eval_s"] += time.perf_counter() - start
        self.general_ppl += ppl
        if self.module.keeps_examples:
            names = [t.name for t in self.stream.eval_tasks]
            self._row_examples = {names[j]: records for j, records in self.module.eval_examples.items()}
            self.example_scores.append({name: [score for _, score, _ in r] for name, r in self._row_examples.items()})
        if self.kl is not None and self.kl.start is not None:
            start, index = time.perf_counter(), max(self.rows_done - 1, 0)  # row 0: the first task, where it is 0
            self._to_training_device()
            self.kl.measure(self.module, index, self.stream.tasks[index], partial(self.module.routing, column=-1))
            self.timing["kl_s"] += time.perf_counter() - start
        if self.harness is not None:
            start, scores = time.perf_counter(), None
            if self.harness.due(self.rows_done, len(self.stream.tasks)):
                self._to_training_device()
                scores = self.harness.score(self.module.model, self.module.tokenizer)
            self.harness_scores.append(scores)
            self.timing["lm_eval_s"] += time.perf_counter() - start
        return row

    def general_columns(self) -> dict[str, list[float]]:
        """Per filled row of R: held-out accuracy and retention, general-text perplexity and its
        ratio, the harness's scores and their retention, the KL to the start (where measured)."""
        rows = self.rows_done
        general = general_ability(self.R[:rows], len(self.stream.tasks), self.general_ppl[:rows])
        kl = self.kl.columns(rows) if self.kl is not None and self.kl.rows else {}
        return {**general, **harness_columns(self.harness_scores[:rows]), **kl}

    def score(self) -> tuple[list[float], list[float]]:
        """The current model's score on every evaluated task and its general-text perplexity
        (an empty list when not measured), recorded nowhere."""
        self.module.evaluators = self.evaluators
        self._evaluation_trainer().validate(self.module, dataloaders=self._eval_loaders, verbose=False)
        values = self.module.eval_values()
        n = len(self.stream.eval_tasks)
        return values[:n], values[n:]

    def _evaluation_trainer(self) -> L.Trainer:
        """The Trainer of every evaluation, made once with this process's share of each set."""
        if self._eval_trainer is None:
            trainer = self._eval_trainer = self.make_trainer(enable_progress_bar=False, use_distributed_sampler=False)
            size, rank, world = self.plan.eval_batch_size, trainer.global_rank, trainer.world_size
            self._eval_loaders = [ev.loader(size, rank, world) for ev in self.evaluators]
            self._point_loaders = [ev.loader(size, rank, world) for ev in self.point_evaluators]
        return self._eval_trainer

    def _to_training_device(self) -> None:
        """Lightning leaves the model on the CPU after each fit and validate: move it back where
        it trains, so the task hooks (Fisher, snapshots, frozen copies) run there. Sharded
        strategies (FSDP, DeepSpeed) place their shards themselves and are left alone."""
        strategy = self._evaluation_trainer().strategy
        if isinstance(strategy, (SingleDeviceStrategy, DDPStrategy)):
            self.module.to(strategy.root_device)

    def _timed_hook(self, hook: Callable[[int, Task], Task | None], index: int, task: Task) -> Task | None:
        start = time.perf_counter()
        out = hook(index, task)
        self.timing["hooks_s"] += time.perf_counter() - start
        return out

    def task_data(self, index: int, task: Task) -> list:
        """The items task `index` trains on: `train_data[index]`, or the encoded examples of
        `task` as the objective rewrote it (what `ContinualModule.begin_task` returns)."""
        if task is self.stream.tasks[index]:
            return self.train_data[index]
        return self.module.family.encode(task, task.train, index)

    def _record(self, index: int) -> None:
        self.rows_done = index + 1
        now = {name: values[-1] for name, values in self.general_columns().items() if not math.isnan(values[-1])}
        self.events.on_row(Row(index, [t.name for t in self.stream.eval_tasks], list(self.R[index]), now,
                               self._row_examples))  # fmt: skip

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self, task: int, batches_done: int | None) -> dict:
        """The continual state inside task `task` after `batches_done` batches (None: the task
        is trained and its row of R evaluated)."""
        rows = task + 1 if batches_done is not None else task + 2
        timing = dict(self.timing)
        if batches_done is not None:  # the fit under way, up to now
            timing["train_s"] += self._fit_training_seconds()
            timing["train_steps"] += (batches_done - self._fit_start_batch) // self._fit_accumulate
        return {
            "task": task, "batches_done": batches_done, "R": self.R[:rows].copy(), "general_ppl": list(self.general_ppl),
            "harness": list(self.harness_scores), "points": [dict(p) for p in self.points], "timing": timing,
            "resumed": list(self.resumed), "module": self.module.continual_state(), "rng": rng_state(),
            "kl": self.kl.state_dict() if self.kl is not None else None, "examples": list(self.example_scores[:rows]),
            "extra": self.events.checkpoint_state(), "code": code_identity(),
        }  # fmt: skip

    def _save_task_end(self, task: int) -> None:
        if self.checkpoints is None or not self.checkpoints.writer:
            return
        state = {"state_dict": self.module.state_dict(), "cl": self.state(task, None)}
        self.checkpoints.folder.write(checkpoint_name(task, None), lambda p: torch.save(state, p))

    def _task_callbacks(self, task: int, resume_rng: dict | None = None) -> list:
        """Continual evaluation (first: a checkpoint at the same step holds its point), then
        checkpoints inside the task."""
        return [*self._continual_evaluation(task), *self._step_checkpoints(task, resume_rng)]

    def _continual_evaluation(self, task: int) -> list:
        if not self.plan.eval_every_n_steps:
            return []
        self._evaluation_trainer()  # makes the loaders
        names = [t.name for t in self.stream.tasks]
        offset = task * self.plan.steps_per_task
        return [ContinualEvaluation(self.point_evaluators, self._point_loaders, self.plan.eval_every_n_steps, task,
                                    offset, self.points, names, self.events, self.timing, self.point_ids)]  # fmt: skip

    def _step_checkpoints(self, task: int, resume_rng: dict | None = None) -> list:
        if self.checkpoints is None:
            return []
        plan = self.checkpoints
        state = partial(self.state, task)  # of the batches done
        return [StepCheckpoint(plan.folder, plan.every_n_steps, task, state, resume_rng, plan.writer)]

    def _restore(self, path: Path, checkpoint: dict) -> tuple[int, int | None]:
        """Put the state of `checkpoint` back; returns the task to continue and, inside it, the
        batches already trained (None: start the task)."""
        state = checkpoint["cl"]
        if self.kl is not None:  # onto the model as built, before the module restores its structure
            self.kl.load_state_dict(state.get("kl"), self.module.model)
        self.rows_done = len(state["R"])
        self.R[: self.rows_done] = state["R"]
        self.general_ppl = list(state["general_ppl"])
        self.example_scores = list(state.get("examples", []))  # checkpoints before the records lack them
        self.harness_scores = list(state.get("harness", []))  # checkpoints before the harness lack it
        self.timing = {"continual_eval_s": 0.0, "lm_eval_s": 0.0, "hooks_s": 0.0, "kl_s": 0.0, **state["timing"]}  # older checkpoints lack these
        self.points = [dict(p) for p in state.get("points", [])]  # checkpoints before continual evaluation lack them
        self.module.load_continual_state(state["module"], self.stream.tasks)
        task, done = state["task"], state["batches_done"]
        changes = code_changes(state.get("code"))  # checkpoints before the record lack it
        if changes:
            log.warning("%s was written by other code (%s): the run's results mix both", path.name, "; ".join(changes))
        self.resumed = [*state["resumed"], {"checkpoint": path.name, "task": task, "batches_done": done,
                                            "code_changes": changes}]  # fmt: skip
        if done is None:  # between tasks: weights here, everything else restored above
            self.module.load_state_dict(checkpoint["state_dict"])
            set_rng_state(state["rng"])
            return task + 1, None
        return task, done

    def run(self, resume: Path | None = None) -> np.ndarray:
        """Fill R; from the checkpoint file `resume` if given."""
        tasks, inside, first, rng = self.stream.tasks, None, 0, None
        if resume is None:
            if self.kl is not None:
                self.kl.take_start(self.module.model)
            self.R[0] = self.evaluate()
            self._record(0)
            self.events.on_stream_start(self.module.model)
        else:
            if self.checkpoints is None:
                raise ValueError("resuming needs checkpoints: the loop was built without a CheckpointPlan")
            checkpoint = load(resume)
            first, inside = self._restore(resume, checkpoint)
            rng = checkpoint["cl"]["rng"]
            del checkpoint
        for i in range(first, len(tasks)):
            task, name = tasks[i], f"train:{tasks[i].name}"
            self._to_training_device()
            if inside is not None:
                task = self.module.resume_task(i, task)
                self.events.on_task_start(i, task.name)
                self.fit(self.task_data(i, task), self.plan.steps_per_task, name, inside, resume, self._task_callbacks(i, rng))
                inside = None
            else:
                task = self._timed_hook(self.module.begin_task, i, task)
                self.events.on_task_start(i, task.name)
                self.fit(self.task_data(i, task), self.plan.steps_per_task, name, callbacks=self._task_callbacks(i))
            self._to_training_device()
            self._timed_hook(self.module.end_task, i, task)
            self.R[i + 1] = self.evaluate()
            self._record(i + 1)
            self.events.on_task_end(i, task.name, self.module.model)  # before the checkpoint: a run resumed from it has these
            self._save_task_end(i)
        return self.R

