"""Within-task collapse of an RL policy, detected while it trains.

A policy that collapses stops succeeding on the task it is trained on (the success rate of its
rollouts falls) or stops exploring while it still fails (the entropy of its tokens falls), and
the forgetting it then shows is that of a model that no longer works. The watch compares the
mean of the last `window` rollouts of a task with the mean of its first `window`. A dip the
policy recovers from within the task is warned about when it happens; the recorded warning
then says that it recovered, with the figure of the task's last `window` rollouts.

It also warns when the policy has had almost no success in a task from its start: RFT learns
only from groups with a success, so such a task (one the earlier tasks erased, or one the model
never could do) is barely trained at all.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("cl")
NOT_LEARNING = "the policy is not learning this task (if it persists, try a lower learning rate)"
NO_SIGNAL = ("RFT learns only from groups with a success, so it barely trains on this task (a base stage, SFT "
             "first, or more completions per prompt give it successes to learn from)")


@dataclass
class CollapseWatch:
    """Warns (once per task and kind) when, over the last `window` rollouts of a task:
    - the success rate is below `success_drop` times that of the task's first `window`
      rollouts (which had at least `min_success`), or
    - the mean token entropy is below `entropy_drop` times that of the first `window`
      rollouts while the success rate is below `solved`, or
    - the success rate is below `min_success` over both the first and the last `window`
      rollouts (no signal to learn from)."""

    window: int = 10
    success_drop: float = 0.5
    entropy_drop: float = 0.1
    min_success: float = 0.05
    solved: float = 0.9
    _fired_warnings: list[dict] = field(default_factory=list)  # task, kind, message, first-window figure
    _latest: dict[str, dict] = field(default_factory=dict)  # per task: its last window's means
    _task: str | None = None
    _success: list[float] = field(default_factory=list)
    _entropy: list[float] = field(default_factory=list)

    def update(self, task: str, success: float, entropy: float | None) -> bool:
        """Record one rollout of `task`; True once a warning has been given in this task."""
        if task != self._task:
            self._task, self._success, self._entropy = task, [], []
        self._success.append(success)
        if entropy is not None:
            self._entropy.append(entropy)
        w = self.window
        if len(self._success) >= 2 * w:
            first, last = _mean(self._success[:w]), _mean(self._success[-w:])
            latest = self._latest.setdefault(task, {})
            latest["success"] = last
            if self._collapsed("success", first, latest):
                self._warn(task, "success", f"the success rate of task '{task}' collapsed from {first:.3f} "
                                            f"(first {w} rollouts) to {last:.3f} (last {w})", first=first)  # fmt: skip
            if self._collapsed("no_signal", first, latest):
                self._warn(task, "no_signal", f"in task '{task}' the policy solved {first:.3f} of its sampled completions "
                                              f"over the first {w} rollouts and {last:.3f} over the last {w}", first=first)  # fmt: skip
            if len(self._entropy) >= 2 * w:
                h0, h1 = _mean(self._entropy[:w]), _mean(self._entropy[-w:])
                latest["entropy"] = h1
                if self._collapsed("entropy", h0, latest):
                    self._warn(task, "entropy", f"the policy entropy in task '{task}' collapsed from {h0:.3f} to "
                                                f"{h1:.3f} while its success rate is {last:.3f}", first=h0)  # fmt: skip
        return bool(self._kinds_fired(task))

    def _collapsed(self, kind: str, first: float, latest: dict) -> bool:
        """Whether the last window (`latest`: its success rate and entropy) has collapsed against
        the first window's figure `first` of that kind."""
        if kind == "success":
            return first >= self.min_success and latest["success"] < self.success_drop * first
        if kind == "no_signal":
            return first < self.min_success and latest["success"] < self.min_success
        return latest["entropy"] < self.entropy_drop * first and latest["success"] < self.solved

    @property
    def warnings(self) -> list[str]:
        """Every warning given, each saying whether its task recovered by its last rollouts."""
        return [w["message"] + self._recovery(w) for w in self._fired_warnings]

    def _recovery(self, warning: dict) -> str:
        latest = self._latest.get(warning["task"])
        if latest is None or self._collapsed(warning["kind"], warning["first"], latest):
            return ""  # still collapsed (or restored from a checkpoint that did not keep the figures)
        figures = f"entropy {latest['entropy']:.3f}, " if warning["kind"] == "entropy" else ""
        return f"; it recovered: {figures}success rate {latest['success']:.3f} over the task's last {self.window} rollouts"

    def _kinds_fired(self, task: str) -> set[str]:
        return {w["kind"] for w in self._fired_warnings if w["task"] == task}

    def _warn(self, task: str, kind: str, message: str, first: float) -> None:
        if kind in self._kinds_fired(task):
            return
        self._fired_warnings.append({"task": task, "kind": kind, "message": message, "first": first})
        log.warning("RFT: %s: %s", message, NO_SIGNAL if kind == "no_signal" else NOT_LEARNING)

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("_fired_warnings", "_latest", "_task", "_success", "_entropy")}

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        state.pop("_fired", None)  # checkpoints before dc314fc kept the kinds fired in the task apart
        if "warnings" in state:  # a checkpoint of cl before 8c8fc6e: the messages alone
            state["_fired_warnings"] = [{"task": None, "kind": None, "message": m} for m in state.pop("warnings")]
        for k, v in state.items():
            setattr(self, k, v)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
