"""RFT training speed: cl's RFT objective in its Lightning loop against TRL's GRPOTrainer doing
the same work, measured in one run.

Same tiny model (the default tiny Llama, weights after a short SFT warm-up so that groups
carry signal), same prompts (the default stream's tasks in turn), same group size and
completion length, temperature 1, AdamW at the same learning rate, gradient clipping at 1.0,
token-level loss (TRL `dapo` = cl `token`), no KL, no group filtering in cl (TRL has none), fp32.
cl runs each prompt once per group (one prefill for sampling, one prompt pass for the
log-probabilities, its cache repeated for the group's completions); TRL runs every copy.
Each side trains `--steps` optimizer steps of `--prompts` prompts x `--group` completions;
steps per second are taken over the whole training call, set-up excluded. Runs alternate
(cl, TRL, cl, TRL, ...) and the median of each is reported.

With `--model smollm2`: SmolLM2-135M-Instruct as loaded (no warm-up), the word_math task's
prompts with its system prompt in SmolLM2's chat template on both sides (TRL's conversational
prompts), rewarded by the task's numeric scorer; defaults 4 prompts x 8 completions, up to 32 new
tokens, 5 steps, learning rate 1e-6.
Run: .venv/bin/python -m benchmarks.rft_vs_trl [--steps 30] [--repeats 3] [--model smollm2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import adamw, default_model, default_tasks, quiet_trainer
from cl.core.paths import DATA_DIR
from cl.models import smollm2
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.objectives import RFT, SFT
from cl.streams import Stream, Task, file_task

# per model: its loader, and the defaults of prompts, group, new tokens, steps, learning rate
MODELS = {"tiny": (default_model, dict(prompts=16, group=8, max_new_tokens=8, steps=30, lr=3e-4)),
          "smollm2": (smollm2, dict(prompts=4, group=8, max_new_tokens=32, steps=5, lr=1e-6))}  # fmt: skip


def mixed_task(n: int) -> Task:
    """One task whose examples are the default stream's tasks in turn, checked by their own."""
    tasks = default_tasks(n_train=n, n_eval=8)
    examples = [tasks[i % len(tasks)].train[i // len(tasks)] for i in range(n)]
    owner = {prompt: tasks[i % len(tasks)] for i, (prompt, _) in enumerate(examples)}
    return Task("mixed", examples, examples[:8], check=lambda prompt, completion: owner[prompt].check(prompt, completion))


def warm_start(task: Task, steps: int = 300) -> dict:
    """Weights of the default model after `steps` SFT steps on the task."""
    torch.manual_seed(0)
    model, tok = default_model()
    module = ContinualModule(model.train(), tok, SFT(), [], adamw())
    loop = ContinualLoop(module, Stream([task]), quiet_trainer, TrainingPlan(steps, 32))
    loop.fit(loop.train_data[0], steps, "warm")
    return {k: v.clone() for k, v in model.state_dict().items()}


def word_math() -> Task:
    """conf/task/word_math.yaml's task: arithmetic word problems, numeric answers, a system prompt."""
    return file_task("word_math", f"{DATA_DIR}/trace/word_math", eval_split="test", system="Answer with the number only.",
                     scorer="numeric", n_eval=8)  # fmt: skip


def saveable(model):
    """`model` rebuilt from its config without the GGUF quantization record (transformers does not
    save a model loaded from a GGUF file), with its weights."""
    from transformers import AutoModelForCausalLM

    config = model.config.to_dict()
    config.pop("quantization_config", None)
    fresh = AutoModelForCausalLM.from_config(type(model.config).from_dict(config))
    fresh.load_state_dict(model.state_dict())
    return fresh


def cl_run(task, weights, args) -> float:
    model, tok = MODELS[args.model][0]()
    model.load_state_dict(weights)
    objective = RFT(group_size=args.group, max_new_tokens=args.max_new_tokens, aggregation="token", group_filter="none")
    module = ContinualModule(model.train(), tok, objective, [], adamw(args.lr))
    module.begin_task(0, task)
    trainer = lambda **kw: quiet_trainer(gradient_clip_val=1.0, **kw)  # noqa: E731
    loop = ContinualLoop(module, Stream([task]), trainer, TrainingPlan(args.steps, args.prompts))
    start = time.perf_counter()
    loop.fit(loop.train_data[0], args.steps, "rft")
    return time.perf_counter() - start


def trl_run(task, folder: Path, tokenizer, args) -> float:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    bos, chat = "<s>", task.system is not None  # the tiny model's prompts start with BOS; SmolLM2's are chats

    def reward(prompts, completions, **_):
        if chat:  # conversational: the user's message, the assistant's reply
            return [task.check(p[-1]["content"], c[0]["content"]) for p, c in zip(prompts, completions)]
        return [task.check(p[len(bos):], c) for p, c in zip(prompts, completions)]

    def prompt(text: str):
        return [{"role": "system", "content": task.system}, {"role": "user", "content": text}] if chat else bos + text

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.start

    config = GRPOConfig(
        output_dir=str(folder / "trl"), max_steps=args.steps, per_device_train_batch_size=args.prompts * args.group,
        num_generations=args.group, max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0,
        learning_rate=args.lr, lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0, beta=0.0,
        loss_type="dapo", scale_rewards="group", bf16=False, use_cpu=not torch.cuda.is_available(),
        report_to="none", save_strategy="no", logging_steps=10**6, disable_tqdm=True, dataloader_num_workers=0,
        seed=0,
    )  # fmt: skip
    clock = Clock()
    trainer = GRPOTrainer(
        model=str(folder / "start"), reward_funcs=reward, args=config, processing_class=tokenizer,
        train_dataset=Dataset.from_list([{"prompt": prompt(p)} for p, _ in task.train]), callbacks=[clock],
    )  # fmt: skip
    trainer.train()
    return clock.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=list(MODELS), default="tiny")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompts", type=int)
    ap.add_argument("--group", type=int)
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--lr", type=float)
    args = ap.parse_args()
    for key, value in MODELS[args.model][1].items():  # the model's defaults where not given
        setattr(args, key, value if getattr(args, key) is None else getattr(args, key))
    model, tok = MODELS[args.model][0]()
    if args.model == "tiny":
        task = mixed_task(2000)
        model.load_state_dict(warm_start(task))
    else:
        task = word_math()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    times = {"cl": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        saveable(model).save_pretrained(Path(tmp) / "start")
        tok.save_pretrained(Path(tmp) / "start")
        for _ in range(args.repeats):
            times["cl"].append(cl_run(task, weights, args))
            times["trl"].append(trl_run(task, Path(tmp), tok, args))
    device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"
    setting = "default tiny Llama" if args.model == "tiny" else "SmolLM2-135M-Instruct, word_math in its chat template"
    print(f"{args.steps} steps of {args.prompts} prompts x {args.group} completions, up to {args.max_new_tokens} "
          f"new tokens, {setting}, {device}")  # fmt: skip
    rates = {name: args.steps / statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(f"{name:>4}: {rates[name]:6.2f} steps/s (median of {', '.join(f'{t:.1f}' for t in ts)} s)")
    print(f"ratio cl/TRL steps per second: {rates['cl'] / rates['trl']:.2f}")


if __name__ == "__main__":
    main()
