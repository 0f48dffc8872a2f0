from cl.models.build import pretrained, smollm2, tiny_llama
from cl.models.tokenizer import char_tokenizer

__all__ = ["char_tokenizer", "pretrained", "smollm2", "tiny_llama"]
