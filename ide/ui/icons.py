"""Icons from qtawesome (Material Design Icons, the set Spyder uses), coloured for the theme in force.

qtawesome takes ~0.3 s to import and ~0.1 s to load its fonts, so the window opens without icons and
:meth:`IconRegistry.load` fills them in once the first frame is on screen (the window calls it from a zero-delay
timer after it is shown). Widgets register what they want with :meth:`IconRegistry.add`; a theme change
recolours every registered icon.

Names are ours (``"run"``, ``"board-file"``), mapped to icon-font names in :data:`ICON_NAMES`, so a change of icon
set is one table.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable

from PyQt6.QtGui import QIcon

log = logging.getLogger(__name__)

ICON_NAMES: dict[str, str] = {
    "new": "mdi6.file-plus-outline", "open": "mdi6.folder-open-outline", "open-folder": "mdi6.folder-outline",
    "save": "mdi6.content-save-outline", "save-all": "mdi6.content-save-all-outline",
    "save-as": "mdi6.content-save-edit-outline", "close": "mdi6.close", "quit": "mdi6.exit-to-app",
    "settings": "mdi6.cog-outline", "undo": "mdi6.undo", "redo": "mdi6.redo", "cut": "mdi6.content-cut",
    "copy": "mdi6.content-copy", "paste": "mdi6.content-paste", "select-all": "mdi6.select-all",
    "comment": "mdi6.comment-outline", "indent": "mdi6.format-indent-increase",
    "dedent": "mdi6.format-indent-decrease", "goto": "mdi6.arrow-right-bold-box-outline",
    "zoom-in": "mdi6.magnify-plus-outline", "zoom-out": "mdi6.magnify-minus-outline",
    "zoom-reset": "mdi6.magnify", "find": "mdi6.magnify", "replace": "mdi6.find-replace",
    "connect": "mdi6.power-plug-outline", "disconnect": "mdi6.power-plug-off-outline",
    "refresh": "mdi6.refresh", "run": "mdi6.play", "run-project": "mdi6.play-box-multiple-outline",
    "stop": "mdi6.stop", "reset": "mdi6.restart", "upload": "mdi6.upload-outline",
    "download": "mdi6.download-outline", "flash": "mdi6.chip", "rescue": "mdi6.lifebuoy",
    "board": "mdi6.developer-board", "virtual-board": "mdi6.monitor-dashboard", "project": "mdi6.folder-star-outline",
    "help": "mdi6.help-circle-outline", "keyboard": "mdi6.keyboard-outline", "docs": "mdi6.book-open-outline",
    "about": "mdi6.information-outline", "folder": "mdi6.folder-outline", "file": "mdi6.file-outline",
    "python-file": "mdi6.language-python", "delete": "mdi6.delete-outline", "rename": "mdi6.rename-box",
    "new-folder": "mdi6.folder-plus-outline", "clear": "mdi6.notification-clear-all", "start": "mdi6.home-outline",
    "error": "mdi6.alert-circle-outline", "warning": "mdi6.alert-outline", "template": "mdi6.puzzle-outline",
    "led": "mdi6.led-on", "backup": "mdi6.archive-arrow-down-outline", "restore": "mdi6.backup-restore", "wifi": "mdi6.wifi", "mqtt": "mdi6.access-point-network", "web": "mdi6.web",
}


def app_icon() -> QIcon:
    """The application's own icon (window, taskbar), from the PNGs in ``resources/icons``."""
    icon = QIcon()
    folder = resources_dir() / "icons"
    for size in (16, 32, 48, 128, 512):
        path = folder / f"mipy-studio-{size}.png"
        if path.is_file():
            icon.addFile(str(path))
    return icon


def resources_dir() -> Path:
    """``resources/`` next to the package, or inside a frozen bundle."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def qta_icon(name: str, colour: str, disabled_colour: str | None = None) -> QIcon:
    """A qtawesome icon by our name (or an icon-font name) in ``colour``; an empty icon if it cannot be made."""
    os.environ.setdefault("QT_API", "pyqt6")  # qtpy must pick the binding we run on
    try:
        import qtawesome
        options = {"color": colour}
        if disabled_colour:
            options["color_disabled"] = disabled_colour
        return qtawesome.icon(ICON_NAMES.get(name, name), **options)
    except Exception:  # a missing font or name: the action still has its text
        log.warning("icon %s could not be made", name, exc_info=True)
        return QIcon()


class IconRegistry:
    """What wants which icon; :meth:`load` (after the first frame) and :meth:`set_palette` (theme) set them."""

    def __init__(self):
        self._wanted: list[tuple[Callable[[QIcon], None], str]] = []
        self._loaded = False
        self._colours = ("#303030", "#a0a0a0")

    @property
    def loaded(self) -> bool:
        return self._loaded

    def add(self, setter: Callable[[QIcon], None], name: str) -> None:
        """Call ``setter(icon)`` with icon ``name`` now if icons are loaded, and again on every theme change."""
        self._wanted.append((setter, name))
        if self._loaded:
            self._set(setter, name)

    def icon(self, name: str) -> QIcon:
        """Icon ``name`` in the current colours (loads qtawesome if needed)."""
        return qta_icon(name, *self._colours)

    def set_palette(self, text_colour: str, disabled_colour: str) -> None:
        """Recolour for a theme (text colour of the palette); applied at once when loaded."""
        self._colours = (text_colour, disabled_colour)
        if self._loaded:
            self._apply()

    def load(self) -> None:
        """Make and set every wanted icon (the first call imports qtawesome)."""
        self._loaded = True
        self._apply()

    def _apply(self) -> None:
        for setter, name in list(self._wanted):
            self._set(setter, name)

    def _set(self, setter: Callable[[QIcon], None], name: str) -> None:
        try:
            setter(self.icon(name))
        except RuntimeError:  # the widget was deleted (a closed dialog): forget it
            self._wanted.remove((setter, name))
