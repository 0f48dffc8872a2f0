"""The layout stays true: a room of cl imports only rooms below it, and no module imports a
console-script module (docs/architecture.md)."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cl"
# Lowest first: a room may import itself and the rooms before it.
LAYERS = ["core", "streams", "models", "evaluation", "families", "objectives", "strategies", "merging", "training",
          "outputs", "assembly", "cli"]  # fmt: skip


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every cl module `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name == "cl" or name.startswith("cl.")}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _modules() -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_of_cl_sits_in_a_room():
    homeless = [m for m in _modules() if m != "cl" and _room(m) is None]
    assert homeless == [], f"modules outside the rooms {LAYERS}: {homeless}"


def test_no_room_imports_a_room_above_it():
    upward = []
    for module, imported in _modules().items():
        here = _room(module)
        for name in imported:
            there = _room(name)
            if here and there and LAYERS.index(there) > LAYERS.index(here):
                upward.append(f"{module} ({here}) imports {name} ({there})")
    assert upward == [], "\n".join(sorted(upward))


def test_no_module_imports_a_console_script_module():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].values()
    script_modules = {target.split(":")[0] for target in scripts}
    assert script_modules <= set(_modules()), script_modules - set(_modules())
    importers = [f"{m} imports {name}" for m, imported in _modules().items() for name in imported
                 if name in script_modules and name != m]  # fmt: skip
    assert importers == [], importers
