"""Lint with pyflakes: cheap enough to run on every pause in typing (a few ms for a 1,000-line file)."""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass

from pyflakes import checker, messages

#: Names MicroPython provides without an import. ``const`` is handled by the compiler, so
#: ``X = const(3)`` without ``from micropython import const`` is valid on the board.
MICROPYTHON_BUILTINS: frozenset[str] = frozenset({"const"})

# Messages that mean the code will fail when it runs; the rest are warnings (it runs, but looks wrong).
_ERROR_MESSAGES: tuple[type, ...] = (
    messages.UndefinedName,
    messages.UndefinedLocal,
    messages.UndefinedExport,
    messages.DuplicateArgument,
    messages.ReturnOutsideFunction,
    messages.YieldOutsideFunction,
    messages.ContinueOutsideLoop,
    messages.BreakOutsideLoop,
    messages.TwoStarredExpressions,
    messages.TooManyExpressionsInStarredAssignment,
)


class Severity(enum.IntEnum):
    """How bad a problem is; the editor picks marker and squiggle colours from it."""

    WARNING = 1
    ERROR = 2


@dataclass(frozen=True)
class Problem:
    """One lint finding. ``line`` is 1-based; ``column``/``end_column`` are 0-based character offsets in that
    line (``end_column`` None means "to the end of the word at ``column``")."""

    line: int
    column: int
    message: str
    severity: Severity
    end_column: int | None = None
    code: str = ""


def _name_span(line_text: str, column: int, name: str) -> tuple[int, int | None]:
    """Underline the offending name itself, not the start of the statement pyflakes points at."""
    if name:
        idx = line_text.find(name, column)
        if idx < 0:
            idx = line_text.find(name)
        if idx >= 0:
            return idx, idx + len(name)
    return column, None


def lint(source: str, filename: str = "<editor>") -> list[Problem]:
    """Problems in ``source``, sorted by position. A syntax error yields a single ERROR problem."""
    lines = source.splitlines()
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        return [Problem(line, col, f"SyntaxError: {exc.msg}", Severity.ERROR, code="SyntaxError")]
    except ValueError as exc:  # e.g. a NUL byte in the source
        return [Problem(1, 0, str(exc), Severity.ERROR, code="ValueError")]

    found = checker.Checker(tree, filename=filename, builtins=MICROPYTHON_BUILTINS)
    problems = []
    for msg in found.messages:
        line = msg.lineno
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        arg = msg.message_args[0] if msg.message_args else ""
        name = arg if isinstance(arg, str) and arg.replace(".", "").isidentifier() else ""
        start, end = _name_span(text, msg.col, name)
        severity = Severity.ERROR if isinstance(msg, _ERROR_MESSAGES) else Severity.WARNING
        problems.append(
            Problem(line, start, msg.message % msg.message_args, severity, end, type(msg).__name__)
        )
    problems.sort(key=lambda p: (p.line, p.column))
    return problems
