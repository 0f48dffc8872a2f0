"""GaLore, Control LLM and CoFiTune against full fine-tuning on SmolLM2-135M-Instruct: time per
training step and optimizer-state bytes, as ratios measured in one run.

Each method is paired with a fresh full fine-tuning arm (AdamW on every weight) from the same
weights; the two arms train the same batches of the shipped facts2text task (chat template,
SFT loss on answer tokens), steps alternating between them, warm-up steps excluded, medians
compared. The arms are built as cl builds them: GaLore by conf/optimizer/galore.yaml's factory
(here at --rank), Control LLM by the adapter at its defaults (its alignment loss added to each
step), CoFiTune by the strategy at its defaults inside a ContinualModule (coarse freezing at the
task start, importances from its dropout passes, gradients scaled before each optimizer step);
CoFiTune's importance pass, a once-per-task cost, is timed on its own.
Run: .venv/bin/python -m benchmarks.what_trains [--steps 8] [--batch-size 8] [--rank 128]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import optimizer_bytes, sft_step
from cl.models import smollm2
from cl.models.control_llm import ControlLLM
from cl.objectives.sft import SFT
from cl.strategies import CoFiTune
from cl.streams import file_task
from cl.streams.encoding import Collator, Encoder
from cl.training.galore import galore
from cl.training.module import ContinualModule

DATA = Path(__file__).resolve().parent.parent / "data"


def adamw(model: torch.nn.Module, lr: float = 5e-5) -> torch.optim.Optimizer:
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)


def galore_arm(base, args, task):
    model = copy.deepcopy(base)
    opt = galore(list(model.named_parameters()), lr=5e-5, rank=args.rank)
    return model, opt, {}, {}


def control_llm_arm(base, args, task):
    adapter = ControlLLM()
    model = adapter.wrap(copy.deepcopy(base))
    return model, adamw(model), {"penalty": lambda: adapter.penalty(model)}, {}


def cofitune_arm(base, args, task):
    model, tok = copy.deepcopy(base), args.tokenizer
    strategy = CoFiTune(seed=0)
    module = ContinualModule(model, tok, objective=SFT(), strategies=[strategy], encoder=Encoder(tok, 512))
    start = time.perf_counter()
    module.begin_task(0, task)  # freezes all but its range, then computes the importances
    extra = {"task start (freezing + importance)": time.perf_counter() - start}
    return model, adamw(model), {"edit_gradients": lambda: strategy.before_optimizer_step(module)}, extra


ARMS = {"galore": galore_arm, "control_llm": control_llm_arm, "cofitune": cofitune_arm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rank", type=int, default=128, help="GaLore's rank (the paper's for models of 60M-1B parameters)")
    ap.add_argument("--arms", default=",".join(ARMS), help=f"a comma-separated subset of {', '.join(ARMS)}")
    args = ap.parse_args()
    torch.manual_seed(0)
    base, tok = smollm2()
    args.tokenizer = tok
    task = file_task("facts2text", DATA / "instruct/facts2text.csv", answer_field="sentence", scorer="rouge_l",
                     template="Write one sentence about this person.\nName: {name}\nCity: {city}\nJob: {job}\nHobby: {hobby}")  # fmt: skip
    encoder, collate = Encoder(tok, 512), Collator(tok.pad_token_id)
    data = encoder.encode(task, task.train[: args.batch_size * (args.steps + 2)])
    batches = [collate(data[i : i + args.batch_size]) for i in range(0, len(data), args.batch_size)]
    print(f"SmolLM2-135M-Instruct, batch {args.batch_size} of facts2text (chat template); {torch.get_num_threads()} "
          f"threads; each method against its own full fine-tuning arm, median of {len(batches) - 2} steps per arm")  # fmt: skip
    for name in args.arms.split(","):
        full = copy.deepcopy(base).train()
        full_opt = adamw(full)
        model, opt, hooks, extra = ARMS[name](base, args, task)
        model.train()
        times = {"full": [], name: []}
        for i, batch in enumerate(batches):
            for arm, m, o, h in (("full", full, full_opt, {}), (name, model, opt, hooks)):
                t = sft_step(m, o, batch, keep_grads=True, **h)
                if i >= 2:  # warm-up steps excluded
                    times[arm].append(t)
        t_full, t_arm = statistics.median(times["full"]), statistics.median(times[name])
        b_full, b_arm = optimizer_bytes(full_opt), optimizer_bytes(opt)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"{name}: trained {trained / 1e6:.1f}M parameters")
        print(f"  step time        full {1000 * t_full:8.1f} ms | {name} {1000 * t_arm:8.1f} ms | ratio {t_arm / t_full:.3f}")
        print(f"  optimizer state  full {b_full / 2**20:8.1f} MiB | {name} {b_arm / 2**20:8.1f} MiB | ratio {b_arm / b_full:.3f}")
        for what, seconds in extra.items():
            print(f"  {what}: {seconds:.1f} s")
        del full, full_opt, model, opt


if __name__ == "__main__":
    main()
