import torch

from cl.evaluation.exact_match import generate_exact_match, greedy_completions, teacher_forced_exact_match
from cl.streams import make_task


def _eos_prone(model, tok, scale: float):
    """Make the random model end some completions early so that exact matches can happen."""
    with torch.no_grad():
        row = model.lm_head.weight[tok.eos_token_id]
        row.mul_(scale).add_(0.02 * torch.randn_like(row))
    return model


def _examples_with_known_answers(model, tok, seed):
    """Half the examples use the model's own greedy output as the answer, half a perturbed one."""
    task = make_task("rev", "reverse", n_train=5, n_eval=120, seed=seed, min_len=1, max_len=6)
    prompts = [p for p, _ in task.eval]
    outs = greedy_completions(model, tok, prompts, max_new_tokens=6, batch_size=16)
    usable = [
        (p, text)
        for p, (text, ended) in zip(prompts, outs)
        if ended and text and all(i > 3 for i in tok(text, add_special_tokens=False)["input_ids"])
    ]
    return [(p, a if k % 2 else a[:-1] + ("a" if a[-1] != "a" else "b")) for k, (p, a) in enumerate(usable)] + task.eval


def test_teacher_forced_agrees_with_generate_example_by_example():
    from cl.models import tiny_llama

    agreed = total = 0
    for seed in range(3):
        model, tok = tiny_llama(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128, seed=seed)
        torch.manual_seed(seed)
        _eos_prone(model.eval(), tok, 1.5)
        examples = _examples_with_known_answers(model, tok, seed)
        tf = teacher_forced_exact_match(model, tok, examples, batch_size=32)
        gen = generate_exact_match(model, tok, examples, batch_size=16)
        assert tf == gen
        agreed, total = agreed + sum(tf), total + len(tf)
    assert 10 <= agreed <= total - 10  # both outcomes occur often, so the comparison means something
