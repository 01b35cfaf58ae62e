"""Light, dark and follow-the-system themes: one :class:`Palette` of named colours, applied to the application
(Qt palette, Fusion style) and handed to the editor, console and plotter through their ``set_theme``.

Usage::

    manager = ThemeManager(app)
    manager.sig_theme_changed.connect(editor_tabs.set_theme)   # and console.set_theme, plotter.set_theme
    manager.set_mode(ThemeMode.SYSTEM)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PyQt6.QtWidgets import QApplication
from PyQt6.Qsci import QsciLexerPython


class ThemeMode(enum.StrEnum):
    """What the user picked in the settings; SYSTEM follows the desktop's light/dark setting live."""

    LIGHT = "light"
    DARK = "dark"
    SYSTEM = "system"


@dataclass(frozen=True)
class Palette:
    """Every colour the IDE paints with, as "#rrggbb" strings."""

    name: str
    window: str
    window_text: str
    base: str
    alternate_base: str
    text: str
    button: str
    highlight: str
    highlighted_text: str
    # editor
    editor_bg: str
    editor_fg: str
    caret: str
    caret_line: str
    selection: str
    margin_bg: str
    margin_fg: str
    fold_bg: str
    brace_match: str
    brace_bad: str
    indent_guide: str
    lint_error: str
    lint_warning: str
    device_error_bg: str
    find_highlight: str
    # console
    console_bg: str
    console_fg: str
    console_note: str
    console_banner_bg: str
    ansi: tuple[str, ...]  # the 16 ANSI colours, normal 0-7 then bright 8-15
    # plotter
    plot_bg: str
    plot_fg: str
    plot_curves: tuple[str, ...]
    # Python lexer style number -> foreground colour
    syntax: dict[int, str] = field(default_factory=dict)
    syntax_bold: frozenset[int] = frozenset()

    @property
    def is_dark(self) -> bool:
        """True for a dark palette (light text on a dark background)."""
        return QColor(self.editor_bg).lightness() < 128


_L = QsciLexerPython

LIGHT = Palette(
    name="light", window="#efefef", window_text="#1e1e1e", base="#ffffff", alternate_base="#f5f5f5",
    text="#1e1e1e", button="#e6e6e6", highlight="#3875d7", highlighted_text="#ffffff",
    editor_bg="#ffffff", editor_fg="#1e1e1e", caret="#000000", caret_line="#f3f6fb", selection="#b5d5ff",
    margin_bg="#f0f0f0", margin_fg="#8a8a8a", fold_bg="#f7f7f7", brace_match="#c6efce", brace_bad="#ffc7ce",
    indent_guide="#d0d0d0", lint_error="#e51400", lint_warning="#c08000", device_error_bg="#ffe0e0",
    find_highlight="#ffef7a",
    console_bg="#ffffff", console_fg="#1e1e1e", console_note="#2a7ab0", console_banner_bg="#fff3c4",
    ansi=("#000000", "#c91b00", "#00a600", "#a5a500", "#0225c7", "#b225b2", "#00a6b2", "#bfbfbf",
          "#686868", "#ff6e67", "#2fc12f", "#c7c400", "#6871ff", "#ff77ff", "#00c5c7", "#ffffff"),
    plot_bg="#ffffff", plot_fg="#333333",
    plot_curves=("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"),
    syntax={
        _L.Default: "#1e1e1e", _L.Comment: "#6a737d", _L.CommentBlock: "#6a737d", _L.Number: "#098658",
        _L.DoubleQuotedString: "#a31515", _L.SingleQuotedString: "#a31515", _L.TripleSingleQuotedString: "#a31515",
        _L.TripleDoubleQuotedString: "#a31515", _L.DoubleQuotedFString: "#a31515",
        _L.SingleQuotedFString: "#a31515", _L.TripleSingleQuotedFString: "#a31515",
        _L.TripleDoubleQuotedFString: "#a31515", _L.UnclosedString: "#a31515",
        _L.Keyword: "#0000ff", _L.ClassName: "#267f99", _L.FunctionMethodName: "#795e26",
        _L.Operator: "#1e1e1e", _L.Identifier: "#1e1e1e", _L.Decorator: "#af00db",
        _L.HighlightedIdentifier: "#001080",
    },
    syntax_bold=frozenset({_L.Keyword, _L.ClassName}),
)

DARK = Palette(
    name="dark", window="#2b2b2b", window_text="#dcdcdc", base="#1e1e1e", alternate_base="#262626",
    text="#dcdcdc", button="#353535", highlight="#2f65ca", highlighted_text="#ffffff",
    editor_bg="#1e1e1e", editor_fg="#d4d4d4", caret="#ffffff", caret_line="#2a2d2e", selection="#264f78",
    margin_bg="#252526", margin_fg="#858585", fold_bg="#202020", brace_match="#3a5f3a", brace_bad="#6b2b2b",
    indent_guide="#404040", lint_error="#f14c4c", lint_warning="#cca700", device_error_bg="#4b1f1f",
    find_highlight="#6b5d00",
    console_bg="#1e1e1e", console_fg="#d4d4d4", console_note="#4fc1ff", console_banner_bg="#5a4a00",
    ansi=("#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
          "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"),
    plot_bg="#1e1e1e", plot_fg="#cccccc",
    plot_curves=("#4fc1ff", "#f14c4c", "#23d18b", "#f5a142", "#c586c0", "#dcdcaa", "#d670d6", "#9e9e9e"),
    syntax={
        _L.Default: "#d4d4d4", _L.Comment: "#6a9955", _L.CommentBlock: "#6a9955", _L.Number: "#b5cea8",
        _L.DoubleQuotedString: "#ce9178", _L.SingleQuotedString: "#ce9178", _L.TripleSingleQuotedString: "#ce9178",
        _L.TripleDoubleQuotedString: "#ce9178", _L.DoubleQuotedFString: "#ce9178",
        _L.SingleQuotedFString: "#ce9178", _L.TripleSingleQuotedFString: "#ce9178",
        _L.TripleDoubleQuotedFString: "#ce9178", _L.UnclosedString: "#ce9178",
        _L.Keyword: "#569cd6", _L.ClassName: "#4ec9b0", _L.FunctionMethodName: "#dcdcaa",
        _L.Operator: "#d4d4d4", _L.Identifier: "#9cdcfe", _L.Decorator: "#c586c0",
        _L.HighlightedIdentifier: "#9cdcfe",
    },
    syntax_bold=frozenset({_L.Keyword}),
)


def system_prefers_dark() -> bool:
    """Whether the desktop asks for a dark scheme (Qt 6.5+ reports it; unknown counts as light)."""
    hints = QGuiApplication.styleHints()
    return hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark


def resolve(mode: ThemeMode | str) -> Palette:
    """The palette for ``mode``; SYSTEM picks light or dark from the desktop setting."""
    mode = ThemeMode(mode)
    if mode is ThemeMode.SYSTEM:
        return DARK if system_prefers_dark() else LIGHT
    return DARK if mode is ThemeMode.DARK else LIGHT


def qpalette(p: Palette) -> QPalette:
    """A Qt palette with the theme's colours (used for the whole application)."""
    pal = QPalette()
    role = QPalette.ColorRole
    for r, colour in (
        (role.Window, p.window), (role.WindowText, p.window_text), (role.Base, p.base),
        (role.AlternateBase, p.alternate_base), (role.Text, p.text), (role.Button, p.button),
        (role.ButtonText, p.window_text), (role.Highlight, p.highlight), (role.HighlightedText, p.highlighted_text),
        (role.ToolTipBase, p.base), (role.ToolTipText, p.text), (role.PlaceholderText, p.margin_fg),
        (role.BrightText, "#ff5555"), (role.Link, p.highlight),
    ):
        pal.setColor(r, QColor(colour))
    for r in (role.Text, role.WindowText, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(p.margin_fg))
    return pal


def apply_to_app(app: QApplication, p: Palette) -> None:
    """Set the application's style and palette; Fusion because native styles ignore custom palettes."""
    app.setStyle("Fusion")
    app.setPalette(qpalette(p))


#: For lexers other than Python's (Markdown, JSON, HTML): the Python style whose colour a style takes, by a
#: word in the style's description. The lexers' own colours assume a white page.
_GENERIC_STYLE_WORDS = (("comment", _L.Comment), ("string", _L.DoubleQuotedString),
                        ("number", _L.Number), ("keyword", _L.Keyword), ("tag", _L.Keyword),
                        ("header", _L.Keyword), ("attribute", _L.ClassName), ("property", _L.ClassName),
                        ("link", _L.FunctionMethodName), ("code", _L.Decorator), ("emphasis", _L.FunctionMethodName),
                        ("operator", _L.Operator))


def _python_style_for(lexer, style: int) -> int:
    if isinstance(lexer, QsciLexerPython):
        return style
    description = lexer.description(style).lower()
    return next((python for word, python in _GENERIC_STYLE_WORDS if word in description), _L.Default)


def style_lexer(lexer, p: Palette, font: QFont) -> None:
    """Colour a lexer (Python's by style; others by what their styles are called); every style gets the editor
    background, or unstyled text shows white blocks."""
    lexer.setDefaultPaper(QColor(p.editor_bg))
    lexer.setDefaultColor(QColor(p.editor_fg))
    lexer.setDefaultFont(font)
    for style in range(128):
        if not lexer.description(style):
            continue
        python_style = _python_style_for(lexer, style)
        lexer.setPaper(QColor(p.editor_bg), style)
        lexer.setColor(QColor(p.syntax.get(python_style, p.editor_fg)), style)
        styled = QFont(font)
        styled.setBold(python_style in p.syntax_bold)
        styled.setItalic(python_style in (_L.Comment, _L.CommentBlock))
        lexer.setFont(styled, style)


class ThemeManager(QObject):
    """Owns the current theme mode, applies it to the app and tells widgets when the palette changes."""

    sig_theme_changed = pyqtSignal(object)
    """The resolved :class:`Palette` changed (mode set by the user, or the desktop switched light/dark)."""

    def __init__(self, app: QApplication, mode: ThemeMode | str = ThemeMode.SYSTEM):
        super().__init__(app)
        self._app = app
        self._mode = ThemeMode(mode)
        self._palette = resolve(self._mode)
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_system_scheme_changed)

    @property
    def mode(self) -> ThemeMode:
        """The mode the user picked."""
        return self._mode

    @property
    def palette(self) -> Palette:
        """The palette in force."""
        return self._palette

    def set_mode(self, mode: ThemeMode | str) -> Palette:
        """Switch mode, apply it to the app and emit ``sig_theme_changed``; returns the resolved palette."""
        self._mode = ThemeMode(mode)
        return self._apply()

    def _apply(self) -> Palette:
        self._palette = resolve(self._mode)
        apply_to_app(self._app, self._palette)
        self.sig_theme_changed.emit(self._palette)
        return self._palette

    def _on_system_scheme_changed(self, _scheme) -> None:
        if self._mode is ThemeMode.SYSTEM:
            self._apply()
