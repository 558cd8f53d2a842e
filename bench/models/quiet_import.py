"""diffusers imported once, without the import-time noise of optional libraries.

With the ``optimise`` extra installed, the first ``import diffusers`` of a process loads torchao, which logs one
line per GPU kernel library it cannot load on this machine, torch logs deprecation warnings for torchao's enums,
and diffusers' torchao quantizer logs that it could not import torchao's tensor types. None of it is about the
user's command, and on the CPU all of it is expected; kbench says itself what a missing kernel means for a run
(the optimisation sweep's skip reasons). Only that first import is quieted; later warnings are left alone.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator
from types import ModuleType

NOISY_AT_IMPORT = ("torchao", "torch.utils._pytree", "diffusers")


@contextlib.contextmanager
def _loggers_at_error(names: tuple[str, ...]) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def import_diffusers() -> ModuleType:
    """``diffusers``, imported (the first time) with the optional libraries' import-time warnings held back."""
    with _loggers_at_error(NOISY_AT_IMPORT):
        import diffusers  # sets its own root logger's level on import: quieted again below

        with _loggers_at_error(("diffusers",)), contextlib.suppress(ImportError):
            importlib.import_module("diffusers.quantizers.torchao.torchao_quantizer")  # it first touches torchao

    return diffusers


__all__ = ["import_diffusers"]
