"""Offline tokenizers with the real vocabulary bounds, special-token ids and maximum lengths.

Weights and tokenizer files cannot be downloaded everywhere the harness runs. What the compute of a
Kandinsky pipeline depends on is the padded sequence length (CLIP and XLM-R pad to 77, T5 to 128),
the real token count of the prompt (Kandinsky 3 trims its context to it), and ids that stay inside
the encoder's vocabulary with the special tokens where the encoder expects them (CLIP pools at the
highest id, the end-of-text token). A byte-level BPE trained at runtime on the bundled multilingual
prompt sets gives all of that: prompts split into word-like pieces as a real subword tokenizer does.
Real tokenizer files, when a local model directory has them, are always preferred (``hub`` weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from bench.prompts import prompt_corpus

TokenizerKind = Literal["clip", "xlmr", "t5", "qwen2"]
MAX_TRAINED_VOCAB = 8000


@dataclass(frozen=True)
class TokenizerLayout:
    """Where the special tokens sit, and how long sequences are, for one tokenizer family."""

    max_length: int
    specials: dict[str, int]  # token text -> id
    bos: str | None
    eos: str
    pad: str
    unk: str | None
    add_eos: bool = True  # Qwen2 appends nothing: chat templates carry their own markers


# Qwen2 / Qwen2.5-VL special tokens, at their real ids for the 152,064-row embedding (151,643 onward).
_QWEN2_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN2_SPECIALS_FROM_TOP = 152064 - 151643  # the first special sits this many ids below the vocabulary size


def layout_for(kind: TokenizerKind, vocab_size: int) -> TokenizerLayout:
    """Special-token layout of the real tokenizer family, scaled to ``vocab_size``."""
    if kind == "clip":
        # openai CLIP: <|startoftext|> = vocab-2, <|endoftext|> = vocab-1 (also the pad token).
        return TokenizerLayout(
            max_length=77,
            specials={"<|startoftext|>": vocab_size - 2, "<|endoftext|>": vocab_size - 1},
            bos="<|startoftext|>",
            eos="<|endoftext|>",
            pad="<|endoftext|>",
            unk=None,
        )
    if kind == "xlmr":
        return TokenizerLayout(
            max_length=77,
            specials={"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": vocab_size - 1},
            bos="<s>",
            eos="</s>",
            pad="<pad>",
            unk="<unk>",
        )
    if kind == "qwen2":
        first = vocab_size - QWEN2_SPECIALS_FROM_TOP
        return TokenizerLayout(
            max_length=131072,
            specials={token: first + i for i, token in enumerate(_QWEN2_SPECIALS)},
            bos=None,
            eos="<|im_end|>",
            pad="<|endoftext|>",
            unk=None,
            add_eos=False,
        )
    return TokenizerLayout(  # t5
        max_length=128,
        specials={"<pad>": 0, "</s>": 1, "<unk>": 2},
        bos=None,
        eos="</s>",
        pad="<pad>",
        unk="<unk>",
    )


@lru_cache(maxsize=16)
def _trained_model(budget: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE on the bundled prompts; return (vocab, merges) with ids 0..n-1."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=budget,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(prompt_corpus(), trainer=trainer)
    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return dict(state["vocab"]), [(a, b) for a, b in merges]


@lru_cache(maxsize=16)
def build_tokenizer(kind: TokenizerKind, vocab_size: int) -> object:
    """A ``PreTrainedTokenizerFast`` for ``kind`` whose ids all lie below ``vocab_size``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    layout = layout_for(kind, vocab_size)
    reserved = set(layout.specials.values())
    budget = min(MAX_TRAINED_VOCAB, vocab_size - len(reserved))
    base_vocab, merges = _trained_model(budget)
    free_ids = (i for i in range(vocab_size) if i not in reserved)
    vocab = {token: next(free_ids) for token, _ in sorted(base_vocab.items(), key=lambda kv: kv[1])}
    vocab.update(layout.specials)

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=layout.unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    eos_id = layout.specials[layout.eos]
    if not layout.add_eos:
        tok.add_special_tokens(list(layout.specials))  # matched whole in text, at their reserved ids
    elif layout.bos is not None:
        bos_id = layout.specials[layout.bos]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{layout.bos} $A {layout.eos}",
            pair=f"{layout.bos} $A {layout.eos} $B {layout.eos}",
            special_tokens=[(layout.bos, bos_id), (layout.eos, eos_id)],
        )
    else:
        tok.post_processor = processors.TemplateProcessing(
            single=f"$A {layout.eos}", pair=f"$A {layout.eos} $B {layout.eos}", special_tokens=[(layout.eos, eos_id)]
        )
    extra = {"mask_token": "<mask>"} if "<mask>" in layout.specials else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=layout.max_length,
        bos_token=layout.bos,
        eos_token=layout.eos,
        pad_token=layout.pad,
        unk_token=layout.unk,
        **extra,
    )
