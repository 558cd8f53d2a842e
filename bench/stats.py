"""Pure statistics on lists of timings: no I/O, no torch.

Percentiles use linear interpolation between closest ranks (numpy's default, "type 7" in
Hyndman & Fan 1996). The median's confidence interval is distribution-free, from binomial
order statistics (Conover, *Practical Nonparametric Statistics*, 3rd ed., section 3.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation: sample stdev / mean."""
    m = mean(values)
    return stdev(values) / m if m else 0.0


def median_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (normal approximation to the binomial).

    With fewer than 6 values no order-statistic interval reaches 95%, so the full range is returned.
    """
    data = sorted(values)
    n = len(data)
    if n < 6:
        return data[0], data[-1]
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half))
    return data[lo], data[hi]


def median_ci_ok(values: Sequence[float], target: float, confidence: float = 0.95) -> bool:
    """True when the median's CI half-width is within ``target`` (relative) of the median."""
    if len(values) < 6:
        return False
    lo, hi = median_ci(values, confidence)
    med = percentile(values, 50)
    return med > 0 and (hi - lo) / 2 / med <= target
