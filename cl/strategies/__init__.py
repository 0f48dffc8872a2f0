from cl.strategies.base import Naive, Strategy

__all__ = ["Naive", "Strategy"]
