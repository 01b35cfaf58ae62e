"""Take the README screenshots: the real window on a real X display (run under Xvfb), connected to a virtual
board, a file open and run. Usage: Xvfb :95 -screen 0 1280x800x24 & DISPLAY=:95 python docs/tools/screenshots.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QApplication

from ide.board.virtual import VirtualBoardConfig
from ide.ui.main_window import MainWindow
from ide.ui.recovery import RecoveryStore
from ide.ui.settings import Settings

DOCS = Path(__file__).resolve().parent.parent
EXAMPLE = '''"""Blink the on-board LED and print the temperature."""
import time
from machine import Pin

led = Pin(2, Pin.OUT)


def read_temperature():
    return 21.5 + (time.ticks_ms() % 1000) / 1000


for i in range(5):
    led.value(not led.value())
    print("tick", i, read_temperature())
    time.sleep(0.1)
'''


def main() -> int:
    app = QApplication(sys.argv)
    work = Path(tempfile.mkdtemp(prefix="mipy-shots-"))
    (work / "project").mkdir()
    (work / "board").mkdir()
    (work / "board" / "boot.py").write_text("# boot.py: runs at every start\n")
    source = work / "project" / "main.py"
    source.write_text(EXAMPLE)
    shots = []
    for theme in ("light", "dark"):
        settings = Settings(QSettings(str(work / f"settings-{theme}.ini"), QSettings.Format.IniFormat))
        settings.theme = theme
        window = MainWindow(settings, RecoveryStore(work / "recovery"),
                            VirtualBoardConfig(root_dir=work / "board", baud=0), restore_session=False)
        window.resize(1280, 800)
        window.show()
        window.local_tree.set_root(str(work / "project"))
        window.open_file(source)
        window.connect_board("virtual")
        loop_steps = [(1500, window.run_current_file), (2500, None)]
        done = {"n": 0}

        def step():
            delay, action = loop_steps[done["n"]]
            done["n"] += 1
            if action:
                action()
            if done["n"] < len(loop_steps):
                QTimer.singleShot(loop_steps[done["n"]][0], step)
            else:
                path = DOCS / f"screenshot-{theme}.png"
                window.grab().save(str(path))
                shots.append(path)
                window.shutdown()
                app.quit()

        QTimer.singleShot(loop_steps[0][0], step)
        app.exec()
    print("\n".join(str(path) for path in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
