"""Elastic Weight Consolidation (Kirkpatrick et al., 2017) and online EWC (Schwarz et al., 2018).

Penalty (lambda / 2) * sum_k sum_p F_k[p] (theta_p - theta*_k[p])^2 with the diagonal Fisher F_k
of task k, estimated from `fisher_samples` training examples, one gradient each. An example's
log-likelihood is the mean over its prediction rows (cl.families: a language model's answer
tokens, a classifier's one label).
"""
from __future__ import annotations

import random
from functools import partial
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from cl.core.distributed import process_count, process_rank, shard, sum_over_processes, sum_tensors_over_processes
from cl.families.base import to_batch
from cl.strategies.quadratic import QuadraticPenalty, Tensors, non_negative
from cl.strategies.squared_gradients import squared_gradient_sums

FISHER_KINDS = ("empirical", "sampled")


def diagonal_fisher(model: torch.nn.Module, batches: Iterable, example_losses: Callable,
                    names: list[str] | None = None) -> Tensors:  # fmt: skip
    """Mean over examples of the squared gradient of each example's loss, for the parameters
    `names` (default: all; frozen ones stay 0), in float32 whatever the weights' dtype. `example_losses(model, batch)` gives one loss per
    example of the batch (cl.strategies.squared_gradients: how the squares are summed). With
    several processes each passes its share of the examples and the mean is over all of them."""
    params = dict(model.named_parameters())
    fisher = {n: torch.zeros_like(params[n], dtype=torch.float32) for n in (names if names is not None else params)}
    wanted = [n for n in fisher if params[n].requires_grad]
    count = 0
    for batch in batches:
        sums, examples = squared_gradient_sums(model, wanted, batch, example_losses)
        for n, s in sums.items():
            fisher[n] += s
        count += examples
    count = sum_over_processes(count, next(iter(params.values())).device)
    return {n: f / max(count, 1) for n, f in sum_tensors_over_processes(fisher).items()}


def per_example_mean(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """The mean of each example's `values` (rows owned by examples 0..n-1)."""
    sums = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, owner, values)
    return sums / torch.bincount(owner, minlength=n).clamp_min(1)


def empirical_nll(family, model, batch) -> torch.Tensor:
    """Per example: negative log-likelihood of the dataset's targets (mean over its rows)."""
    rows, targets, owner = family.rows(family.forward(model, batch), batch)
    return per_example_mean(F.cross_entropy(rows.float(), targets, reduction="none"), owner, family.size(batch))


def sampled_nll(family, model, batch) -> torch.Tensor:
    """Per example: negative log-likelihood of targets drawn from the model's own predictive
    distribution (mean over its rows)."""
    rows, _, owner = family.rows(family.forward(model, batch), batch)
    rows = rows.float()
    with torch.no_grad():
        drawn = torch.distributions.Categorical(logits=rows).sample()
    return per_example_mean(F.cross_entropy(rows, drawn, reduction="none"), owner, family.size(batch))


class EWC(QuadraticPenalty):
    def __init__(
        self,
        lambda_: float = 10000.0,
        fisher_samples: int = 200,
        fisher: str = "empirical",
        online: bool = False,
        gamma: float = 1.0,
        seed: int = 0,
        fisher_batch: int | None = None,
    ) -> None:
        """`fisher_batch`: examples per batch of the Fisher (None: the model family's
        `gradient_batch`: 1 for language models, whose memory a vectorized backward multiplies,
        64 for classifiers)."""
        if fisher not in FISHER_KINDS:
            raise ValueError(f"unknown Fisher '{fisher}'; choose one of {', '.join(FISHER_KINDS)}")
        if fisher_batch is not None and fisher_batch < 1:
            raise ValueError(f"fisher_batch must be >= 1 example or null (the model family's), got {fisher_batch}")
        self.fisher_batch = fisher_batch
        super().__init__(non_negative("lambda_", lambda_) / 2, online=online, decay=non_negative("gamma", gamma))
        self.fisher_samples, self.nll = fisher_samples, empirical_nll if fisher == "empirical" else sampled_nll
        self.rng = random.Random(seed)

    def importance(self, module, index, task):
        model = module.model
        device = next(model.parameters()).device
        examples = self.rng.sample(task.train, min(self.fisher_samples, len(task.train)))
        examples = shard(examples, process_rank(), process_count())  # this process's share
        family = module.family
        items, size = family.encode(task, examples, index), self.fisher_batch or family.gradient_batch
        batches = (to_batch(family, items[i : i + size], device) for i in range(0, len(items), size))
        return diagonal_fisher(model, batches, partial(self.nll, family), module.trainable_names)

    def state_dict(self):
        return {**super().state_dict(), "rng": self.rng.getstate()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.rng.setstate(state["rng"])
