"""Prompt sets: the bundled ones per language (``bench/data/prompts``) or a user's text file.

A leaf module: the offline tokenizers (models) train on the bundled corpus and the workloads draw a run's
prompts from it, so neither room imports the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib import resources

from bench.errors import ScenarioError, clip
from bench.files import MAX_TEXT_BYTES, read_text_capped
from bench.spec import LANGUAGES

NEGATIVE_DEFAULT = "low quality, blurry"
MAX_PROMPT_BYTES = MAX_TEXT_BYTES


@cache
def load_prompt_set(language: str, prompt_set: str = "default") -> tuple[str, ...]:
    """Prompts of a bundled set (``default``) or of a text file path given as ``prompt_set``."""
    if prompt_set == "default":
        if language not in LANGUAGES:
            raise ScenarioError(f"languages: {language!r} has no bundled prompts; known: {', '.join(LANGUAGES)}")
        text = resources.files("bench.data").joinpath("prompts").joinpath(f"{language}.txt").read_text(encoding="utf-8")
    else:
        try:
            text = read_text_capped(prompt_set, "prompt set", ScenarioError, MAX_PROMPT_BYTES)
        except ScenarioError as exc:
            raise ScenarioError(f"prompt_set: {exc}; use 'default' or a UTF-8 text file, one prompt a line") from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if not prompts:
        raise ScenarioError(f"prompt_set: {clip(prompt_set)} holds no prompts (one a line; '#' starts a comment)")
    return prompts


def prompt_corpus() -> Iterator[str]:
    """Every bundled prompt in every language (the training text of the offline tokenizers)."""
    for language in LANGUAGES:
        yield from load_prompt_set(language)
