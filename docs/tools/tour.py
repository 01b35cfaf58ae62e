"""Take the screenshots of docs/tour.md: the real window on a real X display (run under Xvfb), from a fresh
settings file. Usage: Xvfb :95 -screen 0 1280x800x24 & DISPLAY=:95 python docs/tools/tour.py

Shots: first start (the start page), connected to the virtual board, Blink running (one click from the start
page), the board's files, the flasher, and the dark theme.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QApplication

from ide.board.virtual import VirtualBoardConfig
from ide.ui.main_window import MainWindow
from ide.ui.recovery import RecoveryStore
from ide.ui.settings import Settings

TOUR = Path(__file__).resolve().parent.parent / "tour"


def main() -> int:
    app = QApplication(sys.argv)
    work = Path(tempfile.mkdtemp(prefix="mipy-tour-"))
    os.environ["XDG_DOCUMENTS_DIR"] = str(work / "Documents")  # one-click projects go here
    (work / "board").mkdir()
    TOUR.mkdir(exist_ok=True)
    settings = Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    settings.theme = "light"
    window = MainWindow(settings, RecoveryStore(work / "recovery"),
                        VirtualBoardConfig(root_dir=work / "board", baud=0), restore_session=True)
    window.default_projects_dir = lambda: work / "Documents" / "MiPy Studio"
    window.local_tree.set_root(str(work))
    window.resize(1280, 800)
    window.show()
    shots: list[Path] = []

    def shot(name: str, widget=None) -> None:
        path = TOUR / f"{name}.png"
        (widget or window).grab().save(str(path))
        shots.append(path)

    def flasher() -> None:
        window.open_flasher()

    def flasher_shot() -> None:
        shot("5-flasher", window.flasher_wizard)
        window.flasher_wizard.reject()

    def dark() -> None:
        settings.theme = "dark"
        window.apply_settings()

    steps = [
        (2500, lambda: shot("1-first-start")),
        (0, window.try_virtual_board),
        (3500, lambda: shot("2-connected")),
        (0, lambda: window.run_template_now("blink")),
        (9000, lambda: shot("3-blink-running")),
        (0, lambda: (window.board_dock.raise_(), window.browser.refresh())),
        (0, lambda: None),
        (0, flasher),
        (2500, flasher_shot),
        (0, dark),
        (1500, lambda: shot("6-dark-theme")),
    ]
    # The board files are shown in the blink shot already (left pane); "4" is the same window, files listed.
    steps.insert(7, (3000, lambda: shot("4-board-files")))

    def run(index: int = 0) -> None:
        if index == len(steps):
            window.shutdown()
            app.quit()
            return
        delay, action = steps[index]
        QTimer.singleShot(delay, lambda: (action(), run(index + 1)))

    run()
    app.exec()
    print("\n".join(str(p) for p in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
