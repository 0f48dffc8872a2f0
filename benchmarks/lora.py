"""LoRA against full fine-tuning on SmolLM2-135M-Instruct: time per training step and the memory
training holds (weights + gradients + optimizer state), as ratios measured in one run.

Both arms train the same batches of the shipped facts2text task (chat template, SFT loss on
answer tokens, AdamW) from the same weights: full fine-tuning on every parameter, LoRA (rank 8,
alpha 16, every linear layer of the blocks, through cl.models.adapters.LoRA) on the adapter only.
Steps alternate between the arms; warm-up steps are excluded and the median is compared.
Memory is counted from the tensors themselves: every weight, the gradients training leaves,
and AdamW's state.
Run: .venv/bin/python -m benchmarks.lora [--steps 8] [--batch-size 8]
"""
from __future__ import annotations

import argparse
import copy
import statistics
from pathlib import Path

import torch

from benchmarks.common import optimizer_bytes, sft_step, tensor_bytes
from cl.models.adapters import LoRA
from cl.models import smollm2
from cl.streams import file_task
from cl.streams.encoding import Collator, Encoder

DATA = Path(__file__).resolve().parent.parent / "data"


def held_bytes(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, int]:
    return {
        "weights": tensor_bytes(model.parameters()),
        "gradients": tensor_bytes(p.grad for p in model.parameters() if p.grad is not None),
        "optimizer": optimizer_bytes(opt),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rank", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(0)
    full, tok = smollm2()
    lora = LoRA(rank=args.rank, alpha=2.0 * args.rank).wrap(copy.deepcopy(full))
    task = file_task("facts2text", DATA / "instruct/facts2text.csv", answer_field="sentence", scorer="rouge_l",
                     template="Write one sentence about this person.\nName: {name}\nCity: {city}\nJob: {job}\nHobby: {hobby}")  # fmt: skip
    encoder, collate = Encoder(tok, 512), Collator(tok.pad_token_id)
    data = encoder.encode(task, task.train[: args.batch_size * (args.steps + 2)])
    batches = [collate(data[i : i + args.batch_size]) for i in range(0, len(data), args.batch_size)]
    arms = {}
    for name, model in (("full", full), ("lora", lora)):
        model.train()
        arms[name] = (model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4))
    times = {name: [] for name in arms}
    for i, batch in enumerate(batches):
        for name, (model, opt) in arms.items():
            t = sft_step(model, opt, batch, keep_grads=True)  # the gradients count as held memory
            if i >= 2:
                times[name].append(t)
    held = {name: held_bytes(*arms[name]) for name in arms}
    trained = {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, (m, _) in arms.items()}
    print(f"SmolLM2-135M-Instruct, batch {args.batch_size} of facts2text (chat template), LoRA rank {args.rank}; "
          f"{torch.get_num_threads()} threads; median of {len(times['full'])} steps per arm")  # fmt: skip
    print(f"trained parameters: full {trained['full'] / 1e6:.1f}M | LoRA {trained['lora'] / 1e6:.2f}M")
    t_full, t_lora = statistics.median(times["full"]), statistics.median(times["lora"])
    print(f"step time      full {1000 * t_full:8.1f} ms | LoRA {1000 * t_lora:8.1f} ms | ratio LoRA/full {t_lora / t_full:.3f}")
    for part in ("weights", "gradients", "optimizer"):
        f, l = held["full"][part], held["lora"][part]
        print(f"{part:>10}     full {f / 2**20:8.1f} MiB | LoRA {l / 2**20:8.1f} MiB")
    f, l = sum(held["full"].values()), sum(held["lora"].values())
    print(f"weights + gradients + optimizer state: full {f / 2**20:.1f} MiB | LoRA {l / 2**20:.1f} MiB | "
          f"ratio LoRA/full {l / f:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
