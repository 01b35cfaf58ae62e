"""Where the MicroPython type stubs live and how jedi is pointed at them.

Layout (made by ``make venv``; an installer must ship the same folders)::

    resources/stubs/esp32/     pip install --target ... --no-deps micropython-esp32-stubs==1.29.0.post1
    resources/stubs/esp8266/   pip install --target ... --no-deps micropython-esp8266-stubs==1.29.0.post1

Each folder holds flat ``machine.pyi``, ``network.pyi``, ``time.pyi``... plus a few packages (``umqtt/``,
``requests/``). The environment variable ``MIPY_STUBS_DIR`` points at another folder with the same
``<port>/`` subfolders (for packaged builds that keep resources elsewhere).

Why an overlay: jedi resolves a module that CPython also has (``time``, ``socket``, ``select``, ``random``...)
from its bundled typeshed *before* looking at ``.pyi`` files on the path, so ``time.sleep_ms`` would never be
offered. jedi does look first for ``<name>-stubs/__init__.pyi`` packages on the path (PEP 561), so for every
stub whose name clashes with the CPython standard library we copy it into such a package in a cache folder
and put that folder first on jedi's path.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

PORTS: tuple[str, ...] = ("esp32", "esp8266")
DEFAULT_PORT = "esp32"
#: Names the stubs list (they follow the generic MicroPython documentation) that the port's firmware does not
#: have: completion leaves them out. ``ADCWiPy`` is the WiPy's ADC; ``Pin.ALT``/``ALT_OPEN_DRAIN``/``ANALOG`` are
#: pin modes "not all ports implement", and the ESP ports do not (their Pin has IN, OUT, OPEN_DRAIN).
NOT_ON_PORT: dict[str, frozenset[str]] = {
    "esp32": frozenset({"machine.ADCWiPy", "machine.Pin.ALT", "machine.Pin.ALT_OPEN_DRAIN", "machine.Pin.ANALOG"}),
    "esp8266": frozenset({"machine.ADCWiPy", "machine.Pin.ALT", "machine.Pin.ALT_OPEN_DRAIN", "machine.Pin.ANALOG",
                          "machine.SDCard", "machine.DAC", "machine.TouchPad", "machine.I2S"}),
}
ENV_STUBS_DIR = "MIPY_STUBS_DIR"
_OVERLAY_MARKER = ".overlay-source"
_lock = threading.Lock()


def stubs_root() -> Path:
    """The folder holding one stub folder per port."""
    env = os.environ.get(ENV_STUBS_DIR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "resources" / "stubs"


def stub_dir(port: str) -> Path | None:
    """The stub folder for ``port`` ("esp32"/"esp8266"), or None when it is not installed."""
    port = port if port in PORTS else DEFAULT_PORT
    folder = stubs_root() / port
    return folder if (folder / "machine.pyi").is_file() else None


def _overlay_root() -> Path:
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("mipy-studio")) / "jedi-stub-overlay"
    except Exception:  # platformdirs missing or no home: a temp folder still works
        import tempfile

        return Path(tempfile.gettempdir()) / "mipy-studio-jedi-stub-overlay"


def _build_overlay(source: Path, target: Path) -> None:
    """Copy every stub that shadows a CPython stdlib module into ``target/<name>-stubs/`` (see module doc)."""
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        name = entry.stem if entry.suffix == ".pyi" else entry.name
        if name not in sys.stdlib_module_names:
            continue
        dest = target / f"{name}-stubs"
        if entry.is_file() and entry.suffix == ".pyi":
            dest.mkdir(exist_ok=True)
            shutil.copyfile(entry, dest / "__init__.pyi")
        elif entry.is_dir() and (entry / "__init__.pyi").is_file():
            shutil.copytree(entry, dest, dirs_exist_ok=True)
    (target / _OVERLAY_MARKER).write_text(str(source) + "\n" + _stamp(source), encoding="utf-8")


def _stamp(source: Path) -> str:
    dist = sorted(p.name for p in source.glob("*.dist-info"))
    return ",".join(dist)


def jedi_sys_path(port: str) -> list[str]:
    """The sys.path jedi should use for code running on ``port``: overlay first, then the stubs.

    Empty when the stubs are not installed (completion then falls back to plain Python)."""
    source = stub_dir(port)
    if source is None:
        return []
    target = _overlay_root() / source.parent.name / source.name
    with _lock:
        marker = target / _OVERLAY_MARKER
        expected = str(source) + "\n" + _stamp(source)
        try:
            fresh = marker.read_text(encoding="utf-8") == expected
        except OSError:
            fresh = False
        if not fresh:
            try:
                _build_overlay(source, target)
            except OSError:
                return [str(source)]  # read-only cache: the stubs alone still cover machine, network...
    return [str(target), str(source)]
