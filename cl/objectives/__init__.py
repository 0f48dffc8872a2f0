from cl.objectives.base import Objective
from cl.objectives.rft import RFT
from cl.objectives.s3ft import S3FT
from cl.objectives.sft import SFT

__all__ = ["RFT", "S3FT", "SFT", "Objective"]
