"""Half Fine-Tuning against full fine-tuning on a Llama-style model large enough to matter on a
CPU (8 blocks, width 512): time per training step and optimizer-state memory, as ratios.

Both arms run the same batches through the same model (AdamW, SFT loss on answer tokens); HFT
freezes its drawn half with requires_grad=False and builds the optimizer over the rest, as the
module does. Steps alternate between arms; the median step time of each is compared.
Run: .venv/bin/python -m benchmarks.hft [--steps 12] [--hidden 512] [--layers 8]
"""
from __future__ import annotations

import argparse
import statistics
from types import SimpleNamespace

import torch

from benchmarks.common import adamw, default_model, default_tasks, optimizer_bytes, sft_step
from cl.strategies import HFT
from cl.streams.encoding import Collator, encode


def arm(hft: HFT | None, hidden: int, layers: int, tok_task):
    model, tok = default_model(hidden_size=hidden, num_layers=layers, num_heads=8, intermediate_size=int(hidden * 2.6875))
    if hft is not None:
        hft.before_task(SimpleNamespace(model=model), 0, tok_task)
    opt = adamw(1e-4)([p for p in model.parameters() if p.requires_grad])
    return model, tok, opt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    task = default_tasks(n_train=args.batch_size * args.steps, n_eval=10)[0]
    hft = HFT(fraction=0.5, seed=0)
    full_model, tok, full_opt = arm(None, args.hidden, args.layers, task)
    hft_model, _, hft_opt = arm(hft, args.hidden, args.layers, task)
    collate = Collator(tok.pad_token_id)
    data = encode(tok, task.train)
    batches = [collate(data[i : i + args.batch_size]) for i in range(0, len(data), args.batch_size)]
    times = {"full": [], "hft": []}
    for i, batch in enumerate(batches):
        for name, model, opt in (("full", full_model, full_opt), ("hft", hft_model, hft_opt)):
            t = sft_step(model, opt, batch)
            if i >= 2:  # warm-up steps excluded
                times[name].append(t)
    full_t, hft_t = statistics.median(times["full"]), statistics.median(times["hft"])
    full_b, hft_b = optimizer_bytes(full_opt), optimizer_bytes(hft_opt)
    n = sum(p.numel() for p in full_model.parameters())
    print(f"Llama-style model: {args.layers} blocks, width {args.hidden}, {n / 1e6:.1f}M parameters; batch {args.batch_size}; "
          f"{torch.get_num_threads()} threads; median of {len(times['full'])} steps per arm")  # fmt: skip
    print(f"HFT trainable: {hft.history[0]['trainable_fraction']:.3f} of all parameters, "
          f"{hft.history[0]['block_trainable_fraction']:.3f} of block parameters")  # fmt: skip
    print(f"step time      full {1000 * full_t:7.1f} ms | HFT {1000 * hft_t:7.1f} ms | ratio HFT/full {hft_t / full_t:.3f}")
    print(f"optimizer state full {full_b / 2**20:6.1f} MiB | HFT {hft_b / 2**20:6.1f} MiB | ratio HFT/full {hft_b / full_b:.3f}")


if __name__ == "__main__":
    main()
