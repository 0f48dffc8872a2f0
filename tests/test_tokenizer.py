from transformers import AutoTokenizer

from cl.models import char_tokenizer


def test_one_token_per_character_and_round_trip(tmp_path):
    tok = char_tokenizer()
    text = "add 12+34= dcba"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text, add_special_tokens=False)["input_ids"] == ids
