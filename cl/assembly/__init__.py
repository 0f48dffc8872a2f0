"""Config to parts: checks before any work, tasks, model, loop, run folders, outputs, the experiment that runs them."""
