"""The one interface every device sampler implements, and the units they share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

DEFAULT_INTERVAL_S = 0.05
MIB = 1024**2  # "MB" in field names is MiB, as nvidia-smi and torch report it

Reading = dict[str, float | None]


@runtime_checkable
class DeviceSampler(Protocol):
    """A source of instantaneous readings, polled by :class:`~bench.measure.samplers.thread.SamplerThread`.

    Which fields are supported is decided once, when the sampler is opened; an unsupported field reads
    ``None`` every time, so a time series never mixes "unsupported" with "failed once".
    """

    name: str
    fields: tuple[str, ...]

    def read(self) -> Reading:
        """Take one reading: a value (or ``None``) for every name in ``fields``."""
        ...

    def close(self) -> None:
        """Release the device handle; safe to call more than once."""
        ...
