"""Evaluate merges of a run's per-task models: each merged model gives one row over every
evaluated task, scored like the sequential rows, and its metrics are those of R with the final
row replaced by it (ACC is the merged model's; BWT and forgetting compare it with each task's
accuracy right after training it in the stream). A merge that compares candidate weights
(a greedy soup) scores them on validation examples drawn from the trained tasks' training
examples (`validation_score`), never on the evaluation split."""
from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from cl.core.seeding import task_seed
from cl.evaluation.continual import subset_task
from cl.evaluation.matrix import all_metrics, general_ability
from cl.merging.methods import MergeMethod, Score, StateDict
from cl.merging.weights import START, TaskWeights, task_key

log = logging.getLogger("cl")


def merged_metrics(R: np.ndarray, row: list[float], n_trained: int, ppl: list[float], merged_ppl: list[float]) -> dict:
    """The metrics of R whose last row is `row` (and whose last perplexity is `merged_ppl`)."""
    replaced = np.array(R, dtype=float)
    replaced[-1] = row
    ppl = [*ppl[:-1], *merged_ppl] if merged_ppl else []
    general = general_ability(replaced, n_trained, ppl)
    return {**all_metrics(replaced), **{name: values[-1] for name, values in general.items()}}


def validation_score(loop, examples: int) -> Score:
    """Scores weights by their mean accuracy over the stream's trained tasks, each on `examples`
    of its training examples (drawn once from the run's seed; all of them if it has fewer), scored
    like the evaluation. They are examples the model trained on: held apart, they would change the
    training data of every run that merges; the evaluation split stays unseen by the merge."""
    tasks = [subset_task(replace(t, eval=t.train), examples, task_seed(loop.plan.seed, f"validation:{t.name}"))
             for t in loop.stream.tasks]  # fmt: skip
    evaluators = [loop.module.family.evaluator(t, j, loop.plan.eval_mode) for j, t in enumerate(tasks)]
    trainer = loop.make_trainer(enable_progress_bar=False, use_distributed_sampler=False)
    loaders = [ev.loader(loop.plan.eval_batch_size, trainer.global_rank, trainer.world_size) for ev in evaluators]

    def score(state_dict: StateDict) -> float:  # a merge into the model loads onto itself: a copy in place
        loop.module.model.load_state_dict(state_dict)
        loop.module.evaluators = evaluators
        trainer.validate(loop.module, dataloaders=loaders, verbose=False)
        return float(np.mean(loop.module.eval_values()))

    return score


def evaluate_merges(loop, methods: dict[str, MergeMethod], weights: TaskWeights) -> list[dict]:
    """Merge and evaluate with every method of `methods` (key: its config name) after `loop`
    ran its stream; the loop's module holds the final sequential weights again afterwards.
    Returns one record per merge: what it merged, its row, metrics and seconds."""
    n = len(loop.stream.tasks)
    missing = weights.missing(n)
    if missing:
        raise FileNotFoundError(f"{weights.folder} lacks {', '.join(missing)}: merging needs the weights the stream "
                                "started from and after every task (kept when a run has merge= set)")  # fmt: skip
    base, records = weights.load(START), []
    for key, method in methods.items():
        start = time.perf_counter()
        chosen = [task_key(i) for i in range(n)] if method.models == "all" else [task_key(n - 1)]
        score = validation_score(loop, method.scored_examples()) if method.scored_examples() else None
        method.merge(base, [weights.load(k) for k in chosen], score, into=loop.module.model.state_dict())
        row, ppl = loop.score()
        records.append({
            "key": key, "method": method.name, "label": method.label(), "settings": method.settings(),
            "models": chosen, "row": [float(v) for v in row], "ppl": ppl,
            "metrics": merged_metrics(loop.R, row, n, loop.general_ppl, ppl),
            **({"details": method.details()} if method.details() else {}),
            "seconds": round(time.perf_counter() - start, 2),
        })  # fmt: skip
        log.info("merge %s: ACC %.3f", method.label(), records[-1]["metrics"]["acc"])
    weights.restore(task_key(n - 1), loop.module.model)
    return records
