"""The main window against a real virtual board (the MicroPython unix port): connect, run, stop, tracebacks,
lint, recovery, and no UI freeze during a transfer."""

from __future__ import annotations

import time

import pytest
from PyQt6.QtCore import QSettings, Qt, QTimer

from ide.board.virtual import VirtualBoardConfig
from ide.ui.editor import UnsavedChoice
from ide.ui.main_window import MainWindow
from ide.ui.recovery import RecoveryStore
from ide.ui.settings import Settings
from tests.conftest import needs_virtual_board


def make_window(qtbot, tmp_path, board_dir=None, connect=True, **options) -> MainWindow:
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    board_dir = board_dir or tmp_path / "board"
    board_dir.mkdir(exist_ok=True)
    window = MainWindow(settings, RecoveryStore(tmp_path / "recovery"),
                        VirtualBoardConfig(root_dir=board_dir, baud=0), **options)
    window.messages = []
    window.message_prompt = lambda title, text: window.messages.append(text)
    window.tabs.unsaved_prompt = lambda editor: UnsavedChoice.DISCARD  # qtbot closes the window at the end
    qtbot.addWidget(window)
    window.resize(1100, 750)
    window.show()
    # The port list is filled by a scan off the UI thread, a moment after the window opens.
    qtbot.waitUntil(lambda: window.port_combo.findData("virtual") >= 0, timeout=5000)
    if connect:
        with qtbot.waitSignal(window.connection.sig_connected, timeout=15000):
            window.connect_board("virtual")
        qtbot.waitUntil(lambda: window.board_info is not None and not window.connection.busy, timeout=10000)
    return window


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    yield w
    w.shutdown()


def open_code(window, tmp_path, name, code):
    path = tmp_path / name
    path.write_text(code)
    return window.open_file(path)


@needs_virtual_board
def test_connect_shows_board_in_status_bar(window):
    assert window.windowTitle().endswith("MiPy Studio")
    assert window.connection.connected
    assert "MicroPython" in window.board_label.text() and "free" in window.board_label.text()
    assert window.port_combo.itemData(window.port_combo.count() - 1) == "virtual"  # always listed, last
    assert window.connect_action.text() == "Disconnect"


@needs_virtual_board
def test_run_file_output_in_console(qtbot, window, tmp_path):
    open_code(window, tmp_path, "hello.py", "for i in range(3):\n    print('hello', i * 7)\n")
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000) as blocker:
        window.run_current_file()
    assert blocker.args == [False]
    qtbot.waitUntil(lambda: "hello 14" in window.console.text())
    assert window.console.input_enabled


@needs_virtual_board
def test_program_reads_console_input(qtbot, window, tmp_path):
    open_code(window, tmp_path, "ask.py", "name = input('name? ')\nprint('hello', name)\n"
                                          "while True:\n    print('got', input())\n")
    window.run_current_file()
    qtbot.waitUntil(lambda: window.console.text().endswith("name?"), timeout=10000)
    assert window.console.input_enabled  # the console stays live while the program runs
    view = window.console.view
    qtbot.keyClicks(view, "Ada")
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "hello Ada" in window.console.text(), timeout=10000)
    qtbot.keyClicks(view, "second line")
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "got second line" in window.console.text(), timeout=10000)
    lines = window.console.text().splitlines()
    start = lines.index("— running ask.py —")
    assert lines[start + 1:start + 4] == ["name? Ada", "hello Ada", "second line"]  # echoed, no blank line
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)  # Ctrl-C in the console = Stop
    assert blocker.args == [True]
    assert "program stopped" in window.console.text()


@needs_virtual_board
def test_stop_interrupts_infinite_loop(qtbot, window, tmp_path):
    open_code(window, tmp_path, "loop.py", "n = 0\nwhile True:\n    n += 1\n")
    window.run_current_file()
    qtbot.waitUntil(lambda: window.connection.busy and window.job_label.text().startswith("Running"))
    qtbot.wait(300)
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000) as blocker:
        window.stop_action.trigger()
    assert blocker.args == [True]
    assert "program stopped" in window.console.text()
    # The board answers again afterwards.
    open_code(window, tmp_path, "after.py", "print('alive', 6 * 7)\n")
    with qtbot.waitSignal(window.sig_run_finished, timeout=10000):
        window.run_current_file()
    qtbot.waitUntil(lambda: "alive 42" in window.console.text())


@needs_virtual_board
def test_device_traceback_jumps_to_line(qtbot, window, tmp_path):
    editor = open_code(window, tmp_path, "broken.py", "a = 1\nb = 2\nprint(a / (b - 2))\n")
    editor.goto_line(1)
    with qtbot.waitSignal(window.sig_run_failed, timeout=10000) as blocker:
        window.run_current_file()
    assert blocker.args[0].exc_type == "ZeroDivisionError"
    assert editor.device_error_lines == [3]
    assert editor.cursor_line_column()[0] == 3
    assert "ZeroDivisionError" in window.console.text()
    assert not window.messages  # a traceback is shown in the console and the editor, not as a dialog


@needs_virtual_board
def test_pyflakes_warning_in_problems(qtbot, window, tmp_path):
    open_code(window, tmp_path, "lint.py", "import os\nprint(undefined_name)\n")
    qtbot.waitUntil(lambda: window.problems.problem_count() >= 2)
    texts = [window.problems.topLevelItem(0).child(i).text(0)
             for i in range(window.problems.topLevelItem(0).childCount())]
    assert any("os" in t and "unused" in t for t in texts)
    assert any("undefined_name" in t for t in texts)


def test_recovery_of_unsaved_buffer(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path, connect=False)
    editor = first.tabs.new_file()
    editor.setText("print('not saved yet')\n")
    saved = tmp_path / "kept.py"
    saved.write_text("x = 1\n")
    second_editor = first.open_file(saved)
    second_editor.setText("x = 2  # edited\n")
    assert first.autosave_now() == 2
    first.shutdown()  # a crash: no clean close, the recovery folder stays

    again = make_window(qtbot, tmp_path, connect=False, restore_session=False)
    asked = []
    again.recovery_prompt = lambda buffers: asked.append([b.name for b in buffers]) or True
    assert again.offer_recovery() == 2
    assert sorted(asked[0])[0] == "kept.py"
    texts = {e.text() for e in again.tabs.editors()}
    assert {"print('not saved yet')\n", "x = 2  # edited\n"} <= texts
    assert all(e.is_modified for e in again.tabs.editors())
    again.shutdown()


def test_session_and_layout_remembered(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path, connect=False)
    path = tmp_path / "session.py"
    path.write_text("a = 1\nb = 2\nc = 3\n")
    first.open_file(path).goto_line(3)
    first.plotter_dock.hide()
    first.close()  # clean exit: saves the session, empties the recovery folder
    assert not first.recovery.pending()

    again = make_window(qtbot, tmp_path, connect=False)
    editor = again.tabs.current_editor()
    assert editor is not None and editor.path == str(path.resolve())
    assert editor.cursor_line_column()[0] == 3
    assert again.plotter_dock.isHidden()
    again.shutdown()


def test_font_setting_applies_to_editors_and_port_picker_readable(qtbot, tmp_path):
    from PyQt6.Qsci import QsciLexerPython

    from ide.ui.settings import SettingsDialog

    window = make_window(qtbot, tmp_path, connect=False)
    path = tmp_path / "font.py"
    path.write_text("x = 1\n")
    editor = window.open_file(path)
    dialog = SettingsDialog(window.settings, "", window)
    dialog.font_size.setValue(17)
    dialog.font_family.setCurrentText("Liberation Mono")
    dialog.apply()
    window.apply_settings()
    for ed in (editor, window.tabs.new_file()):  # open tabs and new ones
        font = ed.lexer().font(QsciLexerPython.Keyword)
        assert (font.pointSize(), font.family()) == (17, "Liberation Mono")
    assert window.console._font.pointSize() == 17

    combo = window.port_combo
    index = combo.findData("virtual")
    assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole).startswith("Virtual board (MicroPython on this")
    readable = combo.fontMetrics().horizontalAdvance("Virtual board (MicroPython on this computer")
    assert combo.width() > readable
    assert combo.view().minimumWidth() > combo.fontMetrics().horizontalAdvance(combo.itemText(index))
    window.shutdown()


def test_run_project_needs_a_project(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, connect=False)
    # No project open and the project pane's folder holds none: Run project is off; F6 pressed anyway says why.
    assert not window.run_project_action.isEnabled()
    window.project_controller.run_project()
    assert window.messages and "Open a project" in window.messages[0] and "New project" in window.messages[0]
    window.run_current_file()  # not connected: a clear message, no crash
    window.shutdown()


@needs_virtual_board
def test_no_freeze_during_200kb_transfer(qtbot, window, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 800)  # 200 KB
    gaps = []
    last = [time.monotonic()]

    def tick():
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    with qtbot.waitSignal(window.browser.sig_transfer_done, timeout=30000):
        timer.start()
        window.browser.upload([big], "/")
    timer.stop()
    assert len(gaps) > 5
    assert max(gaps[1:]) < 0.25, f"UI blocked for {max(gaps[1:]):.3f} s"
    qtbot.waitUntil(lambda: "/big.bin" in window.browser.listed_paths(), timeout=10000)
    assert "uploaded big.bin" in window.console.text()
    assert window.console.input_enabled


def test_board_menu_opens_the_firmware_wizard(qtbot, tmp_path):
    from ide.ui.flasher_wizard import FlasherWizard
    window = make_window(qtbot, tmp_path, connect=False)
    window.flash_action.trigger()
    assert isinstance(window.flasher_wizard, FlasherWizard)
    assert window.flasher_wizard.isVisible()
    window.flasher_wizard.reject()
    window.shutdown()


def test_rescue_regains_a_board_whose_main_turns_ctrl_c_off(qtbot, tmp_path):
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    window = make_window(qtbot, tmp_path, connect=False)
    (board_dir / "main.py").write_text("import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n")
    window.rescue_prompt = lambda: True
    window.select_port("virtual")
    with qtbot.waitSignal(window.connection.sig_connected, timeout=30000):
        window.rescue_board()
    assert (board_dir / "main.py.disabled").exists() and not (board_dir / "main.py").exists()
    qtbot.waitUntil(lambda: "main.py moved to /main.py.disabled" in window.console.text(), timeout=5000)
    qtbot.waitUntil(lambda: window.board_info is not None, timeout=10000)
    window.shutdown()
