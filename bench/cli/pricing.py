"""The price-policy and session options every costing command shares.

The prices themselves come from one place, the price book (:mod:`bench.cost.prices.book`), built from the
policy these options make.
"""

from __future__ import annotations

import typer

from bench.cost.costs import Session
from bench.cost.prices.policy import DEFAULT_MAX_AGE_DAYS, STATS, TIERS, PricePolicy
from bench.errors import KbenchError

TIER = typer.Option(
    None, "--tier", help=f"Price tier: {'|'.join(TIERS)} [default: on-demand and marketplace; spot shown beside]."
)
PRICE_STAT = typer.Option(
    None,
    "--price-stat",
    help=f"{'|'.join(STATS)} over the matching prices [default: median of live offers, cheapest catalog price].",
)
MAX_PRICE_AGE = typer.Option(
    DEFAULT_MAX_AGE_DAYS, "--max-price-age", help="Days after which a price is stale (still used when nothing fresher)."
)
# The one session size the commands that always cost a session use (cost, optimise-report): the ranking commands
# (recommend, offers) rank the steady state of a warm server unless a session is asked for.
DEFAULT_SESSION_IMAGES = 1000
SESSION_IMAGES = typer.Option(
    None,
    "--session-images",
    help="Cost a session of N images: model load, warmup and billing included (default: none, the steady state).",
)
SESSION_HOURS = typer.Option(None, "--session-hours", help="Cost a session of H rented hours instead of N images.")
CATALOG = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled catalog.")
PRICE = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable).")
PROVIDER = typer.Option([], "--provider", help="Only prices from providers containing this (repeatable).")
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout instead of the tables.")
MARKDOWN = typer.Option(False, "--markdown", help="Print GitHub markdown tables.")
# The workload options every "which GPU" command takes (recommend, offers, flops), named and explained once.
MODEL = typer.Option(..., "--model", help="Model id, e.g. kandinsky-3 (kbench models lists them).")
TASK = typer.Option("text2img", "--task", help="text2img, img2img, inpaint, outpaint or mix (the model's tasks).")
RESOLUTION = typer.Option("", "--resolution", help="WIDTHxHEIGHT (default: the model's).")
STEPS = typer.Option(None, "--steps", min=1, max=1000, help="Denoising steps (default: the model's).")
BATCH = typer.Option(1, "--batch", min=1, max=256, help="Prompts per pipeline call.")
DTYPE = typer.Option("fp16", "--dtype", help="fp16, bf16 or fp32.")


def make_policy(tier: str | None, stat: str | None, max_age_days: float, providers: list[str]) -> PricePolicy:
    """The policy the flags ask for.

    Raises:
        KbenchError: a flag value that is not allowed, named with what is.
    """
    try:
        return PricePolicy(tier=tier, stat=stat, max_age_days=max_age_days, providers=tuple(providers))
    except ValueError as exc:
        raise KbenchError(str(exc)) from None


MAX_SESSION_HOURS = 24 * 366 * 10  # ten years of renting: past it a session is not a question anyone asks
MAX_SESSION_IMAGES = 10**12  # and beyond the arithmetic of seconds in float64 staying exact to the second


def make_session(images: int | None, hours: float | None) -> Session | None:
    """The session ``--session-images``/``--session-hours`` ask for, or None for steady state only.

    Raises:
        KbenchError: both flags, or a value that is not positive.
    """
    if images is not None and hours is not None:
        raise KbenchError("--session-images and --session-hours: give one of them, not both")
    if images is not None and not 1 <= images <= MAX_SESSION_IMAGES:
        raise KbenchError(f"--session-images: must be a whole number from 1 to {MAX_SESSION_IMAGES:,}, got {images}")
    if hours is not None and not (0 < hours <= MAX_SESSION_HOURS):
        raise KbenchError(f"--session-hours: must be a number of hours > 0 and <= {MAX_SESSION_HOURS:,}, got {hours:g}")
    if images is None and hours is None:
        return None
    return Session(images=images, hours=hours)


def session_label(session: Session | None) -> str:
    if session is None:
        return ""
    return f"{session.images} images" if session.images is not None else f"{session.hours:g} h"


__all__ = [
    "CATALOG",
    "DEFAULT_SESSION_IMAGES",
    "JSON",
    "MARKDOWN",
    "MAX_PRICE_AGE",
    "PRICE",
    "PRICE_STAT",
    "PROVIDER",
    "SESSION_HOURS",
    "SESSION_IMAGES",
    "TIER",
    "make_policy",
    "make_session",
    "session_label",
]
