"""Static ConPET (Song et al., 2023): replay with the paper's dynamic sampling strategy.

The number of training batches per task stays fixed however many tasks came before (cl's
`train.steps_per_task`; nothing here adds batches), every batch holds a fixed share of old
examples, and each old example comes from a past task chosen uniformly, then uniformly within
that task, so a large past task gets no more of the batch than a small one."""
from __future__ import annotations

from cl.strategies.replay import Replay


class ConPETStatic(Replay):
    """Keeps `size_per_task` training examples of every past task (all of them with None);
    `batch_share` of each combined batch comes from memory (0.5: as many old examples as new).
    Mixing, the once-per-step draw cut like the step's batch (`module.step_share`) and the state
    are replay's; only the memory (per task) and the draw (task-uniform) differ."""

    def __init__(self, size_per_task: int | None = None, batch_share: float = 0.5, seed: int = 0):
        super().__init__(size=size_per_task, policy="per_task", batch_share=batch_share, seed=seed)

    def draw(self, n: int) -> list:
        """The step's `n` old examples: each from a past task drawn uniformly, then uniformly
        within it (with replacement)."""
        return self.buffer.sample_task_uniform(n)
