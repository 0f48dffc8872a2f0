"""One run over several processes (DDP or FSDP through Lightning's launcher, torchrun or SLURM).

Every process trains on its share of each batch (`cl.training.loop.TaskBatches`) and scores its share of
every evaluation set (`shard`); the scores are summed across processes, so every process holds
the same matrix. Process 0 alone writes the run folder: lock, config, checkpoints, train log,
adapters, base-stage cache, results, plots and the W&B run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

# Where launchers put a process's rank: Lightning's script launcher LOCAL_RANK and NODE_RANK,
# torchrun RANK, SLURM SLURM_PROCID (the variables Lightning reads, plus NODE_RANK).
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def is_rank_zero() -> bool:
    """Whether this process is the run's first (also when it runs alone); read from the
    environment, so it holds before torch or Lightning is imported."""
    return all(os.environ.get(name, "0") == "0" for name in _RANK_VARIABLES)


def shard(items: list, rank: int, world: int) -> list:
    """Process `rank`'s share of `items`: every `world`-th item, so across processes each item
    is taken exactly once (no padding, unlike a DistributedSampler)."""
    return items[rank::world]


def share_batches(n_items: int, rank: int, world: int, batch_size: int) -> list[list[int]]:
    """Process `rank`'s share of `n_items` (`shard` of their indices) in batches of at most
    `batch_size`, as many batches on every process as the largest share needs: every process
    must call the model equally often (FSDP gathers weights in each call, `generate()` under
    several processes waits for all). A batch is halved where one is missing; where none can be
    (no share, batches of 1) an empty batch stands for a padding step, whose result the caller
    drops (cl.evaluation.evaluators.share_loader). Alone, plain consecutive batches."""
    share = shard(list(range(n_items)), rank, world)
    batches = [share[k : k + batch_size] for k in range(0, len(share), batch_size)]
    wanted = -(-(-(-n_items // world)) // batch_size)  # batches of the largest share
    while 0 < len(batches) < wanted and max(map(len, batches)) > 1:
        i = max(range(len(batches)), key=lambda j: len(batches[j]))
        half = len(batches[i]) // 2
        batches[i : i + 1] = [batches[i][:half], batches[i][half:]]
    return batches + [[] for _ in range(wanted - len(batches))]


def process_count() -> int:
    """How many processes run together (1 outside torch.distributed)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def process_rank() -> int:
    """This process's rank among those running together (0 outside torch.distributed)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def sum_tensors_over_processes(tensors: dict) -> dict:
    """Each tensor summed over the processes running together, in one all-reduce."""
    if process_count() == 1 or not tensors:
        return tensors
    import torch
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1) for t in tensors.values()])
    dist.all_reduce(flat)
    pieces = flat.split([t.numel() for t in tensors.values()])
    return {name: piece.view_as(t) for (name, t), piece in zip(tensors.items(), pieces)}


def sum_over_processes(value: float, device) -> float:
    """`value` summed over the processes running together (every one must call this)."""
    if process_count() == 1:
        return value
    import torch
    import torch.distributed as dist

    total = torch.tensor(float(value), dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total)


def gather_objects(items: list) -> list:
    """The lists of every process joined in rank order (every one must call this), so each
    process holds all of them; `items` as they are when running alone."""
    if process_count() == 1:
        return items
    import torch.distributed as dist

    parts: list = [None] * process_count()
    dist.all_gather_object(parts, items)
    return [item for part in parts for item in part]


def gather_by_key(local: dict) -> dict:
    """Per key, the lists every process holds under it joined and sorted (every process must call
    this); keys in sorted order, each process holding the result."""
    joined: dict = {}
    for key, items in gather_objects(list(local.items())):
        joined.setdefault(key, []).extend(items)
    return {key: sorted(items) for key, items in sorted(joined.items())}


def block_wrap_policy(class_suffix: str = "DecoderLayer"):
    """FSDP's auto-wrap policy for transformer blocks: every module whose class name ends with
    `class_suffix` (LlamaDecoderLayer, Qwen2DecoderLayer, ... in transformers) is its own shard
    unit, so one block's full weights are gathered at a time."""
    from functools import partial

    from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy

    return partial(lambda_auto_wrap_policy, lambda_fn=lambda module: type(module).__name__.endswith(class_suffix))


@dataclass(frozen=True)
class StepShare:
    """One training batch's place in its optimizer step: micro-batch `micro` of `accumulate`, on
    process `rank` of `world`. The step's items are cut into `count` consecutive blocks, block
    `index` = micro x world + rank being this batch's (as cl.training.loop.TaskBatches cuts them)."""

    micro: int = 0
    accumulate: int = 1
    rank: int = 0
    world: int = 1

    @property
    def index(self) -> int:
        return self.micro * self.world + self.rank

    @property
    def count(self) -> int:
        return self.accumulate * self.world

    def block(self, items: list) -> list:
        """This batch's block of a step's `items` (blocks differ in length by one at most)."""
        n = len(items)
        return items[self.index * n // self.count : (self.index + 1) * n // self.count]


def batch_split_problem(batch_size: int, accumulate: int, processes: int) -> str | None:
    """Why train.batch_size (the batch of one optimizer step) cannot be cut into `accumulate`
    micro-batches x `processes` shares, or None when it can."""
    if batch_size % (accumulate * processes) == 0:
        return None
    return (f"train.batch_size {batch_size} is the batch of one optimizer step and must split evenly into "
            f"trainer.accumulate_grad_batches ({accumulate}) x processes ({processes}); "
            f"choose a multiple of {accumulate * processes}")  # fmt: skip
