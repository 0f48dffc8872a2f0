"""Learning without Forgetting (Li & Hoiem, 2016), per prediction row (cl.families: each answer
token of a language model, each example of a classifier).

Before each task after the first, a frozen copy of the model is kept; on the current task's
inputs the penalty is alpha * T^2 * KL(teacher_T || student_T) averaged over the rows (of the
whole optimizer step, whatever its micro-batches and processes), with both distributions
softened by temperature T.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.families.base import step_mean
from cl.models.frozen import FrozenCopy
from cl.strategies.base import Strategy


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), mean over rows."""
    t = F.log_softmax(teacher.float() / temperature, dim=-1)
    s = F.log_softmax(student.float() / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


UNITS = ("all", "seen")


class LwF(Strategy):
    """`units`: `all` distills every output unit (the only choice for a language model); `seen`,
    for classifiers, only the units of the classes of earlier tasks (as Avalanche's LwF)."""

    def __init__(self, alpha: float = 1.0, temperature: float = 2.0, units: str = "all") -> None:
        if units not in UNITS:
            raise ValueError(f"unknown LwF units '{units}'; choose all (every output unit) or seen (the classes of "
                             "earlier tasks: classifiers only)")  # fmt: skip
        self.alpha, self.temperature, self.units = alpha, temperature, units
        self.teacher = FrozenCopy()  # the model at the start of the current task (none for the first)
        self._seen: tuple[int, torch.Tensor] | None = None  # (task, the earlier tasks' classes), for units=seen

    @property
    def classifier_only(self) -> bool:
        return self.units == "seen"

    def on_task_start(self, module, index, task):
        if index > 0:
            self.teacher.take(module.model, module.trainable_names)

    def penalty(self, module, batch):
        teacher_model = self.teacher.get(module.model)
        if teacher_model is None or self.alpha == 0:
            return None
        family = module.family
        with torch.no_grad():
            teacher = family.rows(family.forward(teacher_model, batch), batch)[0]
        student = family.rows(module.logits(batch), batch)[0]
        if self.units == "seen":
            seen = self._seen_classes(module, student.device)
            student, teacher = student[:, seen], teacher[:, seen]
        return step_mean(self.alpha * distillation(student, teacher, self.temperature), module, batch)

    def _seen_classes(self, module, device) -> torch.Tensor:
        """The classes of the tasks before the current one (worked out once per task)."""
        if self._seen is None or self._seen[0] != module.task_index or self._seen[1].device != device:
            classes = sorted({c for i, t in module.seen_tasks.items() if i != module.task_index for c in t.classes})
            self._seen = (module.task_index, torch.tensor(classes, device=device))
        return self._seen[1]

    def state_dict(self):
        return {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state):
        self.teacher.load_state_dict(state["teacher"])
