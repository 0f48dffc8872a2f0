from cl.strategies.agem import AGEM
from cl.strategies.base import Naive, Strategy
from cl.strategies.cofitune import CoFiTune
from cl.strategies.conpet import ConPETStatic
from cl.strategies.conpet_dynamic import ConPET
from cl.strategies.der import DERpp
from cl.strategies.ewc import EWC
from cl.strategies.hft import HFT
from cl.strategies.joint import Joint
from cl.strategies.lwf import LwF
from cl.strategies.olora import OLoRA
from cl.strategies.quadratic import L2
from cl.strategies.replay import Replay
from cl.strategies.reset import Reset
from cl.strategies.si import SI

__all__ = ["AGEM", "CoFiTune", "ConPET", "ConPETStatic", "DERpp", "EWC", "HFT", "Joint", "L2", "LwF", "Naive", "OLoRA", "Replay",
           "Reset", "SI", "Strategy"]
