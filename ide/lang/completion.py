"""Code completion and call signatures from jedi, with the MicroPython stubs of the board's port.

Positions follow jedi: ``line`` is 1-based, ``column`` is 0-based and counts characters (code points).

jedi is not thread-safe: call these functions from one thread at a time (the editor runs them all on a single
worker thread, never on the UI thread, because a cold jedi cache takes hundreds of milliseconds).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ide.lang.stubs import DEFAULT_PORT, NOT_ON_PORT, PORTS, jedi_sys_path

if TYPE_CHECKING:
    import jedi

#: Never hand the UI more than this many entries: a Scintilla list of thousands is slow and useless.
MAX_COMPLETIONS = 400


@dataclass(frozen=True)
class Completion:
    """One completion proposal.

    ``name`` is the full name, ``complete`` the part still to type after the cursor, ``type`` jedi's kind
    ("module", "class", "function", "statement", "keyword", "param", "instance", "path", "property"),
    ``signature`` the call signature for callables (else ""), ``description`` a one-line summary."""

    name: str
    type: str
    complete: str
    signature: str = ""
    description: str = ""


@dataclass(frozen=True)
class CallSignature:
    """A call tip: ``text`` is "name(param, param) -> ret"; ``index`` is the parameter under the cursor (or
    None); ``params`` the parameter descriptions; ``docstring`` the first paragraph of the documentation."""

    name: str
    text: str
    params: tuple[str, ...]
    index: int | None
    docstring: str = ""


def _normalise_port(port: str | None) -> str:
    return port if port in PORTS else DEFAULT_PORT


@lru_cache(maxsize=16)
def _project(project_dir: str, port: str) -> "jedi.Project":
    import jedi  # ~0.1 s to import: on the completion thread at first use, not while the window opens

    sys_path = jedi_sys_path(port)
    if not sys_path:
        return jedi.Project(project_dir)
    # An explicit sys_path (not added_sys_path) keeps the IDE's own site-packages (PyQt6, jedi...) out of the
    # proposals: none of that exists on a board. CPython's stdlib is still known through jedi's typeshed.
    return jedi.Project(project_dir, sys_path=sys_path + [project_dir])


def _script(source: str, path: str | os.PathLike | None, port: str | None) -> "jedi.Script":
    import jedi

    file_path = Path(path).resolve() if path else None
    project_dir = str(file_path.parent) if file_path else os.getcwd()
    # Frozen, sys.executable is the app itself: jedi must analyse in-process, not look for (or pick up an
    # activated venv's) Python interpreter.
    environment = jedi.InterpreterEnvironment() if getattr(sys, "frozen", False) else None
    return jedi.Script(source, path=file_path, project=_project(project_dir, _normalise_port(port)),
                       environment=environment)


def _clamp(source: str, line: int, column: int) -> tuple[int, int]:
    """jedi raises ValueError for positions outside the text; an editor racing a worker can produce them."""
    lines = source.split("\n")
    line = min(max(line, 1), len(lines))
    column = min(max(column, 0), len(lines[line - 1].rstrip("\r")))
    return line, column


def _first_paragraph(text: str, limit: int = 400) -> str:
    para = text.strip().split("\n\n", 1)[0].strip()
    return para if len(para) <= limit else para[: limit - 1] + "…"


def complete(
    source: str, line: int, column: int, path: str | os.PathLike | None = None, port: str = DEFAULT_PORT
) -> list[Completion]:
    """Completions at (``line``, ``column``) of ``source`` for a board of ``port`` ("esp32" or "esp8266")."""
    line, column = _clamp(source, line, column)
    result: list[Completion] = []
    missing = NOT_ON_PORT.get(_normalise_port(port), frozenset())
    proposals = [c for c in _script(source, path, port).complete(line, column) if c.full_name not in missing]
    for c in proposals[:MAX_COMPLETIONS]:
        signature = ""
        if c.type in ("function", "class"):
            try:
                sigs = c.get_signatures()
                signature = sigs[0].to_string() if sigs else ""
            except Exception:  # jedi can fail on odd stubs; a missing signature is not worth an error
                signature = ""
        result.append(
            Completion(name=c.name, type=c.type, complete=c.complete or "", signature=signature,
                       description=c.description)
        )
    return result


def call_signatures(
    source: str, line: int, column: int, path: str | os.PathLike | None = None, port: str = DEFAULT_PORT
) -> list[CallSignature]:
    """The signatures of the call the cursor is in (empty when it is not inside a call's parentheses)."""
    line, column = _clamp(source, line, column)
    result: list[CallSignature] = []
    for sig in _script(source, path, port).get_signatures(line, column):
        try:
            doc = _first_paragraph(sig.docstring(raw=True))
        except Exception:
            doc = ""
        result.append(
            CallSignature(name=sig.name, text=sig.to_string(), params=tuple(p.description for p in sig.params),
                          index=sig.index, docstring=doc)
        )
    return result
