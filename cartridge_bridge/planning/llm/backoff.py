"""How long to wait before asking a provider again: its Retry-After, or exponential backoff with jitter."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

MAX_WAIT_SECONDS = 60.0  # a provider asking for longer than this is not waited for


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    if not headers:
        return None
    lowered = {str(name).lower(): str(value).strip() for name, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def backoff_seconds(retry: int, base: float, rng: random.Random | None = None) -> float:
    """The wait before retry number `retry` (0, 1, …): base · 2^retry, scaled by a jitter in [0.5, 1]."""
    jitter = 0.5 + (rng or random).random() / 2
    return min(MAX_WAIT_SECONDS, base * (2**retry) * jitter)
