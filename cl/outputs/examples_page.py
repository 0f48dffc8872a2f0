"""examples.html: a run's per-example records (cl.outputs.examples) as one static page, written
at the end of the run beside examples/: no external resource, it opens from disk offline.

Per task (R's column order): its counts of outcomes (cl.evaluation.example_events), then a table
of its examples: id, outcome, forgetting events, prompt, gold, then one column per row of R with
the example's text and score (<i>) at that row, side by side; the task's first row's cell has
class "learned", the last row's class "final". Each example's <tr> carries data-example,
data-outcome and data-events (its task: the enclosing <section data-task>). The markup is kept
lean because the page repeats it for every example and row: one cell per text, and the end tags
HTML lets a page omit (</td> before the next cell, </tr> before the next row) are omitted.
Select boxes filter by task and outcome (a few lines of inline JavaScript); without JavaScript
the page lists every example. The most telling outcomes come first: forgotten, relearned,
learned_later, never_learned, kept.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from cl.core.files import write_text
from cl.evaluation.example_events import MEANINGS, OUTCOMES

ORDER = ("forgotten", "relearned", "learned_later", "never_learned", "kept")  # the table's order

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}
td.n{text-align:right}
code{white-space:pre-wrap;background:#f4f4f4}
tbody td{white-space:pre-wrap;font-family:ui-monospace,monospace;max-width:28em}
td i{display:block;color:#555;font:90% system-ui,sans-serif}
td.learned{background:#eef6ee}td.final{background:#f6eeee}td.learned.final{background:#f2f2e6}
td.prompt div{max-height:8em;overflow:auto}
th i{font-style:normal;font-weight:normal;color:#555}
[data-outcome=forgotten] .o{color:#b00020;font-weight:600}[data-outcome=relearned] .o{color:#a05a00}
[data-outcome=kept] .o{color:#1b6e20}[data-outcome=learned_later] .o{color:#1d4f91}[data-outcome=never_learned] .o{color:#666}
em{color:#999}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em}
#filters{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ddd}
"""

SCRIPT = """
var T=document.getElementById("ft"),O=document.getElementById("fo"),N=document.getElementById("shown");
function apply(){var n=0;
document.querySelectorAll("tr[data-example]").forEach(function(r){
var t=r.closest("section").dataset.task,on=(!T.value||t==T.value)&&(!O.value||r.dataset.outcome==O.value);
r.hidden=!on;n+=on?1:0;});
document.querySelectorAll("section[data-task]").forEach(function(s){s.hidden=!!T.value&&s.dataset.task!=T.value;});
N.textContent=n+" examples shown";}
T.onchange=O.onchange=apply;document.getElementById("filters").hidden=false;apply();
"""


def _cell(text: str | None, score: float, cls: str) -> str:
    shown = "<em>(text not kept)</em>" if text is None else escape(text)
    return f"<td{cls}>{shown}<i>{score:.2f}</i>"


def _task_section(run, task) -> list[str]:
    counts = task.counts()
    head = [f'<section data-task="{escape(task.name)}">',
            f"<h2>{escape(task.name)}</h2>"]  # fmt: skip
    if counts is None:
        return head + [f"<p>No outcomes: the run stopped before row {task.first}, this task's first.</p>", "</section>"]
    first, last = run.rows.index(task.first), len(run.rows) - 1
    where = f"from row {task.first}, right after its training" if task.first else "held out: from row 0, before training"
    head.append(f"<p>{counts['examples']} examples ({where}): learned {counts['learned']} (kept {counts['kept']}, "
                f"relearned {counts['relearned']}, forgotten {counts['forgotten']}), learned_later "
                f"{counts['learned_later']}, never_learned {counts['never_learned']}; "
                f"{counts['forgetting_events']} forgetting events.</p>")  # fmt: skip
    marks = {first: " (learned at)", last: " (final)"} if first != last else {first: " (learned at, final)"}
    classes = {first: "learned", last: "final"} if first != last else {first: "learned final"}
    columns = "".join(f"<th>row {r}{marks.get(j, '')}<br><i>{escape(run.row_name(r))}</i></th>"
                      for j, r in enumerate(run.rows))  # fmt: skip
    head.append("<table><thead><tr><th>example</th><th>outcome</th><th>forgetting events</th><th>prompt</th>"
                f"<th>gold</th>{columns}</tr></thead><tbody>")  # fmt: skip
    cls = [f' class="{classes[j]}"' if j in classes else "" for j in range(len(run.rows))]
    for i in sorted(range(len(task.examples)), key=lambda i: (ORDER.index(task.outcomes[i]), task.examples[i])):
        example, outcome, events = task.examples[i], task.outcomes[i], int(task.events[i])
        every = "".join(_cell(task.texts[j][i], task.scores[j, i], cls[j]) for j in range(len(run.rows)))
        head.append(f'<tr data-example="{example}" data-outcome="{outcome}" data-events="{events}"><td>{example}'
                    f'<td class="o">{outcome}<td>{events}<td class="prompt"><div>{escape(task.prompts[i])}</div>'
                    f'<td class="gold">{escape(task.answers[i])}{every}</tr>')  # fmt: skip
    return head + ["</tbody></table>", "</section>"]


def write_examples_page(run_dir: Path, trained: list[str] | None = None) -> Path:
    """Write <run_dir>/examples.html from <run_dir>/examples/ (see the module's docstring);
    `trained`: the training order (default: results.json's)."""
    from cl.outputs.example_report import load_examples

    run = load_examples(run_dir, trained)
    rows = ", ".join(f"{r} ({run.row_name(r)})" for r in run.rows)
    body = [f"<h1>Examples of {escape(run.folder.name)}</h1>",
            f"<p>Run folder <code>{escape(str(run.folder.resolve()))}</code>. Rows of R: {escape(rows)}. "
            f"An example is right at a row when its score is at least {run.correct_at:g}; its outcome counts "
            "from its task's first row: the row right after the task was trained (row 0 for a held-out task).</p>"]  # fmt: skip
    if run.texts_dropped_from is not None:
        body.append(f'<p class="warn">Texts were dropped from row {run.texts_dropped_from} on: the records passed '
                    f"eval.examples.max_mb={run.max_mb:g}, so those rows keep the scores alone.</p>")  # fmt: skip
    body += ["<ul>", *(f"<li><b>{k}</b>: {MEANINGS[k]}</li>" for k in OUTCOMES),
             "<li><b>forgetting events</b>: right-to-wrong changes between consecutive rows from the first</li>",
             "</ul>"]  # fmt: skip
    body.append('<table class="counts"><thead><tr><th>task</th><th>first row</th><th>examples</th><th>learned</th>'
                + "".join(f"<th>{k}</th>" for k in OUTCOMES) + "<th>forgetting events</th></tr></thead><tbody>")  # fmt: skip
    for name, task in run.per_task.items():
        counts = task.counts()
        if counts is not None:
            cells = "".join(f'<td class="n" data-count="{k}">{counts[k]}</td>'
                            for k in ("examples", "learned", *OUTCOMES, "forgetting_events"))  # fmt: skip
            name = escape(name)
            body.append(f'<tr data-counts="{name}"><td>{name}</td><td class="n">{task.first}</td>{cells}</tr>')
    body.append("</tbody></table>")
    tasks = "".join(f'<option value="{escape(t)}">{escape(t)}</option>' for t in run.tasks)
    outcomes = "".join(f'<option value="{k}">{k}</option>' for k in ORDER)
    body.append('<div id="filters" hidden>'
                f'<label>task <select id="ft"><option value="">all</option>{tasks}</select></label> '
                f'<label>outcome <select id="fo"><option value="">all</option>{outcomes}</select></label> '
                '<span id="shown"></span></div>')  # fmt: skip
    for task in run.per_task.values():
        body += _task_section(run, task)
    page = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
            f"<title>Examples: {escape(run.folder.name)}</title><style>{STYLE}</style></head><body>",
            *body, f"<script>{SCRIPT}</script>", "</body></html>"]  # fmt: skip
    path = run.folder / "examples.html"
    write_text(path, "\n".join(page) + "\n")
    return path
