"""Config to parts: checks before any work, tasks, model, loop, run folders, outputs, the experiment that runs them."""

from cl.assembly import resolvers  # noqa: F401  (registers the configs' resolvers)
