import torch

from cl.objectives.sft import answer_cross_entropy
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
