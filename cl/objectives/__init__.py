from cl.objectives.base import Objective
from cl.objectives.sft import SFT

__all__ = ["SFT", "Objective"]
