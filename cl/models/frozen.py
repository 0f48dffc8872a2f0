"""Frozen copies of a model: LwF's teacher and RFT's KL reference.

When training changes only some parameters (an adapter's), the copy keeps only those: it runs
the live model with the stored values in their place (`torch.func.functional_call`), so a
135M-parameter model with a LoRA adapter is not copied whole.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch.func import functional_call


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no parameter requiring grad."""
    return copy.deepcopy(model).eval().requires_grad_(False)


@contextmanager
def dropout_off(model: torch.nn.Module):
    """Within the block, `model` runs without dropout, as in eval mode, while gradients still
    flow; modules that checkpoint gradients stay in train mode, which they need to do so. Each
    module's mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    for m, _ in modes:
        if not getattr(m, "gradient_checkpointing", False):
            m.training = False
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class WithWeights(torch.nn.Module):
    """The live model, run without gradient or dropout with other values for some of its
    parameters; the live model itself is left as it is."""

    def __init__(self, live: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        object.__setattr__(self, "live", live)  # not a submodule: its parameters stay the live model's
        self.weights = weights

    @torch.no_grad()
    def forward(self, *args, **kwargs):
        with dropout_off(self.live):
            return functional_call(self.live, self.weights, args, kwargs)


class FrozenCopy:
    """A frozen copy of a model that is saved and restored as weights alone.

    `take(model, names)` freezes the live model as it is now: a whole copy, or with `names` (the
    parameters training changes, fewer than all) just those. After `load_state_dict` the copy
    is rebuilt at its next `get(model)` from the live model and the stored weights, so a
    strategy or objective restored before any model exists still gets its copy back.
    """

    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self._state: dict | None = None  # restored, not yet rebuilt

    def take(self, model: torch.nn.Module, names: list[str] | None = None) -> None:
        params = dict(model.named_parameters())
        self._state = None
        if names is None or set(names) >= set(params):
            self.model = frozen_copy(model)
        else:
            self.model = WithWeights(model, {n: params[n].detach().clone() for n in names})

    def clear(self) -> None:
        self.model, self._state = None, None

    def get(self, live: torch.nn.Module) -> torch.nn.Module | None:
        """The copy on `live`'s device (None if nothing was taken)."""
        if self._state is not None:
            if self._state["whole"]:
                self.model = frozen_copy(live)
                self.model.load_state_dict(self._state["weights"])
            else:
                self.model = WithWeights(live, self._state["weights"])
            self._state = None
        if self.model is None:
            return None
        device = next(live.parameters()).device
        if isinstance(self.model, WithWeights):
            self.model.live = live
            if any(w.device != device for w in self.model.weights.values()):
                self.model.weights = {n: w.to(device) for n, w in self.model.weights.items()}
        elif next(self.model.parameters()).device != device:
            self.model.to(device)
        return self.model

    def state_dict(self) -> dict | None:
        if self._state is not None:
            return self._state
        if self.model is None:
            return None
        if isinstance(self.model, WithWeights):
            return {"whole": False, "weights": self.model.weights}
        return {"whole": True, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict | None) -> None:
        self.model, self._state = None, state
