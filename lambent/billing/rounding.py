"""Billed duration and GB-seconds: how Lambda turns an invocation into billable units. Pure.

Since 1 August 2025 Lambda bills the INIT phase of on-demand invocations for every runtime and
package type ("AWS Lambda standardizes billing for INIT Phase", AWS Compute Blog,
https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/): INIT is
billed like INVOKE, at the function's memory size, and a cold start's billed duration covers both
— as the REPORT line of a custom runtime always showed it (``Billed Duration`` = the INIT and the
INVOKE durations together, rounded up to the millisecond). What lambent implements:

    billed_ms = max(1, ceil(duration_ms + init_duration_ms))   # cold start (INIT reported)
    billed_ms = max(1, ceil(duration_ms))                      # warm start

and GB-seconds = billed_ms × MemorySize MB / 1024 / 1000, kept as an exact fraction.

The REPORT line's ``Billed Duration`` (and ``billedDurationMs`` of the JSON ``platform.report``)
is this same figure, computed by this function from the same two floats
(lambent/worker/environment.py), so the usage records equal the sum of the REPORT lines exactly.
A cold start whose init failed is billed the same way: its REPORT carries the failed init's
``Init Duration`` (docs/logs.md).
"""

from __future__ import annotations

import math
from fractions import Fraction

#: Ephemeral storage (``EphemeralStorage.Size``) included in the price of an invocation.
FREE_EPHEMERAL_MB = 512


def billed_duration_ms(duration_ms: float, init_duration_ms: float | None = None) -> int:
    """Milliseconds billed for one invocation: its INIT (if this invocation reported one) and
    INVOKE durations together, rounded up to 1 ms, at least 1 ms."""
    if duration_ms < 0 or (init_duration_ms is not None and init_duration_ms < 0):
        raise ValueError("durations cannot be negative")
    if init_duration_ms is None:
        return max(1, math.ceil(duration_ms))
    return max(1, math.ceil(duration_ms + init_duration_ms))


def gb_seconds(billed_ms: int, memory_mb: int) -> Fraction:
    """GB-seconds of ``billed_ms`` at ``memory_mb``: billed ms × MB / 1024 / 1000, exactly."""
    return Fraction(billed_ms * memory_mb, 1024 * 1000)


def ephemeral_gb_seconds(billed_ms: int, ephemeral_mb: int) -> Fraction:
    """GB-seconds of ephemeral storage above the included 512 MB (0 at or below it)."""
    extra = max(0, ephemeral_mb - FREE_EPHEMERAL_MB)
    return Fraction(billed_ms * extra, 1024 * 1000)
