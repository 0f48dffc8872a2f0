"""How a prompt is shown to the model: plain text, or the tokenizer's chat template with an
optional system prompt and the generation prompt; and which token ends an answer."""
from __future__ import annotations

from dataclasses import dataclass

from cl.streams.task import Task, TaskDataError

_SENTINEL = "\x00answer\x00"


@dataclass(frozen=True)
class PromptFormat:
    """`chat`: wrap prompts with the chat template; `system`: a system prompt (with no chat
    template it is prepended to the prompt, separated by a blank line)."""

    chat: bool = False
    system: str | None = None


PLAIN = PromptFormat()


def has_chat_template(tokenizer) -> bool:
    return getattr(tokenizer, "chat_template", None) is not None


def task_format(tokenizer, task: Task) -> PromptFormat:
    """The task's format: the chat template when the task asks for it or, by default, whenever
    the tokenizer has one."""
    if task.chat_template and not has_chat_template(tokenizer):
        raise TaskDataError(f"task '{task.name}' sets chat_template=true but the tokenizer has no chat template")
    chat = has_chat_template(tokenizer) if task.chat_template is None else bool(task.chat_template)
    return PromptFormat(chat, task.system)


def render_prompt(tokenizer, prompt: str, fmt: PromptFormat) -> str:
    """The prompt text the model reads, up to where its answer starts."""
    if not fmt.chat:
        return f"{fmt.system}\n\n{prompt}" if fmt.system else prompt
    messages = [{"role": "system", "content": fmt.system}] if fmt.system else []
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def end_of_turn_id(tokenizer) -> int:
    """The special token the chat template puts right after an assistant message (SmolLM2 and
    ChatML: <|im_end|>; Llama 3: <|eot_id|>), falling back to the end-of-sequence token."""
    if not has_chat_template(tokenizer):
        return tokenizer.eos_token_id
    messages = [{"role": "user", "content": "?"}, {"role": "assistant", "content": _SENTINEL}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    after = text.split(_SENTINEL, 1)[1] if _SENTINEL in text else ""
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    return ids[0] if ids and ids[0] in special else tokenizer.eos_token_id

