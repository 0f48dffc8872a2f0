import torch

from cl.evaluation.exact_match import generate_exact_match, teacher_forced_exact_match
from cl.evaluation.generate import greedy_completions
from cl.streams import Task, make_task
from cl.streams.encoding import Encoder


def _eos_prone(model, tok, scale: float):
    """Make the random model end some completions early so that exact matches can happen."""
    with torch.no_grad():
        row = model.lm_head.weight[tok.eos_token_id]
        row.mul_(scale).add_(0.02 * torch.randn_like(row))
    return model


def _task_with_known_answers(model, encoder, seed) -> Task:
    """Half the examples use the model's own greedy output as the answer, half a perturbed one."""
    tok = encoder.tokenizer
    task = make_task("rev", "reverse", n_train=5, n_eval=120, seed=seed, min_len=1, max_len=6)
    prompts = encoder.prompts(task, [p for p, _ in task.eval])
    outs = greedy_completions(model, tok, prompts, 6, [tok.eos_token_id], batch_size=16)
    usable = [
        (p, text)
        for (p, _), (text, ended) in zip(task.eval, outs)
        if ended and text and all(i > 3 for i in tok(text, add_special_tokens=False)["input_ids"])
    ]
    mixed = [(p, a if k % 2 else a[:-1] + ("a" if a[-1] != "a" else "b")) for k, (p, a) in enumerate(usable)]
    return Task("known", task.train, mixed + task.eval, task.check, exact=True)


def test_teacher_forced_agrees_with_generate_example_by_example():
    from cl.models import tiny_llama

    agreed = total = 0
    for seed in range(3):
        model, tok = tiny_llama(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128, seed=seed)
        torch.manual_seed(seed)
        _eos_prone(model.eval(), tok, 1.5)
        encoder = Encoder(tok)
        task = _task_with_known_answers(model, encoder, seed)
        tf = teacher_forced_exact_match(model, encoder, task, batch_size=32)
        gen = generate_exact_match(model, encoder, task, batch_size=16)
        assert tf == gen
        agreed, total = agreed + sum(tf), total + len(tf)
    assert 10 <= agreed <= total - 10  # both outcomes occur often, so the comparison means something
