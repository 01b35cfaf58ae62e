"""The device templates shipped in ``device_templates/`` (see its README): what each one is, for the wizard's
gallery and for ``mipy-studio new``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from ide.project.errors import ProjectConfigError, TemplateNotFound

log = logging.getLogger(__name__)

TEMPLATE_FILE = "template.json"
FRAMEWORK_DIR = "framework"
# Where the framework package goes on the board (and in a project): /lib is on sys.path of both ports.
FRAMEWORK_PACKAGE = "lib/mipy"


def templates_dir() -> Path:
    """The folder with the templates: $MIPY_TEMPLATES_DIR, the installer bundle, or the source tree."""
    override = os.environ.get("MIPY_TEMPLATES_DIR")
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "device_templates"
    return Path(__file__).resolve().parents[2] / "device_templates"


@dataclasses.dataclass(frozen=True)
class Template:
    name: str                     # folder name: "mqtt_sensor"
    title: str                    # "MQTT sensor"
    description: str
    boards: tuple[str, ...]       # ("esp8266", "esp32")
    framework: tuple[str, ...]    # framework modules, dependencies included
    files: tuple[str, ...]        # project files, relative to the template folder
    keep_source: tuple[str, ...]  # files that stay source on the board
    path: Path

    @property
    def uses_mqtt(self) -> bool:
        return "mqtt" in self.framework

    @property
    def uses_wifi(self) -> bool:
        return "wifi" in self.framework

    @property
    def readme(self) -> str:
        try:
            return (self.path / "README.md").read_text(encoding="utf-8")
        except OSError:
            return ""

    def framework_sources(self, root: Path | None = None) -> list[Path]:
        base = (root or self.path.parent) / FRAMEWORK_DIR / "mipy"
        return [base / (module + ".py") for module in self.framework]


def _load(folder: Path) -> Template:
    try:
        meta = json.loads((folder / TEMPLATE_FILE).read_text(encoding="utf-8"))
    except OSError as error:
        raise TemplateNotFound(folder.name) from error
    except ValueError as error:
        raise ProjectConfigError(f"{folder.name}/{TEMPLATE_FILE}", f"not valid JSON ({error})") from error
    for key in ("title", "files"):
        if key not in meta:
            raise ProjectConfigError(f"{folder.name}/{TEMPLATE_FILE}", f"'{key}' is missing")
    framework = list(meta.get("framework", []))
    if framework and "__init__" not in framework:
        framework.insert(0, "__init__")  # the package needs it; the README promises it is always there
    return Template(name=folder.name, title=meta["title"], description=meta.get("description", ""),
                    boards=tuple(meta.get("boards", ("esp8266", "esp32"))), framework=tuple(framework),
                    files=tuple(meta["files"]), keep_source=tuple(meta.get("keep_source", ())), path=folder)


def list_templates(root: Path | None = None) -> list[Template]:
    """Every template, simplest first (the gallery's order: by number of framework modules, then title)."""
    root = root or templates_dir()
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if (folder / TEMPLATE_FILE).is_file():
                try:
                    found.append(_load(folder))
                except ProjectConfigError as error:
                    log.warning("skipping template %s: %s", folder.name, error)
    return sorted(found, key=lambda t: (len(t.framework), t.title.lower()))


def get_template(name: str, root: Path | None = None) -> Template:
    root = root or templates_dir()
    # A name is a folder name, never a path: "../x" must not reach outside the templates folder.
    if not name or "/" in name or "\\" in name or name.startswith(".") or not (root / name / TEMPLATE_FILE).is_file():
        raise TemplateNotFound(name, [t.name for t in list_templates(root)])
    return _load(root / name)
