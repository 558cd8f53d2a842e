from __future__ import annotations

import pytest

from bench.models.tokenizers import build_tokenizer, layout_for
from bench.prompts import load_prompt_set


@pytest.mark.parametrize(("kind", "vocab"), [("clip", 49408), ("xlmr", 250002), ("t5", 32128), ("clip", 1000)])
def test_ids_within_vocab_and_specials_in_place(kind, vocab):
    tok = build_tokenizer(kind, vocab)
    layout = layout_for(kind, vocab)
    for lang in ("en", "ru", "zh", "de"):
        enc = tok(list(load_prompt_set(lang)), padding="max_length", max_length=layout.max_length, truncation=True)
        for ids in enc["input_ids"]:
            assert len(ids) == layout.max_length
            assert max(ids) < vocab
            assert layout.specials[layout.eos] in ids
            if layout.bos:
                assert ids[0] == layout.specials[layout.bos]


def test_clip_end_of_text_is_the_highest_id():
    """CLIP pools the hidden state at argmax(input_ids): that must be the end-of-text token."""
    tok = build_tokenizer("clip", 49408)
    ids = tok("A red cat on a windowsill", padding="max_length", max_length=77)["input_ids"]
    assert ids.index(max(ids)) == ids.index(49407)


def test_token_counts_are_word_like():
    """Trained subwords give token counts near a real tokenizer's (1-2 per English word), not per byte."""
    tok = build_tokenizer("t5", 32128)
    prompt = load_prompt_set("en")[0]
    n = len(tok(prompt)["input_ids"])
    words = len(prompt.split())
    assert words <= n <= 2 * words + 2


def test_model_max_length():
    assert build_tokenizer("t5", 32128).model_max_length == 128
    assert build_tokenizer("clip", 49408).model_max_length == 77


def test_qwen2_specials_sit_at_the_real_ids_and_nothing_is_appended():
    tok = build_tokenizer("qwen2", 152064)
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image_pad|>"]) == [
        151643,
        151644,
        151645,
        151655,
    ]
    ids = tok("<|im_start|>user\nкот<|im_end|>")["input_ids"]
    assert ids[0] == 151644 and ids[-1] == 151645  # markers kept whole; no end token added after them
    assert max(ids) < 152064
