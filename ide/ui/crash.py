"""Never crash: an exception that escapes a Qt slot would abort the whole process under PyQt6 (it calls
``qFatal`` when there is no ``sys.excepthook`` of our own). :func:`install_excepthook` logs the traceback,
shows a dialog with a "Copy details" button, and lets the application run on.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Callable

from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("ide.ui")

#: How many dialogs one burst of the same error may open (a paint error would otherwise repeat forever).
MAX_DIALOGS_PER_ERROR = 1


def crash_text(exc_type, exc, tb) -> str:
    """The traceback as text, with the versions that help a bug report."""
    from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR

    from ide import __version__
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    return f"MiPy Studio {__version__}, Python {sys.version.split()[0]}, Qt {QT_VERSION_STR} / PyQt " \
           f"{PYQT_VERSION_STR}, {sys.platform}\n\n{details}"


def show_crash_dialog(text: str, summary: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Critical, "Something went wrong",
                      "MiPy Studio ran into a problem it did not expect. It keeps running; your files are "
                      f"safe.\n\n{summary}\n\nIf it happens again, please report it with the details.",
                      QMessageBox.StandardButton.Close, QApplication.activeWindow())
    box.setObjectName("crash_dialog")
    box.setDetailedText(text)
    copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
    copy.clicked.disconnect()  # an action button would close the box: copy, and stay
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
    box.show()
    return box


class CrashHandler:
    """The ``sys.excepthook``: log, then ``report(text, summary)`` (a dialog by default; tests replace it)."""

    def __init__(self, report: Callable[[str, str], object] | None = None):
        self.report = report or show_crash_dialog
        self.seen: dict[str, int] = {}
        self.dialogs: list = []

    def __call__(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()  # Ctrl-C in the terminal that started the app
            return
        text = crash_text(exc_type, exc, tb)
        log.error("unexpected error:\n%s", text)
        summary = f"{exc_type.__name__}: {exc}"
        key = "".join(traceback.format_exception(exc_type, exc, tb)[-2:])
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] > MAX_DIALOGS_PER_ERROR:
            return
        try:
            self.dialogs.append(self.report(text, summary))
        except Exception:  # a dialog that cannot open must not become the next crash
            log.exception("could not show the error dialog")


def install_excepthook(report: Callable[[str, str], object] | None = None) -> CrashHandler:
    """Make :class:`CrashHandler` the process's ``sys.excepthook``; returns it."""
    handler = CrashHandler(report)
    sys.excepthook = handler
    return handler
