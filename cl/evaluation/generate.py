"""Batched greedy decoding: left-padded prompts, the KV cache, stop at the task's end tokens."""
from __future__ import annotations

from cl.models.generation import first_stops, new_tokens, texts_before


def greedy_completions(
    model, tokenizer, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int], batch_size: int = 64
) -> list[tuple[str, bool]]:
    """Greedy `generate()` of every prompt (token ids), `batch_size` prompts at a time: per
    prompt, the decoded text before the first stop token and whether a stop token came. The
    model's own `generation_config` (penalties, ...) is set aside: plain greedy decoding."""
    out: list[tuple[str, bool]] = []
    for start in range(0, len(prompts), batch_size):
        generated = new_tokens(
            model,
            prompts[start : start + batch_size],
            tokenizer.pad_token_id,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            use_cache=True,
            eos_token_id=list(stop_ids),
        )
        ends = first_stops(generated, stop_ids)
        out += zip(texts_before(tokenizer, generated, ends), (ends < generated.shape[1]).tolist())
    return out
