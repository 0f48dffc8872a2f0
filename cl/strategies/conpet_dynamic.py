"""Dynamic ConPET (Song et al., 2023): one LoRA adapter per task, frozen once its task is done,
and a selector that picks each input's adapter at evaluation.

Task i trains only its adapter, which alone runs in its training steps (the paper's teacher
forcing of the true adapter), so the main step is plain LoRA training of that adapter. The
selector is a linear head over the tasks seen, on the frozen base model's prompt feature (the
mean over the prompt's tokens of its last hidden state, adapters off), trained on task identity
with its own optimizer: after every optimizer step of task i >= 1, one Adam step of
cross-entropy on the step batch's features (labelled with their task) and on a memory of
`selector_memory` prompt features of every earlier task, each task weighing the same. The main
step's loss, gradients and optimizer are untouched.

At evaluation each prompt's adapter is chosen from its prompt before anything runs on it; every
row of the batch then runs its own adapter (peft's mixed-batch LoRA forward), in a
teacher-forced pass and in generation's prompt pass and decode steps alike.
"""
from __future__ import annotations

import copy
import functools
import random
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from cl.core.distributed import gather_objects
from cl.core.seeding import task_seed
from cl.streams.encoding import IGNORE, left_pad_positions, to_device
from cl.strategies.task_adapters import AdapterPerTask

FEATURE_BATCH = 32  # prompts per forward when the memory's features are computed


@contextmanager
def eval_mode(model: torch.nn.Module):
    """The model in eval mode within the block (no dropout), its modules' modes put back after."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


@torch.no_grad()
def prompt_features(model, batch: dict) -> torch.Tensor:
    """Per row, the mean over its prompt tokens (attended and unlabelled: all attended ones in a
    batch without labels, generation's left-padded prompts) of the base model's last hidden
    state, adapters off and in eval mode: [rows, hidden], float32 on the CPU. Positions count
    from each row's first token, so left and right padding give the same feature."""
    attention = batch["attention_mask"]
    prompt = attention.bool() & (batch["labels"] == IGNORE) if "labels" in batch else attention.bool()
    width = int(prompt.any(0).nonzero().max()) + 1  # the answers after the prompts need no pass
    ids, attention, prompt = batch["input_ids"][:, :width], attention[:, :width], prompt[:, :width]
    with model.disable_adapter(), eval_mode(model):
        hidden = model.get_base_model().base_model(input_ids=ids, attention_mask=attention, use_cache=False,
                                                   position_ids=left_pad_positions(attention)).last_hidden_state  # fmt: skip
    weights = prompt.unsqueeze(-1).float()
    return ((hidden.float() * weights).sum(1) / weights.sum(1).clamp_min(1)).cpu()


@contextmanager
def routed(model, adapter_names: list[str]):
    """Within the block, every call of the PeftModel `model` and of its `generate()` runs row i
    through adapter `adapter_names[i]` (peft's mixed-batch inference, its `adapter_names`
    argument), in every decode step too."""
    own = {name: model.__dict__[name] for name in ("forward", "generate") if name in model.__dict__}
    model.forward = functools.partial(model.forward, adapter_names=adapter_names)
    model.generate = functools.partial(model.generate, adapter_names=adapter_names)
    try:
        yield
    finally:
        for name in ("forward", "generate"):
            if name in own:
                setattr(model, name, own[name])
            else:
                delattr(model, name)


class ConPET(AdapterPerTask):
    """`selector_memory`: prompts kept per finished task to train the selector on (their
    features); `selector_lr`: the selector's Adam learning rate; `top_k`: adapters per prompt
    (1: a generated answer comes from one adapter); `seed`: the new adapters' initialisation
    and the memory's draw."""

    routes_evaluation = True
    tag = "conpet"

    def __init__(self, selector_memory: int = 200, selector_lr: float = 1e-3, top_k: int = 1, seed: int = 0) -> None:
        if top_k != 1:
            raise ValueError(f"top_k={top_k}: each prompt is answered by one adapter (the paper's top-k combines "
                             "classifiers' label scores, which generation has no counterpart of): use top_k=1")  # fmt: skip
        if selector_memory < 1:
            raise ValueError(f"selector_memory={selector_memory}: keep at least 1 prompt per task")
        if not selector_lr > 0:
            raise ValueError(f"selector_lr={selector_lr} must be positive")
        super().__init__(seed)
        self.memory_size, self.lr = selector_memory, selector_lr
        self.memory: list[torch.Tensor] = []  # per finished task: its prompts' features [n, hidden]
        self.weight: torch.Tensor | None = None  # the selector: [tasks, hidden] and [tasks]
        self.bias: torch.Tensor | None = None
        self.optimizer: torch.optim.Adam | None = None  # made anew when the selector grows (a task's first step)

    def running(self, name: str) -> list[str]:
        """Only the adapter being trained runs in its task (teacher forcing of the true adapter)."""
        return [name]

    # -- the selector ---------------------------------------------------------------------------
    def after_optimizer_step(self, module, batch):
        """One selector step on the step batch's prompts (those of every process) and the memory,
        once two tasks are seen."""
        if len(self.adapters) < 2:
            return
        features = torch.cat(gather_objects([prompt_features(module.model, batch)]))
        labels = torch.cat(gather_objects([batch["task_ids"].cpu()]))
        labels = torch.where(labels < 0, len(self.adapters) - 1, labels)  # rows without a task: the current one
        self._grow(len(self.adapters), features.shape[1])
        x = torch.cat([features, *self.memory])
        y = torch.cat([labels, *(torch.full((len(m),), j) for j, m in enumerate(self.memory))])
        counts = torch.bincount(y, minlength=len(self.weight)).float()
        with torch.enable_grad():
            loss = (F.cross_entropy(x @ self.weight.T + self.bias, y, reduction="none") / counts[y]).sum()
            self.optimizer.zero_grad()
            (loss / (counts > 0).sum()).backward()
        self.optimizer.step()

    def _grow(self, tasks: int, hidden: int) -> None:
        """A selector over `tasks` tasks: new rows start at zero, with a fresh optimizer."""
        if self.weight is not None and len(self.weight) == tasks:
            return
        old = self.weight.detach() if self.weight is not None else torch.zeros(0, hidden)
        old_bias = self.bias.detach() if self.bias is not None else torch.zeros(0)
        new = tasks - len(old)
        self._set(torch.cat([old, torch.zeros(new, hidden)]), torch.cat([old_bias, torch.zeros(new)]))

    def _set(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.weight, self.bias = weight.clone().requires_grad_(), bias.clone().requires_grad_()
        self.optimizer = torch.optim.Adam([self.weight, self.bias], lr=self.lr)

    def after_task(self, module, index, task):
        """Keep the features of `selector_memory` of the task's training prompts, drawn by the seed."""
        picked = random.Random(task_seed(self.seed, f"conpet:{task.name}")).sample(
            range(len(task.train)), min(self.memory_size, len(task.train)))  # fmt: skip
        items = module.family.encode(task, [task.train[k] for k in picked], index)
        device = next(module.model.parameters()).device
        chunks = [items[s : s + FEATURE_BATCH] for s in range(0, len(items), FEATURE_BATCH)]
        self.memory.append(torch.cat([prompt_features(module.model, to_device(module.family.collate(c), device))
                                      for c in chunks]))  # fmt: skip

    def choose(self, features: torch.Tensor) -> torch.Tensor:
        """Each row's task (adapter index): the selector's top-1 (task 0 before it has trained)."""
        if self.weight is None:
            return torch.zeros(len(features), dtype=torch.long)
        with torch.no_grad():
            return (features @ self.weight.T + self.bias).argmax(1)

    # -- evaluation: every row runs its chosen adapter ----------------------------------------------
    @contextmanager
    def evaluating(self, module, batch, column):
        """Route each row to the adapter the selector picks from its prompt; for a trained task's
        column, log the share routed to its own adapter as `conpet/selector_acc/<task>`."""
        if not self.adapters:  # before the first task: the model as built
            yield
            return
        chosen = self.choose(prompt_features(module.model, batch))
        if column in module.seen_tasks:
            weight = 0 if batch.get("padding", False) else len(chosen)  # a padding batch counts nothing
            module.log(f"conpet/selector_acc/{module.seen_tasks[column].name}", (chosen == column).float().mean(),
                       batch_size=weight, on_epoch=True, add_dataloader_idx=False, sync_dist=True)  # fmt: skip
        with routed(module.model, [self.adapters[c] for c in chosen.tolist()]):
            yield

    def state_dict(self):
        selector = None if self.weight is None else {
            "weight": self.weight.detach().clone(), "bias": self.bias.detach().clone(),
            "optimizer": copy.deepcopy(self.optimizer.state_dict())}  # fmt: skip
        return {"adapters": list(self.adapters), "memory": [m.clone() for m in self.memory], "selector": selector}

    def load_state_dict(self, state):
        self.adapters, self.memory = list(state["adapters"]), [m.clone() for m in state["memory"]]
        self.weight = self.bias = self.optimizer = None
        if state["selector"] is not None:
            self._set(state["selector"]["weight"], state["selector"]["bias"])
            self.optimizer.load_state_dict(state["selector"]["optimizer"])
