"""Within-task collapse of an RL policy, detected while it trains.

A policy that collapses stops succeeding on the task it is trained on (the success rate of its
rollouts falls) or stops exploring while it still fails (the entropy of its tokens falls), and
the forgetting it then shows is that of a model that no longer works. The watch compares the
mean of the last `window` rollouts of a task with the mean of its first `window`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("cl")


@dataclass
class CollapseWatch:
    """Warns (once per task and kind) when, over the last `window` rollouts of a task:
    - the success rate is below `success_drop` times that of the task's first `window`
      rollouts (which had at least `min_success`), or
    - the mean token entropy is below `entropy_drop` times that of the first `window`
      rollouts while the success rate is below `solved`."""

    window: int = 10
    success_drop: float = 0.5
    entropy_drop: float = 0.1
    min_success: float = 0.05
    solved: float = 0.9
    warnings: list[str] = field(default_factory=list)
    _task: str | None = None
    _success: list[float] = field(default_factory=list)
    _entropy: list[float] = field(default_factory=list)
    _fired: set[str] = field(default_factory=set)

    def update(self, task: str, success: float, entropy: float | None) -> bool:
        """Record one rollout of `task`; True once a warning has been given in this task."""
        if task != self._task:
            self._task, self._success, self._entropy, self._fired = task, [], [], set()
        self._success.append(success)
        if entropy is not None:
            self._entropy.append(entropy)
        w = self.window
        if len(self._success) >= 2 * w:
            first, last = _mean(self._success[:w]), _mean(self._success[-w:])
            if first >= self.min_success and last < self.success_drop * first:
                self._warn("success", f"the success rate of task '{task}' collapsed from {first:.3f} "
                                      f"(first {w} rollouts) to {last:.3f} (last {w})")  # fmt: skip
            if len(self._entropy) >= 2 * w:
                h0, h1 = _mean(self._entropy[:w]), _mean(self._entropy[-w:])
                if h1 < self.entropy_drop * h0 and last < self.solved:
                    self._warn("entropy", f"the policy entropy in task '{task}' collapsed from {h0:.3f} to {h1:.3f} "
                                          f"while its success rate is {last:.3f}")  # fmt: skip
        return bool(self._fired)

    def _warn(self, kind: str, message: str) -> None:
        if kind in self._fired:
            return
        self._fired.add(kind)
        self.warnings.append(message)
        log.warning("RFT: %s: the policy no longer learns this task (try a lower learning rate)", message)

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("warnings", "_task", "_success", "_entropy", "_fired")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
