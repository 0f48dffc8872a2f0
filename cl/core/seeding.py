"""Seeds and random states: per-purpose seeds that do not depend on a task's position, and the
global generators a run draws from, saved with checkpoints and put back on resume (numpy and
torch are imported when needed: the streams use the seeds without them)."""
from __future__ import annotations

import hashlib
import random
from typing import Any


def task_seed(seed: int, name: str) -> int:
    """A per-task seed that does not depend on the task's position in the stream."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")


def rng_state() -> dict[str, Any]:
    """Every global random generator a run draws from: Python's, NumPy's, torch's (CPU, CUDA)."""
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
