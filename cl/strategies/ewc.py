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

from cl.distributed import process_count, process_rank, shard, sum_over_processes, sum_tensors_over_processes
from cl.families import to_batch
from cl.strategies.quadratic import QuadraticPenalty, Tensors, non_negative

FISHER_KINDS = ("empirical", "sampled")


def diagonal_fisher(model: torch.nn.Module, batches: Iterable, loss_fn: Callable, names: list[str] | None = None) -> Tensors:
    """Mean over batches of the squared gradient of `loss_fn(model, batch)` (one example each),
    for the parameters `names` (default: all). With several processes each passes its share of
    the batches and the mean is over all of them."""
    params = dict(model.named_parameters())
    fisher = {n: torch.zeros_like(params[n]) for n in (names if names is not None else params)}  # frozen ones stay 0
    count = 0
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model, batch).backward()
        for n in fisher:
            if params[n].grad is not None:
                fisher[n] += params[n].grad.detach() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    count = sum_over_processes(count, next(iter(params.values())).device)
    return {n: f / max(count, 1) for n, f in sum_tensors_over_processes(fisher).items()}


def empirical_nll(family, model, batch) -> torch.Tensor:
    """Negative log-likelihood of the dataset's targets."""
    return family.loss(family.forward(model, batch), batch)


def sampled_nll(family, model, batch) -> torch.Tensor:
    """Negative log-likelihood of targets drawn from the model's own predictive distribution."""
    rows = family.rows(family.forward(model, batch), batch)[0].float()
    with torch.no_grad():
        drawn = torch.distributions.Categorical(logits=rows).sample()
    return F.cross_entropy(rows, drawn)


class EWC(QuadraticPenalty):
    def __init__(
        self,
        lambda_: float = 10000.0,
        fisher_samples: int = 200,
        fisher: str = "empirical",
        online: bool = False,
        gamma: float = 1.0,
        seed: int = 0,
    ) -> None:
        if fisher not in FISHER_KINDS:
            raise ValueError(f"unknown Fisher '{fisher}'; choose one of {', '.join(FISHER_KINDS)}")
        super().__init__(non_negative("lambda_", lambda_) / 2, online=online, decay=non_negative("gamma", gamma))
        self.fisher_samples, self.nll = fisher_samples, empirical_nll if fisher == "empirical" else sampled_nll
        self.rng = random.Random(seed)

    def importance(self, module, index, task):
        model = module.model
        device = next(model.parameters()).device
        examples = self.rng.sample(task.train, min(self.fisher_samples, len(task.train)))
        examples = shard(examples, process_rank(), process_count())  # this process's share
        family = module.family
        batches = (to_batch(family, [item], device) for item in family.encode(task, examples, index))
        return diagonal_fisher(model, batches, partial(self.nll, family), module.trainable_names)

    def state_dict(self):
        return {**super().state_dict(), "rng": self.rng.getstate()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.rng.setstate(state["rng"])
