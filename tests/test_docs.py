"""The docs can fail: the site builds with --strict, the getting-started commands run as written,
and every config key a page names exists in conf/."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from tests.helpers import cl_env
from tests.preloaded import run_module

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
QUICK = ["train.steps_per_task=10", "trainer.enable_progress_bar=false"]  # 10: train_log.csv gets its first values
SCRIPTS = {s.name: s.value.split(":")[0] for s in entry_points(group="console_scripts") if s.value.startswith("cl.cli.")}
OVERRIDE = re.compile(r"^\+{0,2}[a-z_][\w/]*(\.[\w-]+)*=\S*$")


def test_the_site_builds_with_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                          env=cl_env(tmp_path, {"NO_MKDOCS_2_WARNING": "1"}), capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "seams" / "index.html").read_text().count("cl.strategies.base.Strategy.") >= 8


# -- the commands of getting-started.md ------------------------------------------------------------
def _blocks(text: str, heading: str) -> list[str]:
    """The bash blocks of the section `heading` (up to the next heading of its level)."""
    section = text.split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _commands(block: str) -> list[list[str]]:
    """Each command of a block as argv, its trailing comment dropped."""
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip() and not line.startswith("#")]


def _run(argv: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`argv` as a shell runs it; a cl console script as its module (`python -m cl.cli.run` for
    `cl-run`: the function the script calls, from the tests' preloaded server)."""
    env = cl_env(tmp_path, {"CL_OUTPUT_DIR": str(tmp_path / "outputs"), "PATH": f"{Path(sys.executable).parent}:"
                            + cl_env(tmp_path)["PATH"]})  # fmt: skip
    if argv[0] in SCRIPTS:
        return run_module(SCRIPTS[argv[0]], argv[1:], cwd, env, timeout=900)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_getting_started_runs_as_written(tmp_path):
    """`make run` and the tour's commands, as the page (and the README) write them, with fewer
    steps appended."""
    text = (ROOT / "docs" / "getting-started.md").read_text()
    setup = [c for c in _commands(_blocks(text, "## Install and run")[0]) if c[:2] == ["make", "run"]]
    assert setup == [["make", "run"]], setup
    proc = _run(["make", "-s", "run", f"ARGS={' '.join(QUICK)} logger=none"], ROOT, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert {"results.json", "config.yaml", "accuracy_matrix.png", "train_log.csv"} <= {p.name for p in run.iterdir()}

    tour = _commands(_blocks(text, "## A five-minute tour")[0])
    assert [c[0] for c in tour] == ["cl-run", "cl-run", "cl-report", "cl-dashboard"], tour
    assert _commands(_blocks((ROOT / "README.md").read_text(), "## A five-minute tour")[0]) == tour  # the same tour
    for argv in tour:
        proc = _run(argv + (QUICK if argv[0] == "cl-run" else []), tmp_path, tmp_path)
        assert proc.returncode == 0, (argv, proc.stderr[-3000:])
    assert len(list((tmp_path / "outputs" / "runs").iterdir())) == 2  # make run's and the tour's first
    sweep = tmp_path / "tour"
    assert sorted(p.name for p in sweep.iterdir() if (p / "results.json").is_file()) == [str(i) for i in range(4)]
    report = sweep / "report"
    assert {"summary.md", "metrics.png"} <= {p.name for p in report.iterdir()}
    assert len(list(report.glob("R_*.png"))) == 2  # one mean R per strategy
    assert (sweep / "wandb_dashboard.json").is_file()


# -- config keys named in the docs ---------------------------------------------------------------------
def _groups() -> set[str]:
    return {str(d.relative_to(CONF)) for d in CONF.rglob("*") if d.is_dir() and any(d.glob("*.yaml"))}


def _user_configs(text: str) -> set[str]:
    """Configs a page writes itself (a code block's `# myconf/stream/mine.yaml`): group/name."""
    return {f"{g}/{n}" for g, n in re.findall(r"#\s*\S*?/?([\w/]+)/(\w+)\.yaml", text)}


def _named_overrides(text: str) -> list[str]:
    """`key=value` overrides on the page: in `cl-run` command lines (not those with their own
    --config-dir) and in inline code that is one override."""
    found = []
    for block in re.findall(r"```(?:bash|console)?\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip().removeprefix("$ ")
            argv = _split(line) if "cl-run" in line else []
            if argv and argv[0].endswith("cl-run") and "--config-dir" not in argv:
                found += [a for a in argv[1:] if OVERRIDE.match(a)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return found + [span for span in re.findall(r"`([^`\s]+)`", prose) if OVERRIDE.match(span)]


def _split(line: str) -> list[str]:
    """A command line as argv (by white space where its quotes do not close on the line)."""
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def _yaml_has(path: Path, keys: list[str]) -> bool:
    if not path.is_file():
        return False
    node = yaml.safe_load(path.read_text()) or {}
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


# Misspellings the troubleshooting guide shows on purpose, and placeholders such as merge=NAME.
MISTAKES = {"ewcc", "smolm2", "trian"}


def _placeholder(name: str) -> bool:
    return name in MISTAKES or "..." in name or name.isupper() or len(name) == 1


def _problem(override: str, groups: set[str], own: set[str]) -> str | None:
    """Why `override` names nothing in conf/, or None. A key without a dot is checked only when
    it is a config group or a top-level key (elsewhere it names a setting in its context)."""
    key, value = override.lstrip("+").split("=", 1)
    parts = key.split(".")
    if value.startswith("=") or key.startswith("hydra.") or any(_placeholder(p) for p in parts):
        return None  # a version pin (torch==2.14.1), Hydra's own keys, placeholders
    if override.startswith("+") and key not in groups:
        return None  # a key the run adds (+key, ++key): cl-run checks those itself
    if key in groups:  # a group choice: name, [a,b], a,b, null
        names = [n for n in re.split(r"[\[\],]", value) if n and n not in ("null", "none") and not _placeholder(n)]
        missing = [n for n in names if not (CONF / key / f"{n}.yaml").is_file() and f"{key}/{n}" not in own]
        return f"{key}: no option {missing}" if missing else None
    head, *rest = parts
    if not rest:
        return None
    if head in ("strategy", "merge"):  # strategy.<name>.<key>: the option's file holds <name>.<key>
        return None if _yaml_has(CONF / head / f"{rest[0]}.yaml", rest) else f"no {key}"
    if rest[0] == "tasks" and head == "stream" and len(rest) > 2:  # stream.tasks.<task>.<key>: the task's config
        return None if _yaml_has(CONF / "task" / f"{rest[1]}.yaml", rest[2:]) else f"no {key}"
    if head in groups:  # <group>.<key>: some option of the group has it
        return None if any(_yaml_has(f, rest) for f in (CONF / head).glob("*.yaml")) else f"no {key}"
    return None if _yaml_has(CONF / "config.yaml", parts) else f"no {key}"


def test_every_config_key_the_docs_name_exists():
    groups, wrong = _groups(), []
    for page in PAGES:
        text = page.read_text()
        own = _user_configs(text)
        for override in _named_overrides(text):
            problem = _problem(override, groups, own)
            if problem:
                wrong.append(f"{page.relative_to(ROOT)}: `{override}` ({problem})")
    assert wrong == [], "\n".join(wrong)
