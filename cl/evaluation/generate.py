"""Batched greedy decoding: left-padded prompts, the KV cache, stop at the task's end tokens."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Callable

from cl.models.frozen import dropout_off
from cl.models.generation import first_stops, new_tokens, texts_before
from cl.streams.encoding import left_pad

MIN_NEW_TOKENS = 32  # a pretrained model may say "The answer is ..." before the answer


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


def answer_budget(encoder, task) -> int:
    """Default generation budget: the longest eval answer in tokens, a quarter more and its end,
    and at least MIN_NEW_TOKENS (generation stops early once every prompt of a batch ended)."""
    longest = max(len(ids) for ids in encoder.tokenizer([a for _, a in task.eval], add_special_tokens=False)["input_ids"])
    return max(MIN_NEW_TOKENS, longest + longest // 4 + 1)


def greedy_answers(
    model, encoder, task, texts: list[str], max_new_tokens: int | None = None, batch_size: int = 64,
    around: Callable[[dict], AbstractContextManager] = lambda batch: nullcontext(),
) -> list[str]:
    """Each prompt text's greedy answer as evaluation generates it: the task's format, its stop
    tokens and budget (`max_new_tokens`, else the task's, else `answer_budget`), dropout off.
    Each batch of `batch_size` prompts is generated inside `around(batch)` (its left-padded
    `input_ids` and `attention_mask`): a strategy's routing of evaluation."""
    budget = max_new_tokens or task.max_new_tokens or answer_budget(encoder, task)
    prompts, stops, out = encoder.prompts(task, texts, room=budget), encoder.stop_ids(task), []
    with dropout_off(model):
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            ids, mask = left_pad(chunk, encoder.tokenizer.pad_token_id)
            with around({"input_ids": ids, "attention_mask": mask}):
                out += greedy_completions(model, encoder.tokenizer, chunk, budget, stops, len(chunk))
    return [text for text, _ in out]
