"""Peak memory of one RFT policy-loss step (forward and backward) over a real vocabulary: cl's
completion log-probabilities against the textbook computation they replaced.

The textbook way runs every row whole (its prompt repeated for each completion of its group),
takes the logits of every position, log-softmaxes the completion positions over the vocabulary
and takes the entropy from the full probabilities: several [N, T, vocab] float tensors. cl's
(cl/objectives/logprobs.py) runs each prompt once for its group, asks the model for the
completion positions only, takes each token's log-probability as its logit minus a
log-sum-exp, and the entropy in row chunks without gradient. Model: a tiny Llama over SmolLM2's 49,152-token
vocabulary. Each variant runs in a fresh process; on CPU the peak is the growth of the
process's maximum resident set during the step, on a GPU `torch.cuda.max_memory_allocated`.
Both must give the same loss. Run: .venv/bin/python -m benchmarks.rft_memory [--rows 32]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch


def textbook_logprobs(model, prompt_ids, prompt_attention, completions, mask, temperature):
    """The computation cl used before: every row whole (its prompt repeated for each of its
    group's completions), full logits, full log-softmax, entropy from it."""
    from cl.streams.encoding import left_pad_positions

    group, T = len(completions) // len(prompt_ids), completions.shape[1]
    ids = torch.cat([prompt_ids.repeat_interleave(group, 0), completions], 1)
    attention = torch.cat([prompt_attention.repeat_interleave(group, 0), mask.long()], 1)
    logits = model(input_ids=ids, attention_mask=attention, position_ids=left_pad_positions(attention)).logits
    logprobs = (logits[:, -T - 1 : -1].float() / temperature).log_softmax(-1)
    entropy = -(logprobs.exp() * logprobs).sum(-1)
    return logprobs.gather(2, completions[..., None]).squeeze(2).masked_fill(~mask, 0.0), entropy


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def one_step(variant: str, rows: int, group: int, prompt_len: int, new_tokens: int) -> dict:
    from cl.models import tiny_llama
    from cl.objectives.grpo import clipped_policy_loss
    from cl.objectives.logprobs import completion_logprobs
    from cl.streams.encoding import left_pad

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model, tok = tiny_llama(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128,
                            max_length=prompt_len + new_tokens + 1, tokenizer="smollm2")  # fmt: skip
    model.to(device).train()
    vocab = len(tok)
    lengths = torch.randint(prompt_len // 2, prompt_len + 1, (rows // group,)).tolist()
    prompt_ids, prompt_attention = left_pad([torch.randint(10, vocab, (n,)).tolist() for n in lengths],
                                            tok.pad_token_id, device)  # fmt: skip
    completions = torch.randint(10, vocab, (rows, new_tokens), device=device)
    mask = torch.ones(rows, new_tokens, dtype=torch.bool, device=device)
    advantages = torch.randn(rows, device=device)
    fn = completion_logprobs if variant == "cl" else textbook_logprobs
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated() / 2**20
    else:
        start = rss_mib()
    logp, entropy = fn(model, prompt_ids, prompt_attention, completions, mask, 0.7)
    loss = clipped_policy_loss(logp, logp.detach(), advantages, mask, 0.2, 0.28, "token", new_tokens)
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20 - start
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start
    grad = sum(float(p.grad.double().abs().sum()) for p in model.parameters() if p.grad is not None)
    return {"peak_mib": peak, "loss": float(loss), "grad_l1": grad, "entropy": float(entropy[mask].mean()),
            "device": device.type, "vocab": vocab}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=32, help="completions in the step (prompts x group)")
    ap.add_argument("--group", type=int, default=4, help="completions per prompt")
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--variant", choices=["cl", "textbook"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(one_step(args.variant, args.rows, args.group, args.prompt_len, args.new_tokens)))
        return
    results = {}
    for variant in ("textbook", "cl"):
        cmd = [sys.executable, "-m", "benchmarks.rft_memory", "--variant", variant, "--rows", str(args.rows),
               "--group", str(args.group), "--prompt-len", str(args.prompt_len), "--new-tokens", str(args.new_tokens)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    t, c = results["textbook"], results["cl"]
    print(f"{args.rows} completions ({args.group} per prompt) x {args.new_tokens} new tokens after prompts of up to "
          f"{args.prompt_len} tokens, "
          f"vocabulary {c['vocab']}, {c['device']}")  # fmt: skip
    for name, r in results.items():
        print(f"{name:>9}: peak {r['peak_mib']:8.1f} MiB above the step's start | loss {r['loss']:.6f} | "
              f"entropy {r['entropy']:.4f}")  # fmt: skip
    same = abs(t["loss"] - c["loss"]) < 1e-5 and abs(t["grad_l1"] - c["grad_l1"]) < 1e-4 * t["grad_l1"]
    print(f"ratio cl/textbook peak memory {c['peak_mib'] / t['peak_mib']:.3f}; same loss and gradient: {same}")
    if not same:
        sys.exit("the two computations disagree")


if __name__ == "__main__":
    main()
