"""The KL to the start (RL's Razor's predictor of forgetting): against a direct computation from
the two models' logits, 0 at row 0, growing as training moves the model; what a task cost."""
import copy
import gc
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from cl.evaluation.generate import answer_budget
from cl.evaluation.kl_to_start import KLToStart
from cl.models import tiny_llama
from cl.objectives import SFT
from cl.streams import Stream, make_task
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.test_loop import make_trainer

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)


def kl_loop(steps: int, prompts: int = 12, optimizer=partial(torch.optim.AdamW, lr=1e-2), folder=None, writer=True):
    model, tok = tiny_llama(**SIZES)
    tasks = [make_task(n, n, n_train=200, n_eval=20, min_len=2, max_len=4) for n in ("reverse", "shift")]
    module = ContinualModule(model.train(), tok, SFT(), [], optimizer)
    kl = KLToStart(prompts, seed=0, batch_size=5, folder=folder, writer=writer)
    return ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(steps, 16, 64, seed=0), kl=kl)


def direct_kl(start, model, tok, encoder, task, examples) -> tuple[float, float]:
    """Per answer token, over the whole vocabulary: each prompt answered greedily by `model` with
    transformers' generate (its own tokens, up to and with its stop token), both models run on
    prompt + answer one sequence at a time."""
    budget = answer_budget(encoder, task)  # the evaluation budget, as generation-based evaluation uses
    stops = encoder.stop_ids(task)
    forward, reverse, count = 0.0, 0.0, 0
    model.eval()
    for prompt_ids in encoder.prompts(task, [p for p, _ in examples]):
        ids = torch.tensor([prompt_ids])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=budget, do_sample=False,
                             eos_token_id=stops, pad_token_id=tok.pad_token_id)[0, len(prompt_ids):].tolist()  # fmt: skip
        answer = out[: next((k + 1 for k, t in enumerate(out) if t in stops), len(out))]
        if answer[-1:] != [encoder.end_id(task)] and answer[-1:] != [tok.eos_token_id]:
            answer.append(encoder.end_id(task))  # cut by the budget: the end token training would append
        seq = torch.tensor([prompt_ids + answer])
        with torch.no_grad():
            p = F.log_softmax(model(seq).logits[0, len(prompt_ids) - 1 : -1].double(), -1)
            p0 = F.log_softmax(start(seq).logits[0, len(prompt_ids) - 1 : -1].double(), -1)
        forward += float((p0.exp() * (p0 - p)).sum())
        reverse += float((p.exp() * (p - p0)).sum())
        count += len(answer)
    return forward / count, reverse / count


def test_kl_is_zero_at_row_0_grows_with_training_and_equals_a_direct_computation():
    loop = kl_loop(steps=60)
    start = copy.deepcopy(loop.module.model).eval()
    loop.run()
    rows = loop.general_columns()
    forward, reverse = rows["kl_start"], rows["kl_start_reverse"]
    assert len(forward) == 3 and abs(forward[0]) < 1e-6 and abs(reverse[0]) < 1e-6  # the start against itself
    assert forward[1] > 0.05 and reverse[1] > 0.05  # trained on reverse: moved away on its prompts
    # the final row, measured on the last task's sampled prompts, against the direct computation
    task, module = loop.stream.tasks[1], loop.module
    f, r = direct_kl(start, module.model, module.tokenizer, module.encoder, task, loop.kl.sample(task))
    assert forward[2] == pytest.approx(f, rel=1e-4) and reverse[2] == pytest.approx(r, rel=1e-4)


def test_a_start_spilled_to_a_file_measures_the_same_and_holds_no_weights_between_measurements(tmp_path):
    held, spilled = kl_loop(steps=20), kl_loop(steps=20, folder=tmp_path)
    other = kl_loop(steps=20, folder=tmp_path / "other", writer=False)  # a process that does not write the folder
    for loop in (held, spilled, other):
        loop.run()
    assert spilled.general_columns() == held.general_columns() == other.general_columns()
    assert spilled.general_columns()["kl_start"][1] > 0
    assert all(p.numel() == 0 for p in spilled.kl.start.parameters())  # not beside training, nor after it
    assert spilled.kl.spill == tmp_path / "kl_start.safetensors" and spilled.kl.spill.is_file()
    assert other.kl.spill.parent != tmp_path / "other" and other.kl.spill.is_file()  # its own temporary file
    temporary = other.kl.spill
    del other, loop
    gc.collect()
    assert not temporary.exists()
    assert spilled.kl.state_dict()["start"] == {"file": "kl_start.safetensors"}  # checkpoints name the file
    for writer in (True, False):  # a resumed run: every process reads the run folder's file
        again = KLToStart(12, seed=0, batch_size=5, folder=tmp_path, writer=writer)
        again.load_state_dict(spilled.kl.state_dict(), kl_loop(steps=0).module.model)
        with again.start_model(torch.device("cpu")) as start, held.kl.start_model(torch.device("cpu")) as reference:
            assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), reference.state_dict().values()))
    (tmp_path / "kl_start.safetensors").unlink()  # gone: the run goes on without the KL
    again.load_state_dict(spilled.kl.state_dict(), kl_loop(steps=0).module.model)
    assert again.start is None and again.rows == []


def test_kl_grows_with_the_steps_trained():
    small, large = kl_loop(steps=5), kl_loop(steps=60)
    small.run()
    large.run()
    assert 0 < small.general_columns()["kl_start"][1] < large.general_columns()["kl_start"][1]


def test_the_cost_records_the_optimizer_state_of_what_trains():
    loop = kl_loop(steps=3)
    loop.run()
    n = sum(p.numel() for p in loop.module.model.parameters())
    # AdamW keeps two fp32 moments per trained parameter (and a step counter per tensor)
    assert loop.module.cost["trainable_params"] == n
    assert 8 * n <= loop.module.cost["optimizer_state_bytes"] < 8 * n + 4 * 64
    sgd = kl_loop(steps=3, optimizer=partial(torch.optim.SGD, lr=1e-2))
    sgd.run()
    assert sgd.module.cost == {"trainable_params": n, "optimizer_state_bytes": 0}  # plain SGD keeps nothing
