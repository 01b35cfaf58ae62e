"""Progress from the core arrives as ``callback(done, total)``, often hundreds of times a second; the UI shows
at most five updates a second (as Thonny does), always the last one."""

from __future__ import annotations

import time
from typing import Callable

PROGRESS_MIN_INTERVAL_S = 0.2


class ProgressThrottle:
    """Pass ``callback(done, total)`` on at most every PROGRESS_MIN_INTERVAL_S; always the first and the last."""

    def __init__(self, emit: Callable[[int, int], None]):
        self._emit = emit
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= PROGRESS_MIN_INTERVAL_S:
            self._last = now
            self._emit(int(done), int(total))
