from cl.streams.builtin import RULES, make_task
from cl.streams.files import file_task
from cl.streams.task import Example, Stream, Task, TaskDataError

__all__ = ["RULES", "Example", "Stream", "Task", "TaskDataError", "file_task", "make_task"]
