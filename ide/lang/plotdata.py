"""Which lines the board prints are plottable, and their numbers.

Accepted (one sample per line, one curve per position)::

    1 2 3            1,2,3          1; 2; 3
    (21.5, 40)       [1, 2]         -3.5e2
    temp: 21.5 hum: 40              temp=21.5, hum=40      (labelled: the labels name the curves)

Everything else is ordinary text and yields None: words mixed with numbers ("Got 3 items"), a REPL prompt
(">>> 1"), dotted versions ("1.2.3"), empty lines. ``nan``/``inf`` are accepted as values because that is what
``print()`` shows for a failed float sensor reading, and dropping the whole sample would hide the other curves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: More values than this on one line is a data dump, not a live sample; plotting it would make a useless mess.
MAX_VALUES = 32

_NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,;]+")
_LABELLED_RE = re.compile(rf"([A-Za-z_][\w.]*)\s*[:=]\s*({_NUMBER})(?![\w.])", re.IGNORECASE)
_LABELLED_REST_RE = re.compile(r"^[\s,;]*$")


@dataclass(frozen=True)
class Sample:
    """One parsed line: the values and, for the labelled form, a label per value (else None)."""

    values: tuple[float, ...]
    labels: tuple[str, ...] | None = None


def _strip_brackets(text: str) -> str:
    if len(text) >= 2 and (text[0], text[-1]) in (("(", ")"), ("[", "]")):
        return text[1:-1].strip()
    return text


def parse_line(line: str) -> Sample | None:
    """Parse one line of board output; None when it is not a plottable line."""
    text = _strip_brackets(line.strip())
    if not text:
        return None
    tokens = [t for t in _SEPARATORS.split(text) if t]
    if tokens and all(_NUMBER_RE.match(t) for t in tokens):
        if len(tokens) > MAX_VALUES:
            return None
        return Sample(tuple(float(t) for t in tokens))
    pairs = _LABELLED_RE.findall(text)
    if pairs and len(pairs) <= MAX_VALUES and _LABELLED_REST_RE.match(_LABELLED_RE.sub("", text)):
        return Sample(tuple(float(v) for _, v in pairs), tuple(label for label, _ in pairs))
    return None


def parse_numbers(line: str) -> tuple[float, ...] | None:
    """The numbers of a plottable line (see the module doc), or None for ordinary text."""
    sample = parse_line(line)
    return sample.values if sample else None
