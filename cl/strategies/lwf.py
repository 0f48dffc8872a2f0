"""Learning without Forgetting (Li & Hoiem, 2016), per answer token for language models.

Before each task after the first, a frozen copy of the model is kept; on the current task's
inputs the penalty is alpha * T^2 * KL(teacher_T || student_T) averaged over answer tokens,
with both distributions softened by temperature T.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.models.frozen import FrozenCopy
from cl.strategies.base import Strategy
from cl.streams.encoding import IGNORE


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """Mask over logits[:, :-1]: positions whose next token is an answer token."""
    return labels[:, 1:] != IGNORE


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), mean over rows."""
    t = F.log_softmax(teacher.float() / temperature, dim=-1)
    s = F.log_softmax(student.float() / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


class LwF(Strategy):
    def __init__(self, alpha: float = 1.0, temperature: float = 2.0) -> None:
        self.alpha, self.temperature = alpha, temperature
        self.teacher = FrozenCopy()  # the model at the start of the current task (none for the first)

    def before_task(self, module, index, task):
        if index > 0:
            self.teacher.take(module.model, module.trainable_names)

    def penalty(self, module, batch):
        teacher_model = self.teacher.get(module.model)
        if teacher_model is None or self.alpha == 0:
            return None
        with torch.no_grad():
            teacher = teacher_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        mask = answer_positions(batch["labels"])
        student = module.logits(batch)[:, :-1][mask]
        return self.alpha * distillation(student, teacher[:, :-1][mask], self.temperature)

    def state_dict(self):
        return {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state):
        self.teacher.load_state_dict(state["teacher"])
