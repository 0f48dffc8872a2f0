"""State dicts on disk, written and read one tensor at a time, in the safetensors layout (an
8-byte little-endian header length, a JSON header of names, dtypes, shapes and byte offsets,
then the raw bytes), so `safetensors.safe_open` and other tools read them too.

Writing streams each tensor's own memory to the file: no copy of the state dict is made (the
safetensors library's `save_file` builds the bytes of every tensor first). Reading goes
through plain file reads into a new tensor (no memory map): a merge over many saved models
holds only the tensors it is combining, and no mapped file pages count towards the process's
resident memory. Entries that share memory (tied weights, e.g. an input embedding and the
output layer) are written once; the others are recorded as aliases in the header's metadata.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from cl.core.files import atomic_path

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}  # fmt: skip
NAMES = {dtype: name for name, dtype in DTYPES.items()}
ALIASES = "cl.aliases"  # metadata key: JSON {alias: the name whose bytes it shares}


def _bytes(tensor: torch.Tensor):
    """A buffer over a tensor's own bytes (no copy when it is contiguous and on the CPU)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy() if flat.numel() else b""


def save_state(path: Path, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Writes `state_dict` to `path` whole or not at all (written under a temporary name)."""
    header, aliases, stored, offset = {}, {}, {}, 0
    for name, tensor in state_dict.items():
        if tensor.dtype not in NAMES:
            raise ValueError(f"{name}: dtype {tensor.dtype} cannot be saved; the dtypes are {', '.join(map(str, NAMES))}")
        view = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
                tuple(tensor.stride()), tensor.dtype, tensor.device)  # fmt: skip
        if tensor.numel() and view in stored:
            aliases[name] = stored[view]
            continue
        stored[view] = name
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {ALIASES: json.dumps(aliases)}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as safetensors requires
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for name, tensor in state_dict.items():
            if name in header:
                f.write(_bytes(tensor))


class StateFile(Mapping):
    """A saved state dict read lazily: `keys()` come from the header, each `[name]` reads that
    tensor from the file (a new tensor on every access)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
        self.start = 8 + length
        metadata = header.pop("__metadata__", None) or {}
        self.entries = header
        self.aliases = json.loads(metadata.get(ALIASES, "{}"))
        self.names = list(header) + list(self.aliases)

    def describe(self, name: str) -> tuple[torch.dtype, torch.Size]:
        """The entry's dtype and shape, from the header (nothing read)."""
        entry = self.entries[self.aliases.get(name, name)]
        return DTYPES[entry["dtype"]], torch.Size(entry["shape"])

    def __getitem__(self, name: str) -> torch.Tensor:
        entry = self.entries[self.aliases.get(name, name)]
        begin, end = entry["data_offsets"]
        data = torch.empty(end - begin, dtype=torch.uint8)
        if end > begin:
            with open(self.path, "rb") as f:
                f.seek(self.start + begin)
                if f.readinto(data.numpy()) != end - begin:
                    raise OSError(f"{self.path} ends before {name}'s bytes: the file is truncated")
        return data.view(DTYPES[entry["dtype"]]).reshape(entry["shape"])

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.entries or name in self.aliases


def describe(state: Mapping[str, torch.Tensor], name: str) -> tuple[torch.dtype, torch.Size]:
    """An entry's dtype and shape: a StateFile's from its header, without reading the tensor."""
    if isinstance(state, StateFile):
        return state.describe(name)
    return state[name].dtype, state[name].shape


def first_difference(a: Mapping, b: Mapping) -> str | None:
    """The first name (in sorted order) that one of two state dicts has and the other lacks."""
    different = sorted(set(a.keys()) ^ set(b.keys()))
    return different[0] if different else None
