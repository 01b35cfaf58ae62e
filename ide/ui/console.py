"""The REPL console: a terminal view of the board's friendly REPL.

It is a pure view. Bytes from the board go in through :meth:`ReplConsole.feed`; key presses and pastes come out
as the bytes a VT100 terminal would send, through ``sig_input_bytes``. The escape sequences MicroPython's line
editor uses (``ESC [ K`` erase to end of line, ``ESC [ n D`` cursor back, ...) are interpreted by pyte, a
terminal emulator, so history, Tab completion and auto-indent look exactly as in a real terminal.

Paste (decided as Thonny does): text with more than one line is wrapped in MicroPython's paste mode, Ctrl-E ...
Ctrl-D, because the friendly REPL auto-indents every line after a ``:`` and would indent pasted code twice;
paste mode takes the lines verbatim and runs them all on Ctrl-D. A single line is typed as is. Newlines are sent
as ``\\r`` (what the Enter key sends).

Rendering: a pyte ``HistoryScreen`` holds the visible screen and keeps the lines that scroll off its top in
``history.top`` (the scrollback). The widget paints only the rows in view, repaints only dirty rows, and at most
~30 times a second however fast bytes arrive.
"""

from __future__ import annotations

import codecs
import sys

import pyte
from PyQt6.QtCore import QEvent, QPoint, QRect, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication, QKeyEvent, QPainter
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QMenu, QScrollBar, QVBoxLayout, QWidget

from ide.ui import theme as theme_mod
from ide.ui.editor import monospace_font

# Control bytes of MicroPython's friendly REPL.
CTRL_C_INTERRUPT = b"\x03"
CTRL_D_SOFT_RESET = b"\x04"
PASTE_MODE_ENTER = b"\x05"  # Ctrl-E
PASTE_MODE_FINISH = b"\x04"  # Ctrl-D ends paste mode and runs what was pasted
ENTER = b"\r"
BACKSPACE = b"\x7f"  # what terminals send; MicroPython's readline accepts 0x7f and 0x08

SCROLLBACK_LINES = 5000
REPAINT_INTERVAL_MS = 33  # ~30 fps: enough to look live, cheap under a flood of output
#: Wheel units (1/8 degree) per scrolled line: a mouse notch (120) scrolls 3 lines; touchpads send many small
#: deltas, which add up (a rounding per event would lose them in one direction).
WHEEL_UNITS_PER_LINE = 40
DEFAULT_BANNER = "Console paused during file transfer"
# IDE notes are written into the terminal in this 24-bit colour, which boards never use, so the painter can
# tell them apart and draw them in the theme's note colour.
_NOTE_RGB = (1, 2, 3)
_NOTE_FG = "%02x%02x%02x" % _NOTE_RGB

_KEY_SEQUENCES: dict[Qt.Key, bytes] = {
    Qt.Key.Key_Return: ENTER, Qt.Key.Key_Enter: ENTER, Qt.Key.Key_Backspace: BACKSPACE,
    Qt.Key.Key_Tab: b"\t", Qt.Key.Key_Escape: b"\x1b",
    Qt.Key.Key_Up: b"\x1b[A", Qt.Key.Key_Down: b"\x1b[B", Qt.Key.Key_Right: b"\x1b[C", Qt.Key.Key_Left: b"\x1b[D",
    Qt.Key.Key_Home: b"\x1b[H", Qt.Key.Key_End: b"\x1b[F", Qt.Key.Key_Insert: b"\x1b[2~",
    Qt.Key.Key_Delete: b"\x1b[3~", Qt.Key.Key_PageUp: b"\x1b[5~", Qt.Key.Key_PageDown: b"\x1b[6~",
}
# pyte's colour names in SGR order, matching Palette.ansi (pyte calls yellow "brown").
_ANSI_NAMES = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
# On macOS Qt swaps them: ControlModifier is Command, MetaModifier is the Control key a terminal uses.
_CTRL = Qt.KeyboardModifier.MetaModifier if sys.platform == "darwin" else Qt.KeyboardModifier.ControlModifier


# X11/xkb key codes of the letter keys (evdev code + 8): where a letter sits, whatever the layout says it types.
_XKB_LETTER_KEYCODES = dict(zip(
    (24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 38, 39, 40, 41, 42, 43, 44, 45, 46, 52, 53, 54, 55, 56, 57, 58),
    "QWERTYUIOPASDFGHJKLZXCVBNM"))


def latin_letter_key(native_scan_code: int, native_virtual_key: int, platform: str = sys.platform) -> int | None:
    """The Qt key of the Latin letter on the physical key pressed (Ctrl+C on a Cyrillic layout is Ctrl+C), or
    None. Windows reports the layout-independent virtual key (0x41 'A' .. 0x5A 'Z'); X11 the hardware key code."""
    if platform.startswith("win") and 0x41 <= native_virtual_key <= 0x5A:
        return Qt.Key.Key_A + native_virtual_key - 0x41
    if platform.startswith("linux") and native_scan_code in _XKB_LETTER_KEYCODES:
        return Qt.Key.Key_A + ord(_XKB_LETTER_KEYCODES[native_scan_code]) - ord("A")
    return None


def key_to_bytes(key: int, modifiers: Qt.KeyboardModifier, text: str, latin_key: int | None = None) -> bytes:
    """The bytes a VT100-style terminal sends for a key press (b"" when it sends nothing). ``latin_key`` is the
    Latin letter on the physical key (see :func:`latin_letter_key`), for Ctrl combinations on other layouts."""
    try:
        qkey = Qt.Key(key)
    except ValueError:
        qkey = None
    alt = Qt.KeyboardModifier.AltModifier
    if modifiers & _CTRL and modifiers & alt and text and all(ch >= " " for ch in text):
        # AltGr arrives as Ctrl+Alt on Windows (and with some X11 setups): "[", "]", "\\", "@" on German and
        # French layouts are typed text, not control characters.
        return text.encode("utf-8")
    if modifiers & _CTRL and not Qt.Key.Key_A <= key <= Qt.Key.Key_Z and latin_key is not None:
        key = latin_key
    if modifiers & _CTRL and Qt.Key.Key_A <= key <= Qt.Key.Key_Z:
        return bytes([key - Qt.Key.Key_A + 1])  # Ctrl-A = 0x01 ... Ctrl-Z = 0x1a
    if modifiers & _CTRL and qkey in (Qt.Key.Key_BracketLeft, Qt.Key.Key_Backslash, Qt.Key.Key_BracketRight):
        return {Qt.Key.Key_BracketLeft: b"\x1b", Qt.Key.Key_Backslash: b"\x1c",
                Qt.Key.Key_BracketRight: b"\x1d"}[qkey]
    if qkey in _KEY_SEQUENCES:
        return _KEY_SEQUENCES[qkey]
    if text and all(ch >= " " or ch == "\t" for ch in text):
        return text.encode("utf-8")
    return b""


def paste_to_bytes(text: str) -> bytes:
    """The bytes for pasting ``text`` into the friendly REPL (see the module doc for the paste-mode choice)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" in text.rstrip("\n"):
        # Paste mode runs what was pasted on Ctrl-D; a trailing newline keeps the last line complete.
        body = text if text.endswith("\n") else text + "\n"
        return PASTE_MODE_ENTER + body.replace("\n", "\r").encode("utf-8") + PASTE_MODE_FINISH
    return text.replace("\n", "\r").encode("utf-8")


class _TerminalView(QWidget):
    """Paints the console's pyte screen and scrollback; hands keys and mouse to the console."""

    def __init__(self, console: "ReplConsole"):
        super().__init__(console)
        self._console = console
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self.paint_count = 0

    def focusNextPrevChild(self, _next: bool) -> bool:  # noqa: N802 - Tab belongs to the REPL (completion)
        return False

    def event(self, event) -> bool:
        # Window shortcuts (Ctrl+F, Ctrl+N, Ctrl+Q, Ctrl+C as Copy...) would take keys MicroPython's line editor
        # and Ctrl-C need: while the console has the focus, every key that sends something goes to the board.
        if event.type() == QEvent.Type.ShortcutOverride and self._console._claims(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        self._console._key_pressed(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        self._console.context_menu().exec(event.globalPos())

    def paintEvent(self, event) -> None:  # noqa: N802
        self.paint_count += 1
        self._console._paint(self, event.rect())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._console._fit_screen()

    def wheelEvent(self, event) -> None:  # noqa: N802
        self._console._wheel(event.angleDelta().y())

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.setFocus()
        if event.button() == Qt.MouseButton.LeftButton:
            self._console._start_selection(event.position().toPoint())
        elif event.button() == Qt.MouseButton.MiddleButton:
            self._console.paste_text(QGuiApplication.clipboard().text(QGuiApplication.clipboard().Mode.Selection))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._console._extend_selection(event.position().toPoint())

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        self._console._select_word(event.position().toPoint())


class ReplConsole(QWidget):
    """A terminal for the board's REPL. Feed it the board's bytes; send what ``sig_input_bytes`` emits.

    Keys: as a terminal (Ctrl-C interrupt, Ctrl-D soft reset, Ctrl-E paste mode, arrows, Tab...).
    Ctrl+Shift+C copies the selection, Ctrl+Shift+V / Shift+Insert (and Ctrl+V, which MicroPython does not use)
    paste, Shift+PageUp/PageDown scroll back."""

    sig_input_bytes = pyqtSignal(bytes)
    """The user typed or pasted: send these bytes to the board."""

    def __init__(self, parent: QWidget | None = None, palette: theme_mod.Palette | None = None,
                 scrollback: int = SCROLLBACK_LINES):
        super().__init__(parent)
        self._palette = palette or theme_mod.LIGHT
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._screen = pyte.HistoryScreen(80, 24, history=scrollback, ratio=0.5)
        # A bare "\n" starts a new line (as in Thonny's shell): the virtual board and many programs send no "\r".
        self._screen.set_mode(pyte.modes.LNM)
        self._wheel_rest = 0
        self._stream = pyte.Stream(self._screen)
        self._scroll = 0  # lines scrolled back from the bottom (0 = following the output)
        self._input_enabled = True
        self._selection: tuple[tuple[int, int], tuple[int, int]] | None = None  # (line, col) anchor, end
        self._anchor: tuple[int, int] | None = None
        self._last_history_len = 0
        self._last_cursor_y = 0
        self._pending_full = True
        # Icons for the context menu: the window's ide.ui.icons.IconRegistry (None: menus without icons).
        self.icons = None

        self.view = _TerminalView(self)
        self._scrollbar = QScrollBar(Qt.Orientation.Vertical, self)
        self._scrollbar.valueChanged.connect(self._on_scrollbar)
        self.banner = QLabel(DEFAULT_BANNER, self)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.view, 1)
        row.addWidget(self._scrollbar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addLayout(row, 1)
        self.setFocusProxy(self.view)

        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(REPAINT_INTERVAL_MS)
        self._repaint_timer.timeout.connect(self._flush)
        self.set_font(monospace_font())
        self.set_theme(self._palette)

    # --- public API ---

    def feed(self, data: bytes) -> None:
        """Render bytes from the board. UTF-8 sequences split across calls are joined."""
        text = self._decoder.decode(data)
        if text:
            self._stream.feed(text)
            self._schedule()

    def append_note(self, text: str) -> None:
        """Show an IDE note (e.g. "— file transfer done —") on its own line, in the theme's note colour."""
        prefix = "\r\n" if self._screen.cursor.x else ""
        r, g, b = _NOTE_RGB
        self._stream.feed(f"{prefix}\x1b[38;2;{r};{g};{b}m{text}\x1b[0m\r\n")
        self._schedule()

    def set_input_enabled(self, enabled: bool, reason: str = DEFAULT_BANNER) -> None:
        """Accept keys and pastes, or ignore them and show ``reason`` in a banner (during file transfers the
        raw REPL owns the serial line; a stray key would corrupt the transfer)."""
        self._input_enabled = enabled
        self.banner.setText(reason)
        self.banner.setVisible(not enabled)

    @property
    def input_enabled(self) -> bool:
        """Whether keys and pastes are sent to the board."""
        return self._input_enabled

    def paste_text(self, text: str) -> None:
        """Send ``text`` as a paste (multi-line text in paste mode)."""
        if text and self._input_enabled:
            self.sig_input_bytes.emit(paste_to_bytes(text))

    def paste(self) -> None:
        """Paste the clipboard."""
        self.paste_text(QGuiApplication.clipboard().text())

    def copy(self) -> str:
        """Copy the selection to the clipboard; returns it."""
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)
        return text

    def clear(self) -> None:
        """Forget the scrollback and the screen, keeping the line the cursor is on (usually the prompt)."""
        screen = self._screen
        line = dict(screen.buffer[screen.cursor.y])
        x = screen.cursor.x
        screen.reset()
        screen.set_mode(pyte.modes.LNM)  # reset() forgets the modes
        for col, char in line.items():
            screen.buffer[0][col] = char
        screen.cursor.x = x
        self._selection = None
        self._scroll = 0
        self._pending_full = True
        self._schedule()

    def text(self) -> str:
        """Everything in scrollback and on screen, as plain text (trailing blanks and blank lines removed)."""
        lines = [self._line_text(i) for i in range(self._total_lines())]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines)

    def screen_lines(self) -> list[str]:
        """The rows of the visible terminal screen (without scrollback), right-stripped."""
        return [line.rstrip() for line in self._screen.display]

    @property
    def cursor_position(self) -> tuple[int, int]:
        """The terminal cursor as (row, column) on the screen, 0-based."""
        return self._screen.cursor.y, self._screen.cursor.x

    @property
    def scrollback_lines(self) -> int:
        """Lines kept above the screen."""
        return len(self._screen.history.top)

    def set_font(self, font: QFont) -> None:
        """Use ``font`` (monospace) for the terminal."""
        self._font = QFont(font)
        metrics = QFontMetricsF(self._font)
        self._cell_w = max(metrics.horizontalAdvance("M"), 1.0)
        self._cell_h = max(metrics.lineSpacing(), 1.0)
        self._ascent = metrics.ascent()
        self._fit_screen()
        self.view.update()

    def set_theme(self, palette: theme_mod.Palette) -> None:
        """Apply a :class:`ide.ui.theme.Palette`."""
        self._palette = palette
        self.banner.setStyleSheet(f"background: {palette.console_banner_bg}; color: {palette.text}; padding: 3px;")
        self._colours = {"default": QColor(palette.console_fg)}
        for i, name in enumerate(_ANSI_NAMES):
            self._colours[name] = QColor(palette.ansi[i])
            self._colours["bright" + name] = QColor(palette.ansi[i + 8])
        self._colours[_NOTE_FG] = QColor(palette.console_note)
        self._bg = QColor(palette.console_bg)
        self._pending_full = True
        self.view.update()

    # --- rendering ---

    def _schedule(self) -> None:
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _flush(self) -> None:
        """Repaint what changed since the last frame (throttled by the repaint timer)."""
        screen = self._screen
        history_len = len(screen.history.top)
        added = history_len - self._last_history_len
        self._last_history_len = history_len
        if self._scroll and added > 0:
            self._scroll = min(self._scroll + added, history_len)  # keep the scrolled-back view still
        self._update_scrollbar()
        if self._pending_full or added or self._scroll:
            self.view.update()
        else:
            rows = set(screen.dirty) | {self._last_cursor_y, screen.cursor.y}
            for y in rows:
                self.view.update(QRect(0, int(y * self._cell_h), self.view.width(), int(self._cell_h) + 2))
        self._pending_full = False
        self._last_cursor_y = screen.cursor.y
        screen.dirty.clear()

    def _total_lines(self) -> int:
        return len(self._screen.history.top) + self._screen.lines

    def _line(self, index: int):
        history = self._screen.history.top
        if index < len(history):
            return history[index]
        return self._screen.buffer[index - len(history)]

    def _line_text(self, index: int) -> str:
        line = self._line(index)
        return "".join(line[x].data for x in range(self._screen.columns)).rstrip()

    def _first_visible(self) -> int:
        return len(self._screen.history.top) - self._scroll

    def _fit_screen(self) -> None:
        if not hasattr(self, "_cell_w"):
            return
        columns = max(int(self.view.width() / self._cell_w), 20)
        rows = max(int(self.view.height() / self._cell_h), 4)
        screen = self._screen
        if rows < screen.lines:
            # pyte drops the top rows when the screen shrinks: keep them in the scrollback instead (copies,
            # because pyte reuses the row objects; and not when they are blank, as on the first layout).
            dropped = [screen.buffer[y] for y in range(screen.lines - rows)]
            if any(char.data.strip() for line in dropped for char in line.values()):
                for line in dropped:
                    kept = type(line)(line.default)
                    kept.update(line)
                    screen.history.top.append(kept)
        old_rows = screen.lines
        screen.resize(rows, columns)
        if rows < old_rows:
            # pyte deletes the top rows, moving the text up, but puts the cursor back at its old row: follow the
            # text, or the next output starts below a blank line.
            screen.cursor.y = max(0, screen.cursor.y - (old_rows - rows))
        self._pending_full = True
        self._schedule()

    def _update_scrollbar(self) -> None:
        history_len = len(self._screen.history.top)
        self._scrollbar.blockSignals(True)
        self._scrollbar.setRange(0, history_len)
        self._scrollbar.setPageStep(self._screen.lines)
        self._scrollbar.setValue(history_len - self._scroll)
        self._scrollbar.blockSignals(False)

    def _on_scrollbar(self, value: int) -> None:
        self._scroll = len(self._screen.history.top) - value
        self.view.update()

    def _wheel(self, delta: int) -> None:
        self._wheel_rest += delta
        lines = int(self._wheel_rest / WHEEL_UNITS_PER_LINE)  # toward zero, both ways
        self._wheel_rest -= lines * WHEEL_UNITS_PER_LINE
        if lines:
            self._scroll_by(-lines)

    def _scroll_by(self, lines: int) -> None:
        self._scroll = min(max(self._scroll - lines, 0), len(self._screen.history.top))
        self._update_scrollbar()
        self.view.update()

    def _colour(self, name: str, default: QColor) -> QColor:
        if name == "default":
            return default
        colour = self._colours.get(name)
        if colour is None:
            colour = QColor("#" + name) if len(name) == 6 else default
            self._colours[name] = colour
        return colour

    def _paint(self, view: QWidget, rect: QRect) -> None:
        painter = QPainter(view)
        painter.setFont(self._font)
        painter.fillRect(rect, self._bg)
        fg_default = self._colours["default"]
        cw, ch = self._cell_w, self._cell_h
        first = self._first_visible()
        columns = self._screen.columns
        row_from = max(int(rect.top() / ch), 0)
        row_to = min(int(rect.bottom() / ch) + 1, self._screen.lines)
        selection = self._normalised_selection()
        for row in range(row_from, row_to):
            index = first + row
            if index >= self._total_lines():
                break
            line = self._line(index)
            y = row * ch
            sel_from, sel_to = self._selected_columns(selection, index, columns)
            x = 0
            while x < columns:
                char = line[x]
                start = x
                text = char.data
                x += 1
                in_selection = sel_from <= start < sel_to
                # One drawText per run of equal attributes: per-character calls are ~20x slower.
                while x < columns and (sel_from <= x < sel_to) == in_selection:
                    nxt = line[x]
                    if (nxt.fg, nxt.bg, nxt.bold, nxt.reverse, nxt.underscore) != \
                            (char.fg, char.bg, char.bold, char.reverse, char.underscore):
                        break
                    text += nxt.data
                    x += 1
                fg = self._colour(char.fg, fg_default)
                bg = self._colour(char.bg, self._bg) if char.bg != "default" else None
                if char.bold and char.fg in _ANSI_NAMES:
                    fg = self._colours["bright" + char.fg]
                if char.reverse:
                    fg, bg = (bg or self._bg), fg
                if in_selection:
                    fg, bg = QColor(self._palette.highlighted_text), QColor(self._palette.highlight)
                if bg is not None:
                    painter.fillRect(int(start * cw), int(y), int((x - start) * cw) + 1, int(ch) + 1, bg)
                if text.strip():
                    painter.setPen(fg)
                    painter.drawText(int(start * cw), int(y + self._ascent), text)
        cursor = self._screen.cursor
        if self._scroll == 0 and not cursor.hidden and row_from <= cursor.y < row_to:
            colour = QColor(fg_default)
            colour.setAlpha(150 if self.view.hasFocus() else 70)
            painter.fillRect(int(cursor.x * cw), int(cursor.y * ch), int(cw), int(ch), colour)
        painter.end()

    # --- keys ---

    def _event_bytes(self, event: QKeyEvent) -> bytes:
        latin = latin_letter_key(event.nativeScanCode(), event.nativeVirtualKey())
        return key_to_bytes(event.key(), event.modifiers(), event.text(), latin)

    def _claims(self, event: QKeyEvent) -> bool:
        """Whether a key press belongs to the console rather than to a window shortcut."""
        key, mods = event.key(), event.modifiers()
        ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        if (mods & ctrl_shift) == ctrl_shift and key in (Qt.Key.Key_C, Qt.Key.Key_V):
            return True
        return bool(self._event_bytes(event))

    def context_menu(self) -> QMenu:
        """Copy, paste, select all, clear, interrupt."""
        menu = QMenu(self)
        icons = self.icons if self.icons is not None and self.icons.loaded else None

        def add(text: str, slot, icon: str):
            return menu.addAction(icons.icon(icon), text, slot) if icons is not None else menu.addAction(text, slot)

        copy = add("Copy", self.copy, "copy")
        copy.setShortcut("Ctrl+Shift+C")
        copy.setEnabled(bool(self.selected_text()))
        paste = add("Paste", self.paste, "paste")
        paste.setShortcut("Ctrl+Shift+V")
        paste.setEnabled(self._input_enabled and bool(QGuiApplication.clipboard().text()))
        add("Select all", self.select_all, "select-all")
        menu.addSeparator()
        add("Clear", self.clear, "clear")
        interrupt = add("Interrupt (Ctrl+C)", lambda: self.sig_input_bytes.emit(CTRL_C_INTERRUPT), "stop")
        interrupt.setEnabled(self._input_enabled)
        return menu

    def _key_pressed(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        if (mods & ctrl_shift) == ctrl_shift and key == Qt.Key.Key_C:
            self.copy()
            return
        if ((mods & ctrl_shift) == ctrl_shift and key == Qt.Key.Key_V) or (
                mods & Qt.KeyboardModifier.ShiftModifier and key == Qt.Key.Key_Insert) or (
                mods == Qt.KeyboardModifier.ControlModifier and key == Qt.Key.Key_V):
            self.paste()
            return
        if mods & Qt.KeyboardModifier.ShiftModifier and key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
            page = self._screen.lines - 1
            self._scroll_by(-page if key == Qt.Key.Key_PageUp else page)
            return
        if not self._input_enabled:
            return
        data = self._event_bytes(event)
        if data:
            if self._scroll:
                self._scroll = 0  # typing jumps back to the prompt, as terminals do
                self._update_scrollbar()
                self.view.update()
            self._selection = None
            self.sig_input_bytes.emit(data)

    # --- selection ---

    def _cell_at(self, point: QPoint) -> tuple[int, int]:
        row = min(max(int(point.y() / self._cell_h), 0), self._screen.lines - 1)
        col = min(max(int(point.x() / self._cell_w + 0.5), 0), self._screen.columns)
        return self._first_visible() + row, col

    def _start_selection(self, point: QPoint) -> None:
        self._anchor = self._cell_at(point)
        self._selection = None
        self.view.update()

    def _extend_selection(self, point: QPoint) -> None:
        if self._anchor is not None:
            self._selection = (self._anchor, self._cell_at(point))
            self.view.update()

    def _select_word(self, point: QPoint) -> None:
        line, col = self._cell_at(point)
        text = self._line_text(line)
        start = end = min(col, len(text))
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        self._selection = ((line, start), (line, end))
        self.view.update()

    def select_all(self) -> None:
        """Select scrollback and screen."""
        self._selection = ((0, 0), (self._total_lines() - 1, self._screen.columns))
        self.view.update()

    def _normalised_selection(self):
        if not self._selection:
            return None
        a, b = self._selection
        return (a, b) if a <= b else (b, a)

    @staticmethod
    def _selected_columns(selection, index: int, columns: int) -> tuple[int, int]:
        if not selection:
            return (0, 0)
        (l1, c1), (l2, c2) = selection
        if index < l1 or index > l2:
            return (0, 0)
        return (c1 if index == l1 else 0, c2 if index == l2 else columns)

    def selected_text(self) -> str:
        """The selected text (rows joined by newlines, trailing blanks removed)."""
        selection = self._normalised_selection()
        if not selection or selection[0] == selection[1]:
            return ""
        (l1, _), (l2, _) = selection
        parts = []
        for index in range(l1, l2 + 1):
            start, end = self._selected_columns(selection, index, self._screen.columns)
            parts.append(self._line_text(index)[start:end].rstrip())
        return "\n".join(parts)
