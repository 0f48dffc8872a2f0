"""DER++ (Buzzega et al., 2020): replay stored inputs with the logits the model gave them.

Examples enter a reservoir memory as they are trained on, together with the top-k logits of
each answer position (k bounds the memory for large vocabularies). The penalty is
alpha * MSE(current logits at the stored top-k ids, stored values) on one memory sample
+ beta * cross-entropy on the labels of another memory sample.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.distributed import gather_objects
from cl.objectives.sft import answer_cross_entropy
from cl.strategies.base import Strategy
from cl.strategies.lwf import answer_positions
from cl.strategies.memory import ExampleBuffer
from cl.streams.encoding import collate_to, split_batch


class DERpp(Strategy):
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
        return collate_to([enc for enc, _, _ in items], module.tokenizer.pad_token_id, device), items

    def penalty(self, module, batch):
        device = batch["input_ids"].device
        loss = None
        if len(self.buffer):
            mem, items = self._memory_batch(module, device)
            logits = module.model(input_ids=mem["input_ids"], attention_mask=mem["attention_mask"]).logits
            current = logits[:, :-1][answer_positions(mem["labels"])]  # rows in the order stored
            ids = torch.cat([i for _, _, i in items]).to(device)
            values = torch.cat([v for _, v, _ in items]).to(device)
            loss = self.alpha * F.mse_loss(current.gather(1, ids).float(), values.float())
            if self.beta:
                mem2, _ = self._memory_batch(module, device)
                out = module.model(input_ids=mem2["input_ids"], attention_mask=mem2["attention_mask"]).logits
                loss = loss + self.beta * answer_cross_entropy(out, mem2["labels"])
        return loss

    def after_optimizer_step(self, module, batch) -> None:
        """Offer the step's examples, with the answer-position top-k logits the model gave them
        before the update, to the memory (those of every process: all hold the same memory)."""
        with torch.no_grad():
            logits = module.logits(batch).detach()[:, :-1]
            mask = answer_positions(batch["labels"])
            entries = []
            for row, enc in enumerate(split_batch(batch)):
                top = logits[row][mask[row]].topk(min(self.top_k, logits.shape[-1]), dim=-1)
                entries.append((enc, top.values.cpu(), top.indices.cpu()))
        self.buffer.add(gather_objects(entries), module.task_index or 0)

    def state_dict(self):
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state["buffer"])
