"""Orthogonal subspace fine-tuning (OSF; Nayak et al., 2025, "Sculpting Subspaces") through peft.

`wrap` takes the SVD of every targeted weight matrix, W = U_high S_high V_high + U_low S_low V_low: the top
`effective_rank` singular directions are frozen and the rest train, full rank, as peft's factors U_low, S_low,
V_low (the layer adds U_low S_low V_low minus their starting value to W x, so the wrapped model computes the
base model's function). The factors' gradients are projected off the frozen directions (peft's hooks); that
keeps every update out of them under plain gradient steps only, since an Adam-type optimizer rescales each
coordinate after the projection. `projection=step` (the default) also projects the factors after every optimizer
step, which keeps the frozen components exact under any optimizer. Only the targeted matrices train.

Before each task after the first, the trained factors are merged into the weights (peft's merge_and_unload) and
the model is wrapped again: a new SVD of the updated weights, whose top directions now hold the earlier tasks,
with `rank_growth` more of them frozen per task (peft's advice for continual learning; its example grows the
frozen fraction 0.3, 0.5, 0.7 over three tasks). At least one direction of each matrix stays trainable.

After every task the adapter is saved in peft's format to `<run dir>/adapters/task<i>-<name>/`, relative to the
weights the task started from: `PeftModel.from_pretrained(base, task0 folder).merge_and_unload()` is the base of
task 1's folder, and so on.
"""
from __future__ import annotations

import re
import weakref
from pathlib import Path

import torch

from cl.models.adapters import NoAdapter, peft_model

PROJECTIONS = ("gradient", "step")


class OSF(NoAdapter):
    """OSF: the top singular directions of each targeted matrix frozen, training in their complement."""

    name = "osf"
    renews_parameters = True  # its trained parameters are made anew at every task (the config checks read it)

    def __init__(
        self,
        effective_rank: int | float = 0.3,
        rank_growth: int | float = 0.2,
        target_modules: list[str] | None = None,
        projection: str = "step",
        save_dir: str | Path | None = None,
    ) -> None:
        fraction = isinstance(effective_rank, float)
        if isinstance(effective_rank, bool) or not isinstance(effective_rank, (int, float)) or (
            not 0 < effective_rank < 1 if fraction else effective_rank < 1
        ):
            raise ValueError(f"effective_rank must be a number of singular directions >= 1 or a fraction of each "
                             f"matrix's smaller dimension in (0, 1), got {effective_rank!r}")  # fmt: skip
        if isinstance(rank_growth, bool) or not isinstance(rank_growth, (int, float) if fraction else int) or (
            not 0 <= rank_growth < 1 if fraction else rank_growth < 0
        ):
            kind = "a fraction in [0, 1)" if fraction else "an integer >= 0 (effective_rank is a number of directions)"
            raise ValueError(f"rank_growth must be {kind}, got {rank_growth!r}")
        if projection not in PROJECTIONS:
            raise ValueError(f"unknown projection '{projection}'; valid choices: {', '.join(PROJECTIONS)}")
        self.effective_rank, self.rank_growth, self.projection = effective_rank, rank_growth, projection
        self._directions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # OSF layer -> frozen directions
        self.target_modules = list(target_modules) if target_modules else "all-linear"  # peft: not the output layer
        super().__init__(save_dir)

    def frozen_rank(self, min_dim: int, index: int) -> int:
        """The number of top singular directions frozen in task `index` of a matrix whose smaller side is
        `min_dim`: effective_rank + index * rank_growth (of min_dim, for fractions), within [1, min_dim - 1]."""
        value = self.effective_rank + index * self.rank_growth
        rank = int(min_dim * value + 1e-9) if isinstance(self.effective_rank, float) else value  # 0.3 + 2 * 0.2
        return max(1, min(rank, min_dim - 1))

    def wrap(self, model, index: int = 0):
        """`model` wrapped by peft's OSF, with task `index`'s frozen ranks (one exact rank_pattern entry per
        targeted layer, matched as peft matches target_modules; all-linear: not the output layer)."""
        from peft import OSFConfig

        output, targets = getattr(model, "get_output_embeddings", lambda: None)(), self.target_modules
        ranks = {f"^{re.escape(n)}$": self.frozen_rank(min(m.weight.shape), index)
                 for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m is not output
                 and (targets == "all-linear" or any(n == t or n.endswith(f".{t}") for t in targets))}  # fmt: skip
        model = peft_model(model, OSFConfig(target_modules=self.target_modules, rank_pattern=ranks))
        for layer in osf_layers(model):  # peft leaves them out: a checkpoint needs them to rebuild the layer
            for buffers in (getattr(layer, n) for n in layer.other_param_names if n.startswith("_osf_")):
                buffers.persistent = True
                for key, value in buffers.items():
                    buffers.register_buffer(key, value, persistent=True)
        return model

    def before_task(self, model, index, data=None):
        """From the second task on: the factors merged into the weights and a new SVD of those, `rank_growth`
        more directions frozen (the function is unchanged)."""
        return self.wrap(model.merge_and_unload(), index) if index > 0 else model

    def restore_structure(self, model, index):
        """Task `index`'s layers (frozen ranks; the SVD buffers come with the checkpoint's weights)."""
        return self.before_task(model, index) if index else model

    def after_optimizer_step(self, model):
        """`projection=step`: each factor's component along the frozen directions removed."""
        if self.projection != "step":
            return
        with torch.no_grad():
            for layer in osf_layers(model):
                for name, factors in layer.osf_svd_params.items():
                    U_high, V_high = self._frozen_directions(layer, name)  # float32; factors in the weights' dtype
                    U_low, V_low = factors["U_low"], factors["V_low"]
                    U_low.sub_((U_high @ (U_high.T @ U_low.float())).to(U_low.dtype))
                    V_low.sub_(((V_low.float() @ V_high.T) @ V_high).to(V_low.dtype))

    def _frozen_directions(self, layer, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's frozen top singular vectors (U_high, V_high): peft's decomposition of its
        base weight, which stays as it was at the wrap during the task (after a resume too, once
        the checkpoint's weights are in), computed at the task's first step and kept per layer."""
        from peft.tuners.osf.utils import decompose_weight_matrix

        kept = self._directions.setdefault(layer, {})
        if name not in kept:
            svd = decompose_weight_matrix(layer.get_base_layer().weight, top_k=layer.effective_rank[name])
            kept[name] = (svd["U_high"].float(), svd["V_high"].float())
        return kept[name]

    def after_task(self, model, index, task_name):
        """Saves the factors as peft saves them (the SVD buffers kept for checkpoints left out: loading the
        folder retakes the SVD of the weights it is loaded onto)."""
        if self.save_dir is not None:
            factors = {k: v for k, v in model.state_dict().items() if "._osf_" not in k}
            model.save_pretrained(self.save_dir / f"task{index}-{task_name}", state_dict=factors)


def osf_layers(model: torch.nn.Module) -> list:
    """peft's OSF layers of `model`."""
    from peft.tuners.osf import OSFLayer

    return [m for m in model.modules() if isinstance(m, OSFLayer)]
