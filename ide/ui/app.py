"""Start the GUI: ``run_app`` creates the QApplication and the main window and runs the event loop."""

from __future__ import annotations

import sys

from PyQt6.QtWidgets import QApplication

from ide.ui.settings import APPLICATION, ORGANISATION


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists), named so QSettings finds the user's settings."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    # The taskbar and the desktop entry (packaging/linux/mipy-studio.desktop) find the icon through this name.
    app.setDesktopFileName("mipy-studio")
    from ide.ui.icons import app_icon
    app.setWindowIcon(app_icon())
    return app


def create_window(port: str | None = None, **window_options):
    """The main window, shown; connects to ``port`` when given ("virtual" for the virtual board)."""
    from ide.ui.main_window import MainWindow

    window = MainWindow(**window_options)
    window.show()
    if port:
        window.connect_board(port)
    return window


def run_app(port: str | None = None) -> int:
    """Open the main window (connected to ``port`` if given) and run until it closes; the exit status."""
    app = create_app()
    from ide.ui.crash import install_excepthook
    install_excepthook()  # an exception in a slot is reported and the app runs on (PyQt6 would abort)
    window = create_window(port)
    status = app.exec()
    window.connection.shutdown()  # already done when the window closed; harmless again
    return status
