"""ReplConsole against real pyte, with MicroPython's actual REPL byte sequences."""

import sys
import time

import pytest
from PyQt6.QtCore import QEvent, Qt
from PyQt6.QtGui import QGuiApplication, QKeyEvent

from ide.ui.console import (
    CTRL_C_INTERRUPT,
    CTRL_D_SOFT_RESET,
    PASTE_MODE_ENTER,
    PASTE_MODE_FINISH,
    REPAINT_INTERVAL_MS,
    ReplConsole,
    paste_to_bytes,
)


@pytest.fixture
def console(qtbot):
    c = ReplConsole()
    qtbot.addWidget(c)
    c.resize(700, 400)
    c.show()
    qtbot.waitExposed(c)
    return c


def sent(qtbot, console, action):
    """The bytes the console emits while running ``action``."""
    out = []
    console.sig_input_bytes.connect(out.append)
    try:
        action()
    finally:
        console.sig_input_bytes.disconnect(out.append)
    return b"".join(out)


def test_banner_and_prompt(console):
    console.feed(b"MicroPython v1.29.0 on 2026-01-01; Generic ESP32 module with ESP32\r\n"
                 b"Type \"help()\" for more information.\r\n>>> ")
    assert console.screen_lines()[:3] == [
        "MicroPython v1.29.0 on 2026-01-01; Generic ESP32 module with ESP32",
        'Type "help()" for more information.', ">>>"]
    assert console.cursor_position == (2, 4)


def test_line_editing_sequences(console):
    # What MicroPython's readline echoes: typing "prnt", Left x2, insert "i" (it redraws the tail and moves
    # back with ESC[nD), Right x2 (ESC[2C), then backspace at the end (it sends \b then ESC[K).
    console.feed(b">>> prnt")
    console.feed(b"\x1b[D\x1b[D")
    console.feed(b"int\x1b[2D")
    assert console.screen_lines()[0] == ">>> print" and console.cursor_position == (0, 7)
    console.feed(b"\x1b[2C(1)")
    console.feed(b"\x08\x1b[K")  # backspace: cursor left, erase to end of line
    assert console.screen_lines()[0] == ">>> print(1"
    console.feed(b")\r\n1\r\n>>> ")
    assert console.screen_lines()[:3] == [">>> print(1)", "1", ">>>"]


def test_history_recall_replaces_line(console):
    # Up arrow: MicroPython erases the current line (\b x n + ESC[K) and prints the history entry.
    console.feed(b">>> x = 10\r\n>>> abc")
    console.feed(b"\x08\x08\x08\x1b[Kx = 10")
    assert console.screen_lines()[1] == ">>> x = 10"


def test_auto_indent_continuation(console):
    console.feed(b">>> for i in range(2):\r\n...     ")
    assert console.screen_lines()[1] == "..." and console.cursor_position == (1, 8)


def test_utf8_split_across_feeds(console):
    data = "print('°C €')\r\n".encode()
    cut = data.index("€".encode()) + 1  # in the middle of the 3-byte euro sign
    console.feed(data[:cut])
    console.feed(data[cut:])
    assert console.screen_lines()[0] == "print('°C €')"
    assert "\ufffd" not in console.text()


@pytest.mark.parametrize("key, mods, expected", [
    (Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier, b"\r"),
    (Qt.Key.Key_Backspace, Qt.KeyboardModifier.NoModifier, b"\x7f"),
    (Qt.Key.Key_Up, Qt.KeyboardModifier.NoModifier, b"\x1b[A"),
    (Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier, b"\x1b[B"),
    (Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier, b"\x1b[C"),
    (Qt.Key.Key_Left, Qt.KeyboardModifier.NoModifier, b"\x1b[D"),
    (Qt.Key.Key_Home, Qt.KeyboardModifier.NoModifier, b"\x1b[H"),
    (Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier, b"\x1b[3~"),
    (Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier, b"\t"),
    (Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier, CTRL_C_INTERRUPT),
    (Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier, CTRL_D_SOFT_RESET),
    (Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier, PASTE_MODE_ENTER),
    (Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier, b"a"),
])
def test_keys_to_bytes(qtbot, console, key, mods, expected):
    if sys.platform == "darwin" and mods == Qt.KeyboardModifier.ControlModifier:
        mods = Qt.KeyboardModifier.MetaModifier  # the Control key on a Mac keyboard
    assert sent(qtbot, console, lambda: qtbot.keyClick(console.view, key, mods)) == expected


def test_non_ascii_key_is_utf8(qtbot, console):
    event = QKeyEvent(QEvent.Type.KeyPress, 0, Qt.KeyboardModifier.NoModifier, "ü")
    assert sent(qtbot, console, lambda: console.view.keyPressEvent(event)) == "ü".encode()
    # Ctrl+Shift+C copies instead of sending Ctrl-C.
    assert sent(qtbot, console, lambda: qtbot.keyClick(
        console.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)) == b""


def test_paste_single_and_multi_line(qtbot, console):
    assert paste_to_bytes("print(1)\n") == b"print(1)\r"
    multi = "for i in range(3):\n    print(i)"
    assert paste_to_bytes(multi) == PASTE_MODE_ENTER + b"for i in range(3):\r    print(i)\r" + PASTE_MODE_FINISH
    QGuiApplication.clipboard().setText("a = 1\r\nb = 2\r\n")
    got = sent(qtbot, console, lambda: qtbot.keyClick(console.view, Qt.Key.Key_V,
                                                      Qt.KeyboardModifier.ControlModifier |
                                                      Qt.KeyboardModifier.ShiftModifier))
    assert got == b"\x05a = 1\rb = 2\r\x04"


def test_input_disabled_shows_banner_and_swallows_keys(qtbot, console):
    console.set_input_enabled(False)
    assert console.banner.isVisible() and "file transfer" in console.banner.text()
    assert sent(qtbot, console, lambda: qtbot.keyClicks(console.view, "abc")) == b""
    assert sent(qtbot, console, lambda: console.paste_text("x")) == b""
    console.set_input_enabled(True)
    assert not console.banner.isVisible()
    assert sent(qtbot, console, lambda: qtbot.keyClicks(console.view, "abc")) == b"abc"


def test_note_is_on_its_own_line_in_note_colour(console):
    console.feed(b">>> ")
    console.append_note("— file transfer done —")
    assert console.screen_lines()[:2] == [">>>", "— file transfer done —"]
    char = console._screen.buffer[1][0]
    assert console._colour(char.fg, None) == console._colours[char.fg]
    assert console._colours[char.fg].name() == console._palette.console_note


def test_scrollback_copy_and_clear(qtbot, console):
    for i in range(200):
        console.feed(f"line {i}\r\n".encode())
    console.feed(b">>> ")
    assert console.scrollback_lines > 150
    assert console.text().splitlines()[0] == "line 0"
    console.select_all()
    assert console.copy().splitlines()[0] == "line 0"
    assert QGuiApplication.clipboard().text().splitlines()[199] == "line 199"
    qtbot.keyClick(console.view, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ShiftModifier)
    assert console._scroll > 0
    console.clear()
    assert console.text() == ">>>" and console.scrollback_lines == 0 and console.cursor_position == (0, 4)


def test_ten_thousand_lines_do_not_freeze(qtbot, console):
    console.view.paint_count = 0
    chunks = [b"".join(f"{i} temperature=21.5 humidity=40 ok\r\n".encode() for i in range(n, n + 100))
              for n in range(0, 10000, 100)]
    start = time.perf_counter()
    for chunk in chunks:  # 10,000 lines, in serial-sized chunks
        console.feed(chunk)
    feed_seconds = time.perf_counter() - start
    qtbot.wait(REPAINT_INTERVAL_MS * 3)
    total = time.perf_counter() - start
    print(f"\n10,000 lines: fed in {feed_seconds:.2f} s, painted {console.view.paint_count} times")
    assert total < 10  # typical: well under 2 s on a laptop
    assert console.view.paint_count <= 5  # throttled: not one repaint per chunk
    assert console.screen_lines()[-2] == "9999 temperature=21.5 humidity=40 ok"


def test_shrinking_the_console_keeps_the_cursor_on_the_prompt(qtbot):
    from ide.ui.console import ReplConsole
    console = ReplConsole()
    qtbot.addWidget(console)
    console.resize(600, 400)
    console.show()
    qtbot.waitExposed(console)
    console.feed(b"".join(b"line %d\r\n" % i for i in range(40)) + b">>> ")
    qtbot.wait(50)
    console.resize(600, 250)
    qtbot.wait(50)
    console.feed(b"x")
    lines = [line.rstrip() for line in console.screen_lines()]
    last = [line for line in lines if line]
    assert last[-1] == ">>> x"
