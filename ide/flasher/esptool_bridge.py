"""esptool's output, routed into our logging and progress callbacks.

esptool v5 writes through one replaceable logger (``esptool.logger.log.set_logger``, its public hook); nothing it
says reaches stdout while :func:`esptool_output` is active. Its progress bars arrive as ``progress_bar(done,
total)`` and go to the caller's ``progress(done, total)``.

One line escapes: esptool binds its "Chip was NOT reset" warning (a port without DTR/RTS, such as the simulated
chip's pty) to its console logger when it is imported, and prints it once per process. A real USB-serial bridge
never triggers it, and nothing public reroutes it, so it is left alone.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from esp_pylib.logger import EspLog
from esptool.logger import TemplateLogger, log as esptool_log

Progress = Callable[[int, int], None]

logger = logging.getLogger("ide.flasher.esptool")

# esptool keeps one global logger; operations that install ours must not interleave.
_install_lock = threading.RLock()
# esptool's own logger offers set_logger; once ours is installed, esptool's log proxy forwards to ours, which does
# not, so the method is taken while esptool's logger is still the one installed.
_set_esptool_logger = esptool_log.set_logger


class CallbackLogger(TemplateLogger):
    """esptool's TemplateLogger: text to :mod:`logging`, progress bars to a callback."""

    def __init__(self, progress: Progress | None = None):
        self.progress = progress

    def print(self, *args, **kwargs):
        text = kwargs.get("sep", " ").join(str(arg) for arg in args).strip()
        if text:
            logger.info("%s", text)

    def note(self, message: str):
        logger.info("note: %s", message)

    def warning(self, message: str):
        logger.warning("%s", message)

    def error(self, message: str):
        logger.error("%s", message)

    def stage(self, finish: bool = False):
        pass

    def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "",
                     bar_length: int = 30):
        if self.progress is not None:
            self.progress(cur_iter, total_iters)

    def set_verbosity(self, verbosity: str):
        pass


@contextmanager
def esptool_output(progress: Progress | None = None) -> Iterator[CallbackLogger]:
    """Install a :class:`CallbackLogger` for the duration of the block, restoring esptool's previous logger."""
    with _install_lock:
        previous = EspLog.instance
        callback_logger = CallbackLogger(progress)
        _set_esptool_logger(callback_logger)
        try:
            yield callback_logger
        finally:
            _set_esptool_logger(previous)
