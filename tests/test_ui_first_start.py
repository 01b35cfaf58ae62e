"""What a beginner meets: ports that pick themselves, the start page, the menus, a console that behaves like a
terminal, an editor that understands the board, and no crash. No board needed (the virtual board is not
started), so these stay quick."""

from __future__ import annotations

import os
import stat
import sys

import pytest
from PyQt6.QtCore import QEvent, QSettings, Qt
from PyQt6.QtGui import QKeyEvent

from ide.board.port_choice import choose_port, port_change
from ide.board.ports import PortInfo
from ide.lang.completion import complete
from ide.lang.stub_check import attribute_problems
from ide.lang.stubs import stub_dir
from ide.ui.console import ReplConsole, key_to_bytes, latin_letter_key
from ide.ui.crash import CrashHandler
from ide.ui.editor import EditorTabs, OpenFile, UnsavedChoice
from ide.ui.main_window import MainWindow
from ide.ui.recovery import RecoveryStore
from ide.ui.settings import Settings
from ide.ui.start_page import StartState, next_step

needs_stubs = pytest.mark.skipif(stub_dir("esp32") is None, reason="MicroPython stubs not installed (make venv)")
CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier

VIRTUAL = PortInfo("virtual", "Virtual board", 0)
LEGACY = PortInfo("/dev/ttyS0", "/dev/ttyS0", 0)
CP2102 = PortInfo("/dev/ttyUSB0", "ESP32/ESP8266 board (CP210x) on /dev/ttyUSB0", 3, 0x10C4, 0xEA60)
CH340 = PortInfo("/dev/ttyUSB1", "ESP32/ESP8266 board (CH340) on /dev/ttyUSB1", 3, 0x1A86, 0x7523)


# --- ports ---


def test_the_one_esp_port_is_picked_else_the_virtual_board_never_a_legacy_port():
    assert choose_port([LEGACY, VIRTUAL]) == "virtual"
    assert choose_port([CP2102, LEGACY, VIRTUAL]) == "/dev/ttyUSB0"
    # Two boards: a real choice; the one used last wins, else the virtual board.
    assert choose_port([CP2102, CH340, LEGACY, VIRTUAL], last_used="/dev/ttyUSB1") == "/dev/ttyUSB1"
    assert choose_port([CP2102, CH340, VIRTUAL]) == "virtual"
    # What the user picked stays picked while it is plugged in.
    assert choose_port([CP2102, LEGACY, VIRTUAL], picked="/dev/ttyS0") == "/dev/ttyS0"
    assert choose_port([CP2102, VIRTUAL], picked="/dev/ttyS0") == "/dev/ttyUSB0"
    assert choose_port([]) is None
    change = port_change([CP2102, VIRTUAL], [CH340, VIRTUAL])
    assert change.appeared == ("/dev/ttyUSB1",) and change.vanished == ("/dev/ttyUSB0",) and change
    assert not port_change([VIRTUAL], [VIRTUAL])


@pytest.fixture
def window(qtbot, tmp_path):
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    w = MainWindow(settings, RecoveryStore(tmp_path / "recovery"), restore_session=False)
    w.messages = []
    w.message_prompt = lambda title, text: w.messages.append(text)
    w.tabs.unsaved_prompt = lambda editor: UnsavedChoice.DISCARD
    w.port_watcher.stop()  # the tests below feed the port list themselves
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def test_port_list_follows_plugging_and_marks_an_unplugged_port(window):
    window.set_port_list([LEGACY, VIRTUAL])
    assert window.port_combo.currentData() == "virtual"
    window.set_port_list([CP2102, LEGACY, VIRTUAL])  # a board plugged in: picked by itself
    assert window.port_combo.currentData() == "/dev/ttyUSB0"
    assert "plugged in: /dev/ttyUSB0" in window.statusBar().currentMessage()
    window.set_port_list([LEGACY, VIRTUAL])  # pulled out while picked: still listed, marked, not selectable
    index = window.port_combo.findData("/dev/ttyUSB0")
    assert index >= 0 and window.port_combo.itemText(index).endswith("(unplugged)")
    assert not window.port_combo.model().item(index).isEnabled()
    assert window.port_combo.currentData() == "virtual"


# --- start page, menus, actions ---


def test_start_page_at_first_start_and_when_no_file_is_open(window, tmp_path):
    assert window.centre.currentWidget() is window.start_page
    assert window.start_page.templates.count() >= 1 and window.start_page.try_button.isVisibleTo(window)
    assert "Try without a board" in next_step(StartState())
    assert "Blink the LED" in next_step(StartState(connected=True, virtual=True))
    assert "Run project" in next_step(StartState(connected=True, project="blink"))
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    window.open_file(path)
    assert window.centre.currentWidget() is not window.start_page
    window.show_start_page()
    assert window.centre.currentWidget() is window.start_page
    window.close_tab_action.trigger()  # Ctrl+W on the last tab: back to the start page
    assert window.tabs.count() == 0 and window.centre.currentWidget() is window.start_page


def test_menus_a_current_ide_has(window, qtbot):
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles[-1] == "Help" and "Project" in titles
    edit = [a.text() for a in window.edit_menu.actions() if a.text()]
    for wanted in ("Undo", "Redo", "Cut", "Copy", "Paste", "Select all", "Comment or uncomment", "Indent",
                   "Go to line…", "Zoom in", "Find…"):
        assert wanted in edit
    assert window.close_tab_action.shortcut().toString() == "Ctrl+W"
    assert window.toolbar.toggleViewAction().text() == "Toolbar"
    assert not window.run_project_action.isEnabled()  # no project
    assert not window.windowIcon().isNull()
    window.about_action.trigger()
    text = window.about_box.text()
    assert "esptool" in text and "Qt" in text and "MicroPython" in text
    window.about_box.close()
    window.icons.load()
    assert not window.run_action.icon().isNull()


def test_save_all_and_edit_actions_act_on_the_current_editor(window, tmp_path):
    paths = [tmp_path / "one.py", tmp_path / "two.py"]
    for path in paths:
        path.write_text("a = 1\n")
        window.open_file(path).setText("b = 2\n")
    window.save_all_action.trigger()
    assert [p.read_text() for p in paths] == ["b = 2\n", "b = 2\n"]
    editor = window.tabs.current_editor()
    editor.setCursorPosition(0, 0)
    next(a for a in window.edit_menu.actions() if a.text() == "Comment or uncomment").trigger()
    assert editor.text().startswith("# b = 2")


# --- console ---


def test_console_keys_altgr_and_other_layouts():
    # AltGr on a German layout arrives as Ctrl+Alt with the character: it is typed, not a control code.
    assert key_to_bytes(Qt.Key.Key_BracketLeft, CTRL | ALT, "[") == b"["
    assert key_to_bytes(Qt.Key.Key_Backslash, CTRL | ALT, "\\") == b"\\"
    # Ctrl+C on a Cyrillic layout: the key reports "С"; the physical key is C.
    cyrillic_es = 0x0421
    assert key_to_bytes(cyrillic_es, CTRL, "\x03") == b""
    latin = latin_letter_key(54, 0, "linux")
    assert latin == Qt.Key.Key_C and key_to_bytes(cyrillic_es, CTRL, "", latin) == b"\x03"
    assert latin_letter_key(0, 0x43, "win32") == Qt.Key.Key_C


def test_console_claims_window_shortcuts_while_focused(qtbot):
    console = ReplConsole()
    qtbot.addWidget(console)
    for key in (Qt.Key.Key_F, Qt.Key.Key_Q, Qt.Key.Key_H, Qt.Key.Key_C, Qt.Key.Key_N):
        event = QKeyEvent(QEvent.Type.ShortcutOverride, key, CTRL)
        assert console._claims(event)
    assert not console._claims(QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_F5, Qt.KeyboardModifier.NoModifier))
    menu = console.context_menu()
    assert [a.text() for a in menu.actions() if a.text()][:4] == ["Copy", "Paste", "Select all", "Clear"]


def test_console_bare_newline_and_touchpad_scrolling(qtbot):
    console = ReplConsole(scrollback=100)
    qtbot.addWidget(console)
    console.resize(400, 200)
    console.feed(b"one\ntwo\nthree\r\n")
    assert console.text().splitlines()[:3] == ["one", "two", "three"]  # no staircase
    console.feed(b"".join(b"line %d\n" % i for i in range(60)))
    for _ in range(12):
        console._wheel(+10)  # small touchpad steps up
    assert console._scroll == 3
    for _ in range(12):
        console._wheel(-10)  # and down again
    assert console._scroll == 0


# --- editor ---


def test_tab_titles_unique_binary_read_only_and_markdown_not_python(qtbot, tmp_path):
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    for folder in ("blink", "sensor"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "main.py").write_text("print(1)\n")
        tabs.open_file(tmp_path / folder / "main.py")
    assert sorted(tabs.tabText(i) for i in range(2)) == ["main.py — blink", "main.py — sensor"]
    tabs.close_editor(tabs.editors()[1])
    assert tabs.tabText(0) == "main.py"
    mpy = tmp_path / "lib.mpy"
    original = b"M\x06\x00\x1f\xff\xfe\x00binary"
    mpy.write_bytes(original)
    editor = tabs.open_file(mpy)
    assert editor.is_binary and editor.isReadOnly() and "(read-only)" in tabs.tab_title(editor)
    with pytest.raises(PermissionError):
        editor.save()
    assert mpy.read_bytes() == original
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nSome *text* (not Python: no SyntaxError).\n")
    editor = tabs.open_file(readme)
    assert editor.lexer() is not None and editor.lexer().language() == "Markdown"
    assert editor.run_lint() == []


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes read-only files")
def test_save_is_atomic_and_a_read_only_file_is_left_whole(qtbot, tmp_path):
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    path = tmp_path / "ro.py"
    path.write_text("old = 1\n")
    editor = tabs.open_file(path)
    editor.setText("new = 2\n")
    path.chmod(stat.S_IRUSR)
    with pytest.raises(PermissionError):
        tabs.save(editor)
    assert path.read_text() == "old = 1\n" and list(tmp_path.iterdir()) == [path]


def test_save_replaces_the_file_in_one_step(qtbot, tmp_path):
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    path = tmp_path / "main.py"
    path.write_text("old = 1\n")
    path.chmod(0o640)
    editor = tabs.open_file(path)
    editor.setText("new = 2\n")
    inode = path.stat().st_ino
    tabs.save(editor)
    assert path.read_text() == "new = 2\n" and path.stat().st_ino != inode  # renamed over, not rewritten
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and list(tmp_path.iterdir()) == [path]


def test_enter_ends_the_line_unless_the_user_moved_into_the_list(qtbot):
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    tabs.show()
    editor = tabs.new_file()
    editor.setText("import time")
    editor.setCursorPosition(0, 11)
    editor.SendScintilla(editor.SCI_AUTOCSHOW, 4, b"time timeit")
    assert editor.completion_list_active()
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.text() == "import time\n"
    editor.setText("import ti")
    editor.setCursorPosition(0, 9)
    editor._list_navigated = False
    editor.SendScintilla(editor.SCI_AUTOCSHOW, 2, b"time timeit")
    qtbot.keyClick(editor, Qt.Key.Key_Down)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.text() == "import timeit"


@needs_stubs
def test_board_attribute_errors_and_completion_only_the_boards_names():
    problems = attribute_problems("import machine\nled = machine.Pin(2, machine.Pin.OUTT)\n"
                                  "led2 = machine.Pin(4, machine.Pin.OUT)\n", None, "esp32")
    assert [(p.line, p.message) for p in problems] == [(2, "machine.Pin has no attribute 'OUTT' on the board")]
    assert attribute_problems("class A:\n    pass\nA.anything\n", None, "esp32") == []  # not the stubs'
    names = [c.name for c in complete("import machine\nmachine.AD", 2, 10, None, "esp32")]
    assert "ADC" in names and "ADCWiPy" not in names
    assert "ALT" not in [c.name for c in complete("import machine\nmachine.Pin.AL", 2, 14, None, "esp32")]


# --- never crash ---


def test_crash_handler_reports_once_and_keeps_running():
    reports = []
    handler = CrashHandler(lambda text, summary: reports.append((text, summary)))
    for _ in range(3):
        try:
            raise ValueError("boom")
        except ValueError:
            handler(*sys.exc_info())
    assert len(reports) == 1 and "ValueError: boom" in reports[0][1] and "Traceback" in reports[0][0]


def test_an_unreadable_session_file_is_dropped_with_a_note(qtbot, tmp_path):
    good, gone = tmp_path / "good.py", tmp_path / "gone.py"
    good.write_text("x = 1\n")
    tabs = EditorTabs()
    qtbot.addWidget(tabs)
    dropped = tabs.restore_session([OpenFile(str(gone), 1, 0), OpenFile(str(good), 1, 0)])
    assert dropped == [str(gone)] and tabs.count() == 1
