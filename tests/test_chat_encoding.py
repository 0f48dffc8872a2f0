"""How cl encodes examples with SmolLM2's real tokenizer: chat template, answer boundary,
end-of-turn token, loss mask, truncation."""
import pytest

from cl.streams import Task, TaskDataError, file_task
from cl.streams.chat import end_of_turn_id, render_prompt, task_format
from cl.streams.encoding import IGNORE, Collator, Encoder, encode

DATA = "data"


def _task(examples, **kw):
    return Task("t", examples, examples, lambda p, c: float(c == "x"), **kw)


def test_chat_template_wraps_the_prompt_and_the_answer_ends_with_end_of_turn(smol_tok):
    task = _task([("What is 2 + 3?", "5")], system="Answer with the number only.")
    (item,) = Encoder(smol_tok).encode(task, task.train)
    prompt, answer = item.input_ids[: item.prompt_len], item.input_ids[item.prompt_len :]
    assert smol_tok.decode(prompt) == (
        "<|im_start|>system\nAnswer with the number only.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    )
    eot = end_of_turn_id(smol_tok)
    assert smol_tok.convert_ids_to_tokens(eot) == "<|im_end|>"
    assert answer == smol_tok("5", add_special_tokens=False)["input_ids"] + [eot]
    batch = Collator(smol_tok.pad_token_id)([item])
    labelled = batch["labels"][0][batch["labels"][0] != IGNORE].tolist()
    assert labelled == answer  # loss on the answer and its end-of-turn token only


def test_without_system_prompt_the_template_default_applies_and_chat_can_be_turned_off(smol_tok):
    chat = render_prompt(smol_tok, "Hi", task_format(smol_tok, _task([])))
    assert "You are a helpful AI assistant named SmolLM" in chat and chat.endswith("<|im_start|>assistant\n")
    plain = _task([("Hi", "there")], chat_template=False, system="Be brief.")
    (item,) = Encoder(smol_tok).encode(plain, plain.train)
    assert smol_tok.decode(item.input_ids) == "<|im_start|>Be brief.\n\nHithere<|im_end|>"  # bos + prompt + answer + eos


@pytest.mark.parametrize("name", ["word_math", "facts2text", "letters"])
def test_answer_tokens_are_the_joint_tokenization_and_decode_back_exactly(smol_tok, name):
    """On the shipped data: prompt ids + answer ids decode to prompt text + answer, and the answer
    ids are what the joint text gives after the prompt (what greedy decoding would produce)."""
    conf = {"word_math": dict(path=f"{DATA}/trace/word_math"),
            "facts2text": dict(path=f"{DATA}/instruct/facts2text.csv", answer_field="sentence",
                               template="Name: {name}, city: {city}, job: {job}, hobby: {hobby}.", scorer="rouge_l"),
            "letters": dict(path=f"{DATA}/instruct/letters.json", template="{instruction} {word}",
                            answer_field="output")}[name]  # fmt: skip
    task = file_task(name, **conf, n_eval=50)
    merged = {}
    for fmt_task in (task, Task(name, task.train, task.eval, task.check, chat_template=False)):
        fmt = task_format(smol_tok, fmt_task)
        items = Encoder(smol_tok).encode(fmt_task, fmt_task.eval)
        merged[fmt.chat] = 0
        for item, (p, a) in zip(items, fmt_task.eval):
            text = render_prompt(smol_tok, p, fmt)
            bos = 0 if fmt.chat else 1
            assert smol_tok.decode(item.input_ids[:-1]) == ("" if fmt.chat else "<|im_start|>") + text + a
            assert item.input_ids[bos : item.prompt_len] == smol_tok(text, add_special_tokens=False)["input_ids"]
            joint = smol_tok(text + a, add_special_tokens=False)["input_ids"]
            if joint[: item.prompt_len - bos] == item.input_ids[bos : item.prompt_len]:
                assert item.input_ids[bos:-1] == joint
            else:
                merged[fmt.chat] += 1
    assert merged[True] == 0  # the chat template ends with a newline: no merge crosses it
    if name == "letters":  # "... word: abcd" + "dcba" merges across the boundary when written plainly
        assert merged[False] > 10


def test_a_merge_across_the_boundary_keeps_the_prompt_tokens_of_generation(smol_tok):
    """A prompt ending in a space: jointly, ' 42' is one token; cl keeps the prompt's own tokens
    (as generation sees them) and spells the answer after them."""
    examples = [("Translate: ", "bonjour"), ("Say hello: ", "hello world")]
    task = _task(examples, chat_template=False)
    alone = [smol_tok(p, add_special_tokens=False)["input_ids"] for p, _ in examples]
    joint = [smol_tok(p + a, add_special_tokens=False)["input_ids"] for p, a in examples]
    assert all(j[: len(p)] != p for j, p in zip(joint, alone))  # the merge does cross the boundary
    for item, (p, a), prompt in zip(Encoder(smol_tok).encode(task, examples), examples, alone):
        assert item.input_ids[1 : item.prompt_len] == prompt
        assert smol_tok.decode(item.input_ids[item.prompt_len : -1]) == a


def test_long_prompts_lose_their_start_and_long_answers_are_an_error(smol_tok):
    long_prompt = "word " * 80 + "Answer:"
    task = _task([(long_prompt, "yes"), ("short", "no")], chat_template=False)
    encoder = Encoder(smol_tok, max_length=30)
    items = encoder.encode(task, task.train)
    assert len(items[0].input_ids) == 30 and items[0].input_ids[0] == smol_tok.bos_token_id
    assert smol_tok.decode(items[0].input_ids[items[0].prompt_len :]) == "yes<|im_end|>"
    assert smol_tok.decode(items[0].input_ids[1 : items[0].prompt_len]).endswith("word word Answer:")
    assert items[1].input_ids == encode(smol_tok, [("short", "no")])[0].input_ids  # short ones untouched
    assert encoder.truncated == {"t": 1}
    encoder.encode(task, task.train)  # encoding the same examples again counts nothing new
    assert encoder.truncated == {"t": 1}
    too_long = _task([("q", "word " * 40)], chat_template=False)
    with pytest.raises(TaskDataError, match=r"task 't': the answer of example 0 .* takes 42 tokens .* model.max_length=30"):
        encoder.encode(too_long, too_long.train)
