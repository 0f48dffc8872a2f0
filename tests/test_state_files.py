"""State dicts written and read a tensor at a time (cl.core.state_files): what is read back is
what was written, in the safetensors layout other tools read, tied weights stored once."""
import pytest
import torch

from cl.core.state_files import StateFile, describe, first_difference, save_state


def _state() -> dict:
    torch.manual_seed(0)
    embedding = torch.randn(6, 4)
    return {"embed.weight": embedding, "head.weight": embedding,  # tied: one storage
            "half": torch.randn(3, 2).bfloat16(), "f16": torch.randn(2).half(), "double": torch.randn(2, 2).double(),
            "steps": torch.tensor(7), "mask": torch.tensor([True, False, True]), "ids": torch.arange(5, dtype=torch.int32),
            "transposed": torch.randn(3, 5).t(), "empty": torch.zeros(0, 3)}  # fmt: skip


def test_what_is_read_back_is_what_was_written_with_tied_weights_stored_once(tmp_path):
    state = _state()
    save_state(tmp_path / "w.safetensors", state)
    read = StateFile(tmp_path / "w.safetensors")
    assert sorted(read) == sorted(state) and len(read) == len(state) and "head.weight" in read and "nope" not in read
    for name, tensor in state.items():
        assert read[name].dtype == tensor.dtype and torch.equal(read[name], tensor), name
    assert read.aliases == {"head.weight": "embed.weight"}
    payload = sum(t.numel() * t.element_size() for n, t in state.items() if n != "head.weight")
    assert (tmp_path / "w.safetensors").stat().st_size - read.start == payload  # the tied tensor's bytes once
    assert read["embed.weight"].data_ptr() != read["embed.weight"].data_ptr()  # every read is a new tensor


class _Unread(StateFile):
    def __getitem__(self, name: str):
        raise AssertionError(f"{name} was read")


def test_dtype_and_shape_come_from_the_header_without_reading(tmp_path):
    state = _state()
    save_state(tmp_path / "w.safetensors", state)
    header_only = _Unread(tmp_path / "w.safetensors")
    for name, tensor in state.items():
        assert describe(header_only, name) == describe(state, name) == (tensor.dtype, tensor.shape), name
    assert first_difference(header_only, state) is None
    assert first_difference(header_only, {**state, "extra": torch.zeros(1)}) == "extra"
    assert first_difference({k: v for k, v in state.items() if k != "double"}, header_only) == "double"


def test_the_safetensors_library_reads_the_files(tmp_path):
    from safetensors import safe_open

    state = _state()
    save_state(tmp_path / "w.safetensors", state)
    with safe_open(tmp_path / "w.safetensors", framework="pt") as f:
        assert sorted(f.keys()) == sorted(n for n in state if n != "head.weight")
        for name in f.keys():
            assert torch.equal(f.get_tensor(name), state[name]), name


def test_a_dtype_without_a_safetensors_name_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="w: dtype torch.complex64 cannot be saved; the dtypes are torch.float64"):
        save_state(tmp_path / "w.safetensors", {"a": torch.zeros(2), "w": torch.zeros(2, dtype=torch.complex64)})
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_file_says_so(tmp_path):
    save_state(tmp_path / "w.safetensors", {"a": torch.zeros(2), "b": torch.ones(100)})
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "w.safetensors").write_bytes(data[:-10])
    read = StateFile(tmp_path / "w.safetensors")
    assert torch.equal(read["a"], torch.zeros(2))
    with pytest.raises(OSError, match="ends before b's bytes: the file is truncated"):
        read["b"]
