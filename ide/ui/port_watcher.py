"""Looks at the serial ports every few seconds, off the UI thread, and says when the list changed (a board was
plugged in or pulled out). Listing ports reads /sys or the Windows registry and can stall for a moment on some
drivers, so it never runs on the UI thread.
"""

from __future__ import annotations

import logging
import threading

from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

if TYPE_CHECKING:
    from ide.board.ports import PortInfo

log = logging.getLogger(__name__)

#: How often to look: quick enough that a board plugged in shows up before the user looks for it.
SCAN_INTERVAL_MS = 2000


def _scan() -> list["PortInfo"]:
    from ide.board.ports import list_board_ports
    return list_board_ports()


class PortWatcher(QObject):
    """Scans on a short-lived thread; ``sig_ports`` carries each listing that differs from the previous one."""

    sig_ports = pyqtSignal(list)
    """The ports listed now (a list of :class:`ide.board.ports.PortInfo`), when it changed or was asked for."""

    _sig_scanned = pyqtSignal(list, bool)

    def __init__(self, parent: QObject | None = None, scan=_scan, interval_ms: int = SCAN_INTERVAL_MS):
        super().__init__(parent)
        self._scan_fn = scan
        self._busy = False
        self._forced = False
        self._last: list["PortInfo"] | None = None
        self._sig_scanned.connect(self._on_scanned)  # emitted on the scan thread, delivered here (queued)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(lambda: self.scan(force=False))

    @property
    def ports(self) -> list["PortInfo"]:
        """The last listing (empty before the first scan finished)."""
        return list(self._last or [])

    def start(self) -> None:
        """Scan now, then every ``interval_ms``."""
        self.scan(force=True)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def scan(self, force: bool = True) -> None:
        """Look now; ``force`` emits the result even when nothing changed (the user pressed refresh)."""
        self._forced = self._forced or force
        if self._busy:
            return
        self._busy = True
        threading.Thread(target=self._run, name="port-scan", daemon=True).start()

    def _run(self) -> None:
        try:
            ports = self._scan_fn()
            ok = True
        except Exception:  # a driver that fails to list: keep the old list, try again next time
            log.warning("listing serial ports failed", exc_info=True)
            ports, ok = [], False
        try:
            self._sig_scanned.emit(ports, ok)
        except RuntimeError:  # the watcher was deleted while the scan ran (window closed)
            pass

    def _on_scanned(self, ports: list, ok: bool) -> None:
        self._busy = False
        if not ok:
            return
        forced, self._forced = self._forced, False
        if forced or self._last is None or ports != self._last:
            self._last = ports
            self.sig_ports.emit(ports)
