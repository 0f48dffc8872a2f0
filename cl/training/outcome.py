"""What the loop measured, as the `Outcome` of the run_end event (cl.core.events)."""
from __future__ import annotations

from cl.core.events import FINISHED, Outcome
from cl.evaluation.example_events import point_events, stream_events
from cl.evaluation.matrix import all_metrics
from cl.evaluation.stability import stability_metrics


def outcome(loop, state: str, merges: list[dict] = (), failure: dict | None = None) -> Outcome:
    """The rows of R `loop` has filled, with their general columns, points, timing and
    warnings; a finished run's metrics: those of R, the last general columns and, with
    continual evaluation, the stability metrics."""
    rows, general = loop.R[: loop.rows_done], loop.general_columns()
    metrics = {}
    if state == FINISHED:
        metrics = {**all_metrics(rows), **{name: values[-1] for name, values in general.items()}}
        if loop.points:
            metrics.update(stability_metrics(loop.points, loop.plan.eval_window))
    module, names = loop.module, [t.name for t in loop.stream.eval_tasks]
    events, at_points = {}, {}
    if loop.example_scores:  # eval.examples.save
        events = stream_events(loop.example_scores[: loop.rows_done], names, loop.stream.names, loop.plan.examples_correct_at)
        at_points = point_events(loop.points, loop.stream.names, loop.plan.examples_correct_at)
    return Outcome(state, names, loop.stream.names, rows, metrics, general,
                   list(loop.points), dict(loop.timing), list(loop.resumed), module.objective.warnings,
                   module.family.truncated, list(merges), failure, module.objective.report,
                   dict(module.cost), events, at_points)  # fmt: skip
