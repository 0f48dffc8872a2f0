"""What made a run: cl's source and the packages' versions, the commit, the machine's compute
environment and the process's peak memory (recorded in results.json and in checkpoints)."""
from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("cl", "torch", "lightning", "transformers", "hydra-core", "omegaconf", "wandb", "numpy")


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def compute_environment() -> dict:
    """What sets a run's last bits beside code, config and seed: the CPU kernels torch picked for
    this machine's instruction set, torch's thread count, and the GPU if one is visible."""
    import torch

    env = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name()
    return env


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the checkout `cl` runs from (with '-dirty' if it has changes), if any."""
    where = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@lru_cache(maxsize=1)
def code_identity() -> dict:
    """The code a run computes with: a hash of cl's Python source and the packages' versions
    (saved in every checkpoint; a resume by other code is then told, not silent)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return {"source": digest.hexdigest()[:16], "versions": package_versions()}


def code_changes(saved: dict | None) -> list[str]:
    """How this process's code differs from `saved` (a checkpoint's `code_identity()`); empty
    when equal or when the checkpoint predates the record."""
    if saved is None:
        return []
    now = code_identity()
    versions = {name: now["versions"].get(name, "not installed") for name in saved["versions"]}
    changes = [f"{name} {old} -> {versions[name]}" for name, old in saved["versions"].items() if versions[name] != old]
    if saved["source"] != now["source"]:
        changes.insert(0, f"cl's source {saved['source']} -> {now['source']}")
    return changes
