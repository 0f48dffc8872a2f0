"""Model builders: each returns (model, tokenizer). Hydra configs in conf/model/ call them."""
from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from cl.models.tokenizer import char_tokenizer


def tiny_llama(
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int | None = None,
    intermediate_size: int = 256,
    max_length: int = 64,
    seed: int = 0,
):
    """A small Llama-style causal LM (separate q/k/v/o and gate/up/down) with the char tokenizer."""
    import torch

    tok = char_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads or num_heads,
        max_position_embeddings=max_length,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model, tok


def pretrained(path: str, gguf_file: str | None = None, dtype: str = "float32"):
    """Load a local model directory (and its tokenizer). Nothing is downloaded."""
    import torch

    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"model path '{path}' is not a directory; set model.path to a local model folder")
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        root, dtype=getattr(torch, dtype), local_files_only=True, **kw
    )
    tok = AutoTokenizer.from_pretrained(root, local_files_only=True, **kw)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return model, tok
