"""The check of keys that `+key=value` overrides add."""
from __future__ import annotations

from difflib import get_close_matches
from typing import Callable

from omegaconf import DictConfig, OmegaConf

from cl.assembly.checks.stream import choices
from cl.core.errors import ConfigError


def check_added_keys(cfg: DictConfig, overrides: list[str], is_group: Callable[[str], bool]) -> None:
    """A `+key=value` override (not `+group=option`) must add a key that something reads: one
    inside a config built by a constructor (a node with _target_: trainer, model, optimizer,
    scheduler, adapter, objective, strategy.<name>, merge.<name>, ...) or a task under
    stream.tasks. Anything else is a typo that would leave the default running without a word
    (`++key=value` adds a key of the user's own regardless)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    added = {o.key_or_group: o.input_line for o in parsed if o.is_add() and not is_group(o.key_or_group)}
    tree = OmegaConf.to_container(cfg, resolve=False)
    for key, line in added.items():
        path = key.split(".")
        if path[:2] == ["stream", "tasks"] or any(_built(tree, path[:i]) for i in range(1, len(path))):
            continue
        raise ConfigError(_unread_key(tree, path, set(added), line))


def _built(tree: dict, path: list[str]) -> bool:
    """Whether the node at `path` is built by a constructor (has _target_)."""
    for part in path:
        tree = tree.get(part) if isinstance(tree, dict) else None
    return isinstance(tree, dict) and "_target_" in tree


def _only_added(node, path: list[str], added: set[str]) -> bool:
    """Whether the node at `path` exists only because of `+` overrides (`added` keys)."""
    if ".".join(path) in added:
        return True
    return isinstance(node, dict) and bool(node) and all(_only_added(v, [*path, k], added) for k, v in node.items())


def _unread_key(tree: dict, path: list[str], added: set[str], line: str) -> str:
    """The message for a `+` override that adds a key nothing reads: the first new part of its
    path and the keys nearest it where it was added."""
    where: list[str] = []
    for part in path:
        keys = [k for k, v in tree.items() if not _only_added(v, [*where, k], added)]
        if part not in keys:
            break
        tree, where = tree[part], [*where, part]
    near = get_close_matches(part, keys, n=3, cutoff=0.5)
    place = f"under {'.'.join(where)}" if where else "at the top level of the config"
    hint = f"the nearest keys there: {', '.join(near)}" if near else f"the keys there: {choices(keys)}"
    return (f"{line} adds '{part}' {place}, a key cl does not read; {hint} "
            f"(a key of your own, read by your configs: ++{line.lstrip('+')})")
