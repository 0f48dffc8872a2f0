"""DER++ (Buzzega et al., 2020): replay stored inputs with the logits the model gave them.

Examples enter a reservoir memory as they are trained on, together with the top-k logits of
each of their prediction rows (cl.families: answer tokens of a language model, the example of a
classifier; k bounds the memory for large vocabularies). The penalty is
alpha * MSE(current logits at the stored top-k ids, stored values) on one memory sample
+ beta * cross-entropy on the labels of another memory sample.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.core.distributed import gather_objects
from cl.families.base import batch_device, to_batch
from cl.strategies.base import Strategy
from cl.strategies.memory import ExampleBuffer


class DERpp(Strategy):
    reads_step_batch = True

    def __init__(
        self,
        size: int = 200,
        alpha: float = 0.3,
        beta: float = 0.5,
        top_k: int = 8,
        sample_size: int = 32,
        policy: str = "reservoir",
        seed: int = 0,
    ) -> None:
        self.buffer = ExampleBuffer(size, policy, seed)
        self.alpha, self.beta, self.top_k, self.sample_size = alpha, beta, top_k, sample_size

    def _memory_batch(self, module, device):
        items = self.buffer.sample(self.sample_size)
        return to_batch(module.family, [item for item, _, _ in items], device), items

    def penalty(self, module, batch):
        family, device = module.family, batch_device(batch)
        loss = None
        if len(self.buffer):
            mem, items = self._memory_batch(module, device)
            current = family.rows(family.forward(module.model, mem), mem)[0]  # rows in the order stored
            ids = torch.cat([i for _, _, i in items]).to(device)
            values = torch.cat([v for _, v, _ in items]).to(device)
            loss = self.alpha * F.mse_loss(current.gather(1, ids).float(), values.float())
            if self.beta:
                mem2, _ = self._memory_batch(module, device)
                loss = loss + self.beta * family.loss(family.forward(module.model, mem2), mem2)
        return loss

    def after_optimizer_step(self, module, batch) -> None:
        """Offer the step's examples, with the top-k logits the model gave their prediction rows
        before the update, to the memory (those of every process: all hold the same memory)."""
        family = module.family
        with torch.no_grad():
            rows, _, owner = family.rows(module.logits(batch).detach(), batch)
            entries = []
            for example, item in enumerate(family.split(batch)):
                top = rows[owner == example].topk(min(self.top_k, rows.shape[-1]), dim=-1)
                entries.append((item, top.values.cpu(), top.indices.cpu()))
        self.buffer.add(gather_objects(entries), module.task_index or 0)

    def state_dict(self):
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state["buffer"])
