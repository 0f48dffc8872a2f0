from cl.streams.builtin import RULES, make_task
from cl.streams.task import Example, Stream, Task

__all__ = ["RULES", "Example", "Stream", "Task", "make_task"]
