"""The errors that end a run with a message: bad user input, training that diverged, and a run
that resume=auto finds already finished."""


class ConfigError(ValueError):
    """Bad user input, reported before anything is built or written."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite: the run cannot go on."""

    def __init__(self, task: str, step: int, loss: float) -> None:
        super().__init__(f"the loss is {loss} in task '{task}' at step {step}: training diverged "
                         "(a learning rate too high for this model is the usual cause)")  # fmt: skip
        self.task, self.step = task, step


class RunFinished(Exception):
    """resume=auto found a finished run of the same config: there is nothing to run."""

    def __init__(self, folder) -> None:
        super().__init__(f"resume=auto: {folder} holds a finished run of this config; nothing to run "
                         "(start it again without resume=auto to train it anew)")  # fmt: skip
        self.folder = folder
