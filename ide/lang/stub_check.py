"""Attribute errors against the board's stubs: ``machine.Pin(2, machine.Pin.OUTT)`` fails on the board with
``AttributeError``, and pyflakes cannot see it (it knows no types). jedi can: it infers that ``machine.Pin`` is
the stubs' class and lists its attributes, so an attribute missing from that list is flagged.

Only attributes of modules and classes that come from the board's stubs are checked: for anything else (the
user's own classes, values jedi cannot infer) a missing attribute proves nothing. Slow-ish (jedi): run it on
the completion thread, like completion (same one-thread rule).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from ide.lang.completion import _script
from ide.lang.lint import Problem, Severity
from ide.lang.stubs import DEFAULT_PORT, stub_dir

#: Stop after this many attribute nodes: a huge generated file is not worth seconds of jedi.
MAX_ATTRIBUTES_CHECKED = 300


def _from_stubs(value, stubs: Path) -> bool:
    path = value.module_path
    if path is None:
        return False
    try:
        return Path(path).resolve().is_relative_to(stubs) or "-stubs" in Path(path).parent.name
    except (OSError, ValueError):
        return False


def attribute_problems(source: str, path: str | os.PathLike | None = None,
                       port: str = DEFAULT_PORT) -> list[Problem]:
    """Attributes used on a stub module or class that the stub does not define, as ERROR problems."""
    stubs = stub_dir(port)
    if stubs is None:
        return []
    stubs = stubs.resolve()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []  # lint reports the syntax error
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load)
             and n.value.end_lineno is not None]
    if not nodes:
        return []
    script = _script(source, path, port)
    # Two passes: every inference on this script first, then the class probes, which run their own jedi
    # scripts (after one of those, further inference on the first script can come back empty).
    targets: dict[tuple[int, int], list | None] = {}
    for node in nodes[:MAX_ATTRIBUTES_CHECKED]:
        end = (node.value.end_lineno, node.value.end_col_offset)
        if end not in targets:
            targets[end] = _stub_values(script, source, end, stubs)
    members = {end: _members(script, values) if values else None for end, values in targets.items()}
    problems = []
    for node in nodes[:MAX_ATTRIBUTES_CHECKED]:
        names = members.get((node.value.end_lineno, node.value.end_col_offset))
        if not names or node.attr in names:
            continue
        line = node.end_lineno or node.lineno
        column = (node.end_col_offset or 0) - len(node.attr)
        base = ast.get_source_segment(source, node.value) or "it"
        problems.append(Problem(line, column, f"{base} has no attribute {node.attr!r} on the board",
                                Severity.ERROR, column + len(node.attr), "StubAttribute"))
    return problems


def _stub_values(script, source: str, end: tuple[int, int], stubs: Path) -> list | None:
    """What ends at ``end`` (line, byte column), with module members read at once; None unless every inferred
    value is a stub module or class (else a missing attribute proves nothing)."""
    line, byte_col = end
    text = source.split("\n")[line - 1]
    column = len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
    try:
        values = script.infer(line, max(column - 1, 0))
        if not values or not all(v.type in ("module", "class") and _from_stubs(v, stubs) for v in values):
            return None
        return [(v, {n.name for n in v.defined_names()} if v.type == "module" else None) for v in values]
    except Exception:  # jedi on odd code: no verdict
        return None


def _members(script, values: list) -> set[str] | None:
    names: set[str] = set()
    for value, module_names in values:
        if module_names is not None:
            names |= module_names
            continue
        try:
            # Completion after "Class." lists inherited and class attributes alike.
            names.update(c.name for c in _members_by_completion(script, value, f"{value.name}."))
        except Exception:
            return None
    return names or None


def _members_by_completion(script, value, probe: str):
    from jedi import Script
    module = value.module_name
    code = f"from {module} import {value.name}\n{probe}" if module and module != "builtins" else probe
    return Script(code, project=script._inference_state.project).complete(2 if "import" in code else 1,
                                                                          len(probe))
