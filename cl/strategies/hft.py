"""Half Fine-Tuning (Hui et al., 2024): each task trains a freshly drawn half of every block.

At the start of each task, the selection (cl.strategies.selection) picks the trainable block
matrices; every other block matrix gets requires_grad=False, so it has no gradient and, since
the module builds the optimizer after `before_task`, no optimizer state. Parameters outside the
blocks (embeddings; final norm and output head) follow `train_embeddings` and `train_head`.
"""
from __future__ import annotations

import logging

from cl.strategies.selection import SelectionStrategy, block_parameters, is_embedding

log = logging.getLogger("cl")


class HFT(SelectionStrategy):
    chooses_trainable = True

    def __init__(
        self,
        fraction: float = 0.5,
        granularity: str = "category",
        train_embeddings: bool = True,
        train_head: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(fraction, granularity, seed)
        self.train_embeddings, self.train_head = train_embeddings, train_head
        self.history: list[dict] = []

    def before_task(self, module, index, task):
        trainable, in_blocks = self._freeze(module.model, index)
        model = module.model
        total = sum(p.numel() for p in model.parameters())
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        in_block_total = sum(p.numel() for ps in in_blocks.values() for p in ps)
        in_block_train = sum(p.numel() for m in trainable for p in in_blocks[m])
        record = {
            "task": task.name,
            "trainable_modules": sorted(trainable),
            "trainable_fraction": n_train / total,
            "block_trainable_fraction": in_block_train / in_block_total,
        }
        self.history.append(record)
        log.info("HFT on %s: %d of %d block matrices trainable; %.4f of block parameters, %.4f of all",
                 task.name, len(trainable), len(in_blocks), record["block_trainable_fraction"], record["trainable_fraction"])  # fmt: skip

    def resume_task(self, module, index, task):
        self._freeze(module.model, index)

    def _freeze(self, model, index: int):
        """Freeze all but task `index`'s selection (drawn from the seed and the index alone);
        returns the selection and the block matrices' parameters by name."""
        anat, trainable = self.select(model, index)
        in_blocks = block_parameters(model, anat)
        block_ids = {id(p) for params in in_blocks.values() for p in params}
        for name, p in model.named_parameters():
            if id(p) not in block_ids:
                p.requires_grad_(self.train_embeddings if is_embedding(name) else self.train_head)
        for name, params in in_blocks.items():
            for p in params:
                p.requires_grad_(name in trainable)
        return trainable, in_blocks

    def state_dict(self):
        return {"history": self.history}

    def load_state_dict(self, state):
        self.history = state["history"]
