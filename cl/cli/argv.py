"""Checks of `cl-run`'s command line that Hydra would answer badly, run before it composes anything."""
from __future__ import annotations

import os
from pathlib import Path

from cl.core.errors import ConfigError
from cl.core.paths import CONF_DIR


def _config_dirs(argv: list[str]) -> list[Path]:
    """The package's conf/ plus user config folders given by --config-dir or hydra.searchpath."""
    dirs = [Path(CONF_DIR)]
    for i, arg in enumerate(argv):
        if arg in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]))
        elif arg.startswith("--config-dir="):
            dirs.append(Path(arg.split("=", 1)[1]))
        elif arg.startswith("hydra.searchpath="):
            dirs += [Path(p.strip()[len("file://") :]) for p in arg.split("=", 1)[1].strip("[]").split(",")
                     if p.strip().startswith("file://")]  # fmt: skip
    return dirs


def check_group_lists(argv: list[str]) -> None:
    """Hydra names no valid choices for a bad entry in a list override such as strategy=[a,b];
    check those against the group's files first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    dirs = _config_dirs(argv)
    candidates = [a for a in argv if "=" in a and not a.startswith("-") and not a.startswith("hydra.")]
    for override in OverridesParser.create().parse_overrides(candidates):
        group, value = override.key_or_group, override.value()
        folders = [d / group for d in dirs if (d / group).is_dir()]
        if not folders or not isinstance(value, list):
            continue
        options = sorted({f.stem for d in folders for f in d.glob("*.yaml")})
        for name in value:
            if name not in options:
                raise ConfigError(f"unknown {group} '{name}' in {group}={value}. Available options: {', '.join(options)}")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ConfigError(f"{group} '{repeated[0]}' appears twice in {group}={value}; give each {group} once")


def check_output_folder(argv: list[str]) -> None:
    """The folder runs are written to must be writable (Hydra would fail creating it with an
    empty traceback): checked on the nearest folder that exists."""
    multirun = "-m" in argv or "--multirun" in argv
    given = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("-"))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    folder = given.get(key) or given.get("paths.output_dir") or os.environ.get("CL_OUTPUT_DIR") or "outputs"
    if "${" in folder:
        folder = folder.split("${", 1)[0] or "."
    existing = Path(folder).expanduser().absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write runs into '{folder}': {existing} is not a writable folder. "
                          "Choose another with paths.output_dir=... (or CL_OUTPUT_DIR)")  # fmt: skip
