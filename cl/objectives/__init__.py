from cl.objectives.base import Objective
from cl.objectives.rft import RFT
from cl.objectives.sft import SFT

__all__ = ["RFT", "SFT", "Objective"]
