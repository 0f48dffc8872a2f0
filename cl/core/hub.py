"""Models and datasets named by their Hugging Face Hub id (`org/name`), read from the Hugging
Face cache (`HF_HUB_CACHE`, by default ~/.cache/huggingface/hub).

Without `HF_HUB_OFFLINE`, what the cache lacks is downloaded into it first; with
`HF_HUB_OFFLINE=1`, the cache is all there is, and a repository missing from it is a ConfigError
that says how to fetch it. Each (id, revision, files, cache) is resolved once per process, so the
config checks, the builder and results.json see the same commit even when the branch moves
during a run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cl.core.errors import ConfigError

# What a causal LM and its tokenizer need: config.json, generation_config.json and the other JSON
# files (weights' shard index, tokenizer.json, vocab.json), the safetensors weights, merges.txt and
# vocab.txt, SentencePiece's *.model, the chat template (chat_template.jinja).
MODEL_FILES = ("*.json", "*.safetensors", "*.txt", "*.model", "*.jinja")


@dataclass(frozen=True)
class HubSource:
    """One repository read from the Hub cache: its id, the revision asked for (a branch, tag or
    commit), the commit that revision resolved to, and the snapshot folder holding its files."""

    id: str
    revision: str
    commit: str
    folder: Path

    def record(self) -> dict:
        """What results.json records of it."""
        return {"id": self.id, "revision": self.revision, "commit": self.commit}


def is_hub_id(text: str) -> bool:
    """Whether `text` has the form of a Hub repository id: org/name."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if text.count("/") != 1:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def snapshot(repo_id: str, revision: str | None = None, kind: str = "model", files: tuple[str, ...] | None = None) -> HubSource:
    """The snapshot of the Hub repository `repo_id` (`kind`: model or dataset) at `revision`
    (None: main) in the Hugging Face cache; `files`: glob patterns of the files needed (None:
    every file). A ConfigError when it cannot be had, saying how to get it."""
    from huggingface_hub import constants

    return _snapshot(repo_id, revision or "main", kind, files, constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE)


@cache
def _snapshot(repo_id: str, revision: str, kind: str, files: tuple[str, ...] | None, cache_dir: str,
              offline: bool) -> HubSource:  # fmt: skip
    from huggingface_hub import snapshot_download

    patterns = list(files) if files else None
    try:
        folder = Path(snapshot_download(repo_id, repo_type=kind, revision=revision, cache_dir=cache_dir,
                                        allow_patterns=patterns, local_files_only=offline))  # fmt: skip
    except OSError as err:  # huggingface_hub's errors: not cached, not found, no connection
        what = f"the Hub {kind} '{repo_id}' (revision {revision})"
        if not offline:
            raise ConfigError(f"{what} cannot be downloaded: {type(err).__name__}: {err}") from None
        fetch = f"hf download {repo_id}" + (" --repo-type dataset" if kind == "dataset" else "")
        fetch += f" --revision {revision}" if revision != "main" else ""
        raise ConfigError(
            f"{what} is not in the Hugging Face cache ({cache_dir}), the only place cl reads with HF_HUB_OFFLINE=1. "
            f"Fetch it on a machine with internet access with `{fetch}` and copy the cache here (or point "
            "HF_HUB_CACHE at a copy), or unset HF_HUB_OFFLINE to let cl download it"
        ) from None
    return HubSource(repo_id, revision, folder.name, folder)  # the snapshot folder is named by its commit


def model_folder(path: str, revision: str | None = None, gguf_file: str | None = None) -> tuple[Path, HubSource | None]:
    """The folder to load model.path's model from, and its Hub source: `path` itself when it is
    a local folder (which wins over a Hub id of the same name; no source), else the snapshot of
    the Hub model it names, with the files a model and its tokenizer need (`gguf_file`: that
    file instead of safetensors weights). A ConfigError when it is neither."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        if revision is not None:
            raise ConfigError(f"model.revision={revision} picks a version of a Hub model, and model.path '{path}' is "
                              "a local folder: drop model.revision")  # fmt: skip
        return folder, None
    if not is_hub_id(path):
        raise ConfigError(
            f"model.path '{path}' is not a directory, nor a Hub id (org/name). Point it at a local model folder "
            "(config.json, weights, tokenizer files) or a Hugging Face Hub model such as "
            "HuggingFaceTB/SmolLM2-135M-Instruct, or choose a built-in model such as model=tiny_llama"
        )
    files = tuple(p for p in MODEL_FILES if p != "*.safetensors") + (gguf_file,) if gguf_file else MODEL_FILES
    try:
        source = snapshot(path, revision, "model", files)
    except ConfigError as err:
        raise ConfigError(f"model.path '{path}' is not a local folder, and {err}") from None
    return source.folder, source
