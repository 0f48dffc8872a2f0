"""Reinforcement fine-tuning (GRPO-style) with the task's checker as the reward.

Per batch: sample G completions per prompt, each stopping where evaluation stops (the task's end
of turn or eos: `Encoder.stop_ids`), reward their text without that token as evaluation scores it
(plus an optional format term for ending with the task's end token, the one SFT trains), drop
groups that carry no signal (their rewards are all equal), turn rewards into group-relative
advantages and minimise a clipped policy-gradient loss (asymmetric clip as in DAPO), optionally
with a k3 KL penalty to a frozen copy of the policy taken at the task start.

An optimizer step is taken only once the kept groups of one or more batches reach `min_kept` of
a batch (DAPO's dynamic sampling; by default a group is kept when its rewards differ). Adam moves
every weight by about the learning rate whatever the gradient's size, and keeps moving on its momentum through steps whose gradient is zero, so
steps on one or two informative prompts (or none) random-walk the policy: that is how RFT
collapsed on tasks where the policy rarely succeeds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from cl.core.distributed import process_count, sum_over_processes
from cl.evaluation.generate import answer_budget
from cl.models.frozen import FrozenCopy, dropout_off
from cl.objectives.base import Objective, zero_loss
from cl.objectives.collapse import CollapseWatch
from cl.objectives.grpo import (
    AGGREGATIONS, FILTERS, SCALES, aggregate, clip_fraction, clipped_policy_loss, group_advantages, k3_kl, keep_groups
)
from cl.objectives.logprobs import completion_logprobs
from cl.objectives.rollout import prompt_lengths, row_tasks, sample_completions
from cl.streams.encoding import left_pad

_NO_TASK = object()  # no task seen yet (a task index may be None outside the loop)
STEP_KEYS = ("train/kl", "train/entropy", "train/clip_fraction")  # per-step logs (vs per-rollout)


@dataclass
class _Stored:
    """The kept groups of one rollout, ready for their optimization passes: one left-padded
    prompt per group, the group's completions in consecutive rows."""

    prompt_ids: torch.Tensor  # [groups, W]
    prompt_attention: torch.Tensor  # [groups, W]
    completions: torch.Tensor  # [groups x G, T]
    mask: torch.Tensor  # [groups x G, T]: the completion's tokens, its end token included
    advantages: torch.Tensor  # [groups x G]
    logs: dict
    passes_left: int
    ref_logp: torch.Tensor | None = None
    old_logp: torch.Tensor | None = None
    budget: int = 0  # the sampling budget (max new tokens) of the rollout: the constant aggregation's T

    def logprobs(self, model, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        return completion_logprobs(model, self.prompt_ids, self.prompt_attention, self.completions, self.mask, temperature)

    @staticmethod
    def restore(saved: dict, group_size: int) -> "_Stored":
        """A saved rollout; one from a checkpoint of cl before 59e7ed2 holds every row whole
        (`ids` right-padded, `prompt_lens`), and each group's prompt is taken from its first row."""
        if "ids" not in saved:
            return _Stored(**saved)
        saved = dict(saved)
        ids, lens, _ = saved.pop("ids"), saved.pop("prompt_lens"), saved.pop("attention")
        prompts = [ids[row, : int(lens[row])].tolist() for row in range(0, len(ids), group_size)]
        prompt_ids, prompt_attention = left_pad(prompts, 0, ids.device)  # pads are masked: any id will do
        return _Stored(prompt_ids, prompt_attention, **saved)

    @staticmethod
    def merge(parts: list["_Stored"], pad: int) -> "_Stored":
        """One batch of the kept groups of several rollouts: prompts left-padded and completions
        right-padded to the widest."""
        if len(parts) == 1:
            return parts[0]

        def cat(name: str, fill, width: int, left: bool = False) -> torch.Tensor:
            xs = [getattr(p, name) for p in parts]
            pads = [x.new_full((len(x), width - x.shape[1]), fill) for x in xs]
            return torch.cat([torch.cat([f, x] if left else [x, f], 1) for x, f in zip(xs, pads)])

        W = max(p.prompt_ids.shape[1] for p in parts)
        T = max(p.completions.shape[1] for p in parts)
        ref = cat("ref_logp", 0.0, T) if parts[0].ref_logp is not None else None
        return _Stored(
            cat("prompt_ids", pad, W, left=True), cat("prompt_attention", 0, W, left=True),
            cat("completions", pad, T), cat("mask", False, T), torch.cat([p.advantages for p in parts]),
            parts[-1].logs, parts[-1].passes_left, ref, budget=max(p.budget for p in parts),
        )  # fmt: skip


class RFT(Objective):
    """GRPO-style reinforcement fine-tuning on the current task's checker.

    Each rollout is used for `passes` consecutive training steps (the batches of the steps
    after the first are ignored); the importance ratio is taken against the log-probabilities
    of the first pass, which equal the sampling policy's: the policy runs without dropout both
    when it samples and when it is trained (as TRL's `disable_dropout`).
    """

    language_only = True  # it samples text completions

    def __init__(
        self,
        group_size: int = 8,
        max_new_tokens: int | None = 8,
        temperature: float = 1.0,
        top_p: float = 1.0,
        format_reward: float = 0.0,
        scale: str = "group",
        epsilon_low: float = 0.2,
        epsilon_high: float = 0.28,
        aggregation: str = "token",
        kl_beta: float = 0.0,
        kl_ratio_weight: bool = True,
        passes: int = 1,
        group_filter: str = "zero_variance",
        min_kept: float = 0.5,
        use_cache: bool = True,
    ) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown RFT scale '{scale}'; valid choices: {', '.join(SCALES)}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown RFT aggregation '{aggregation}'; valid choices: {', '.join(AGGREGATIONS)}")
        if group_filter not in FILTERS:
            raise ValueError(f"unknown RFT group_filter '{group_filter}'; valid choices: {', '.join(FILTERS)}")
        checks = {  # rule: (holds, the value as given)
            "group_size >= 2": (group_size >= 2, group_size),
            "max_new_tokens >= 1 or null": (max_new_tokens is None or max_new_tokens >= 1, max_new_tokens),
            "passes >= 1": (passes >= 1, passes),
            "temperature > 0": (temperature > 0, temperature),
            "0 < top_p <= 1": (0 < top_p <= 1, top_p),
            "0 <= epsilon_low < 1": (0 <= epsilon_low < 1, epsilon_low),
            "epsilon_high >= 0": (epsilon_high >= 0, epsilon_high),
            "kl_beta >= 0": (kl_beta >= 0, kl_beta),
            "0 <= min_kept <= 1": (0 <= min_kept <= 1, min_kept),
        }
        bad = [f"{rule} (got {value})" for rule, (ok, value) in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid RFT options, need: {', '.join(bad)}")
        self.group_size, self.max_new_tokens = group_size, max_new_tokens
        self.temperature, self.top_p, self.use_cache = temperature, top_p, use_cache
        self.format_reward, self.scale, self.aggregation = format_reward, scale, aggregation
        self.epsilon_low, self.epsilon_high, self.kl_beta = epsilon_low, epsilon_high, kl_beta
        self.kl_ratio_weight, self.min_kept = kl_ratio_weight, min_kept
        self.passes, self.group_filter = passes, group_filter
        self._task_index: object = _NO_TASK
        self._reference = FrozenCopy()  # the policy at the task's start (only with KL)
        self._stored: _Stored | None = None  # the rows of the last step, for its further passes
        self._pending: list[_Stored] = []  # kept rows collected for the next step
        self._idle_passes = 0  # passes to join with a zero loss (several processes, none kept here)
        self._budgets: dict = {}  # per task index, with max_new_tokens null (recomputed, not saved)
        self.watch = CollapseWatch()  # warns when the policy collapses within a task

    def loss(self, module, batch):
        """The policy loss, or None (no optimizer step on this batch) while fewer than
        `min_kept` x batch prompts with signal have been collected since the last step. With
        several processes the count is theirs together, so all step or none does; a process
        without kept rows then joins the step with a zero loss."""
        self._sync_task(module)
        if self._stored is not None and self._stored.passes_left > 0:
            self._stored.passes_left -= 1
            loss, logs = self._policy_loss(module.model, self._stored)
            return loss, {**logs, "train/stepped": 1.0}
        if self._idle_passes > 0:  # the other processes take the further passes of their rollout
            self._idle_passes -= 1
            return zero_loss(module.model), {"train/stepped": 1.0}
        kept, logs = self._rollout(module, batch)
        if kept is not None:
            self._pending.append(kept)
        groups = sum(len(p.advantages) for p in self._pending) // self.group_size
        groups = sum_over_processes(groups, module.device)
        loss, step_logs, entropy = None, {k: 0.0 for k in STEP_KEYS}, None
        if groups and groups >= self.min_kept * len(batch["input_ids"]) * process_count():
            if not self._pending:
                self._idle_passes = self.passes - 1
                loss = zero_loss(module.model)
            else:
                self._stored, self._pending = _Stored.merge(self._pending, module.tokenizer.pad_token_id), []
                self._stored.passes_left -= 1
                loss, step_logs = self._policy_loss(module.model, self._stored)
                entropy = float(step_logs["train/entropy"])
        collapsed = self.watch.update(module.task_name, float(logs["train/success_rate"]), entropy)
        return loss, {**logs, **step_logs, "train/stepped": float(loss is not None), "train/collapse": float(collapsed)}

    @property
    def warnings(self) -> list[str]:
        return self.watch.warnings

    def reference_loss(self, module, batch):
        """The policy loss on a fresh rollout of `batch` (rows rewarded by their own task's
        checker), neither stored nor counted against the current rollout's passes."""
        stored, _ = self._rollout(module, batch)
        return zero_loss(module.model) if stored is None else self._policy_loss(module.model, stored)[0]

    def _policy_loss(self, model, stored: _Stored) -> tuple[torch.Tensor, dict]:
        """Clipped policy loss (+ KL) of `model` on a rollout, and the step's logs. The first
        pass fixes the old log-probabilities; dropout is off, so they are the sampling policy's."""
        with dropout_off(model):
            logp, entropy = stored.logprobs(model, self.temperature)
        if stored.old_logp is None:
            stored.old_logp = logp.detach()
        loss = clipped_policy_loss(
            logp, stored.old_logp, stored.advantages, stored.mask,
            self.epsilon_low, self.epsilon_high, self.aggregation, stored.budget,
        )  # fmt: skip
        ratio = torch.exp(logp - stored.old_logp)
        kl = torch.zeros((), device=loss.device)
        if stored.ref_logp is not None:
            per_token = k3_kl(logp, stored.ref_logp) * (ratio if self.kl_ratio_weight else 1.0)
            kl = aggregate(per_token, stored.mask, self.aggregation, stored.budget)
            loss = loss + self.kl_beta * kl
        ratio = ratio.detach()
        clipped = clip_fraction(ratio, stored.advantages, stored.mask, self.epsilon_low, self.epsilon_high)
        entropy = aggregate(entropy, stored.mask, "token", stored.budget)
        return loss, {**stored.logs, "train/kl": kl.detach(), "train/entropy": entropy, "train/clip_fraction": clipped}

    def _sync_task(self, module) -> None:
        """On a new task: drop the stored rollout and freeze the reference policy (if KL is on)."""
        if module.task_index == self._task_index:
            return
        self._task_index, self._stored, self._pending, self._idle_passes = module.task_index, None, [], 0
        if self.kl_beta > 0:
            self._reference.take(module.model, module.trainable_names)

    def _budget(self, module) -> int:
        """`max_new_tokens`, or (null) the current task's generation budget, as in evaluation."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        if module.task_index not in self._budgets:
            self._budgets[module.task_index] = module.task.max_new_tokens or answer_budget(module.encoder, module.task)
        return self._budgets[module.task_index]

    def _rollout(self, module, batch) -> tuple[_Stored | None, dict]:
        """Sample, reward and filter: the kept rows (None if no group is kept) and the rollout's logs."""
        tok, G, budget, encoder = module.tokenizer, self.group_size, self._budget(module), module.encoder
        lens = prompt_lengths(batch["labels"])
        prompts = [row[:n] for row, n in zip(batch["input_ids"].tolist(), lens.tolist())]
        tasks = row_tasks(module, batch["task_ids"].tolist())
        stops = sorted({i for task in tasks for i in encoder.stop_ids(task)})  # as evaluation stops
        rollout = sample_completions(module.model, tok, prompts, G, budget, self.temperature, self.top_p,
                                     use_cache=self.use_cache, stop_ids=stops)  # fmt: skip
        texts = batch["prompts"]  # the checker reads the task's prompt text, not the rendered one
        correct = [tasks[i // G].check(texts[i // G], c) for i, c in enumerate(rollout.texts)]
        correct = torch.tensor(correct, device=rollout.completions.device)
        ends = torch.tensor([encoder.end_id(task) for task in tasks], device=correct.device).repeat_interleave(G)
        rewards = (correct + self.format_reward * (rollout.stop == ends).float()).view(-1, G)
        success = (correct > 0.5).view(-1, G)
        keep = keep_groups(rewards, success, self.group_filter)
        logs = {
            "train/reward": rewards.mean(),
            "train/success_rate": success.float().mean(),
            "train/completion_len": rollout.mask.sum(1).float().mean(),
            "train/filtered_share": 1.0 - keep.float().mean(),
        }
        if not keep.any():
            return None, logs
        rows = keep.repeat_interleave(G)
        kept_prompts = [p for p, k in zip(prompts, keep.tolist()) if k]
        prompt_ids, prompt_attention = left_pad(kept_prompts, tok.pad_token_id, rollout.completions.device)
        advantages = group_advantages(rewards[keep], self.scale).flatten()
        stored = _Stored(prompt_ids, prompt_attention, rollout.completions[rows], rollout.mask[rows], advantages, logs,
                         self.passes, budget=budget)  # fmt: skip
        reference = self._reference.get(module.model)
        if reference is not None:
            with torch.no_grad():
                stored.ref_logp = stored.logprobs(reference, self.temperature)[0]
        return stored, logs

    def state_dict(self):
        return {
            "task_index": None if self._task_index is _NO_TASK else self._task_index,
            "synced": self._task_index is not _NO_TASK,
            "reference": self._reference.state_dict(),
            "stored": None if self._stored is None else asdict(self._stored),
            "pending": [asdict(p) for p in self._pending],
            "idle_passes": self._idle_passes,
            "watch": self.watch.state_dict(),
        }

    def load_state_dict(self, state):
        self._task_index = state["task_index"] if state["synced"] else _NO_TASK
        self._reference.load_state_dict(state["reference"])
        self._stored = None if state["stored"] is None else _Stored.restore(state["stored"], self.group_size)
        self._pending = [_Stored.restore(p, self.group_size) for p in state["pending"]]
        self._idle_passes = state.get("idle_passes", 0)
        self.watch.load_state_dict(state["watch"])
