"""Model builders: a local pretrained directory with its options; SmolLM2 found in its package."""
import pytest

from cl.models import pretrained, tiny_llama
from cl.models.build import SMOLLM2_FILE, smollm2_folder


def test_pretrained_directory_options(tmp_path):
    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=48)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = pretrained(str(tmp_path), attn_implementation="eager", gradient_checkpointing=True, max_length=48)
    assert loaded.training and loaded.is_activation_checkpointing
    assert loaded_tok("rev ab=")["input_ids"] == tok("rev ab=")["input_ids"]
    with pytest.raises(ValueError, match="no_such_attention"):  # the option reaches transformers
        pretrained(str(tmp_path), attn_implementation="no_such_attention")
    with pytest.raises(ValueError, match="model.max_length=100 exceeds the model's 48 positions"):
        pretrained(str(tmp_path), max_length=100)


def test_smollm2_ships_in_its_package():
    gguf = smollm2_folder() / SMOLLM2_FILE
    assert gguf.is_file() and gguf.stat().st_size > 90e6
