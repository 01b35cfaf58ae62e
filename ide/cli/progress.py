"""The command line's progress bar: core operations report ``callback(done, total)``; this draws one line on
stderr, at most every 0.1 s, always the last state."""

from __future__ import annotations

import sys
import time

REDRAW_INTERVAL_S = 0.1


class ProgressBar:
    """``min_total``: transfers smaller than this finish too fast to deserve a bar and draw nothing."""

    WIDTH = 30

    def __init__(self, label: str, min_total: int = 0):
        self.label = label
        self.min_total = min_total
        self.started = time.monotonic()
        self._last = 0.0
        self._open_line = False
        self._completed = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total < self.min_total or (done < total and now - self._last < REDRAW_INTERVAL_S):
            return
        if done >= total and self._completed:
            return  # several layers may each report the end
        self._completed = done >= total
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(fraction * self.WIDTH)
        rate = done / max(1e-6, now - self.started) / 1024
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:6.1%} "
                         f"{rate:6.1f} KB/s")
        self._open_line = done < total
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def finish(self) -> None:
        """End the line of a bar that stopped short (an error, a cancel)."""
        if self._open_line:
            sys.stderr.write("\n")
            self._open_line = False
