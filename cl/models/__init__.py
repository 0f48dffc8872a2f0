from cl.models.build import pretrained, tiny_llama
from cl.models.tokenizer import char_tokenizer

__all__ = ["char_tokenizer", "pretrained", "tiny_llama"]
