"""Keep Ctrl-C and SIGTERM from cutting a rollback in half: they are held back and delivered once it is done."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration of the block, then act on the first one that arrived."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives Python's signal handlers
        return
    arrived: list[int] = []
    previous: dict[int, Any] = {}
    for number in _HELD:
        previous[number] = signal.signal(number, lambda received, _frame: arrived.append(received))
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        if arrived:
            handler = previous[arrived[0]]
            if callable(handler):
                handler(arrived[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(arrived[0])
