"""Batched greedy decoding: left-padded prompts, the KV cache, stop at the task's end tokens."""
from __future__ import annotations

from cl.models.generation import new_tokens


def greedy_completions(
    model, tokenizer, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int], batch_size: int = 64
) -> list[tuple[str, bool]]:
    """Greedy `generate()` of every prompt (token ids), `batch_size` prompts at a time: per
    prompt, the decoded text before the first stop token and whether a stop token came. The
    model's own `generation_config` (penalties, ...) is set aside: plain greedy decoding."""
    out: list[tuple[str, bool]] = []
    stops = set(stop_ids)
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
        for row in generated.tolist():
            end = next((k for k, t in enumerate(row) if t in stops), None)
            out.append((tokenizer.decode(row[:end], skip_special_tokens=True), end is not None))
    return out
