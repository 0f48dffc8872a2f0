import pytest
import torch

from cl.core.distributed import StepShare
from cl.training.module import ContinualModule
from cl.families.language import answer_cross_entropy
from cl.objectives.sft import SFT
from cl.streams.encoding import IGNORE, Collator, encode


def test_labels_cover_answer_and_end_token_only(tiny):
    _, tok = tiny
    batch = Collator(tok.pad_token_id)(encode(tok, [("rev abc=", "cba"), ("cpy ab=", "ab")]))
    assert batch["input_ids"].shape == (2, 1 + 8 + 3 + 1)
    labelled = [tok.decode([i for i in row if i != IGNORE]) for row in batch["labels"].tolist()]
    assert labelled == ["cba</s>", "ab</s>"]
    assert batch["attention_mask"].sum(1).tolist() == [13, 11]


def test_loss_ignores_prompt_and_padding_positions(tiny):
    model, tok = tiny
    batch = Collator(tok.pad_token_id)(encode(tok, [("rev abcd=", "dcba"), ("cpy a=", "a")]))
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.detach()
    base = answer_cross_entropy(logits, batch["labels"])
    noisy = logits.clone()
    predicts_label = torch.zeros_like(batch["labels"], dtype=torch.bool)
    predicts_label[:, :-1] = batch["labels"][:, 1:] != IGNORE
    noisy[~predicts_label] += 5 * torch.randn_like(noisy[~predicts_label])
    assert torch.allclose(answer_cross_entropy(noisy, batch["labels"]), base)
    noisy[predicts_label] += 5 * torch.randn_like(noisy[predicts_label])
    assert not torch.allclose(answer_cross_entropy(noisy, batch["labels"]), base)


@pytest.mark.parametrize("accumulate,world", [(2, 1), (1, 2), (2, 2)])
def test_the_step_gradient_is_the_same_whatever_the_micro_batches_and_processes(tiny, accumulate, world):
    """Answers of 1 to 6 letters: every share of a step holds a different number of answer
    tokens, and the step's gradient (Lightning divides each micro-batch's loss by their number,
    DDP averages over processes) is still the one-batch gradient of the mean over all tokens."""
    model, tok = tiny
    module = ContinualModule(model, tok, SFT())
    family = module.family
    items = encode(tok, [("cpy " + "abcdef"[:k] + "=", "abcdef"[:k]) for k in (1, 6, 2, 5, 3, 4, 6, 1)])
    counts = torch.tensor([family.item_targets(item) for item in items])
    assert len(set(counts.tolist())) > 3

    def gradient(layout: list[StepShare]) -> torch.Tensor:
        model.zero_grad()
        for share in layout:
            module.step_share = share
            batch = {**family.collate(share.block(items)), "step_targets": counts}
            loss, _ = module.objective.loss(module, batch)
            (loss / (share.accumulate * share.world)).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    whole = gradient([StepShare()])
    shares = [StepShare(m, accumulate, r, world) for m in range(accumulate) for r in range(world)]
    assert torch.allclose(gradient(shares), whole, atol=1e-6) and whole.abs().max() > 1e-3
