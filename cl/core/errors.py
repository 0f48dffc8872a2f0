"""The errors that end a run with a message: bad user input, and training that diverged."""


class ConfigError(ValueError):
    """Bad user input, reported before anything is built or written."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite: the run cannot go on."""

    def __init__(self, task: str, step: int, loss: float) -> None:
        super().__init__(f"the loss is {loss} in task '{task}' at step {step}: training diverged "
                         "(a learning rate too high for this model is the usual cause)")  # fmt: skip
        self.task, self.step = task, step
