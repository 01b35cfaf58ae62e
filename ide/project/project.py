"""A project on this computer: a folder with ``main.py``, ``config.py``, ``lib/...`` and an optional project file
``mipy_project.json`` (name, template, board type, files kept as source, files left out, mip packages it needs
and the index they come from)."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from pathlib import Path

from ide.project.errors import NotAProject, ProjectConfigError

PROJECT_FILE = "mipy_project.json"
BUILD_DIR = "build"
# Firmware runs only boot.py and main.py as source (a boot.mpy is never run); config.py stays readable so it
# can be edited on the board.
ALWAYS_SOURCE = ("boot.py", "main.py", "config.py")
# Drop-in provisioning files: the board's framework stores them obfuscated and deletes them on first boot, so
# they are uploaded when they change on this computer, not whenever the board lacks them.
PROVISIONING_FILES = ("wifi.json", "secrets.json")
DEFAULT_EXCLUDE = ("*.md", "*.pyc", "*.pyi", "LICENSE*")
BOARD_TYPES = ("esp32", "esp8266")


@dataclasses.dataclass
class Project:
    root: Path
    name: str
    template: str = ""
    board: str = "esp32"
    keep_source: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    packages: tuple[str, ...] = ()   # mip packages ("ssd1306", "aioble@0.4.1", "github:org/repo"): Run installs them
    package_index: str = ""          # their index URL ("" = micropython-lib's)

    @property
    def build_dir(self) -> Path:
        return self.root / BUILD_DIR

    def is_source(self, rel: str) -> bool:
        """True when ``rel`` (posix, relative) goes to the board as it is rather than compiled."""
        return rel in ALWAYS_SOURCE or rel in self.keep_source or not rel.endswith(".py")

    def files(self) -> list[tuple[str, Path]]:
        """The files that go to the board: (relative posix path, local path), sorted."""
        found = []
        for path in self.root.rglob("*"):
            rel_parts = path.relative_to(self.root).parts
            if any(part.startswith(".") or part == "__pycache__" for part in rel_parts):
                continue  # hidden files and caches, .git, editor backups
            if rel_parts[0] == BUILD_DIR or rel_parts == (PROJECT_FILE,) or not path.is_file():
                continue
            rel = "/".join(rel_parts)
            if any(fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel_parts[-1], pattern)
                   for pattern in self.exclude):
                continue
            found.append((rel, path))
        return sorted(found)

    def to_json(self) -> dict:
        return {"name": self.name, "template": self.template, "board": self.board,
                "keep_source": list(self.keep_source), "exclude": list(self.exclude),
                **({"packages": list(self.packages)} if self.packages else {}),
                **({"package_index": self.package_index} if self.package_index else {})}

    def save(self) -> None:
        (self.root / PROJECT_FILE).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def load_project(root: Path | str) -> Project:
    """The project in ``root``. A plain folder with a main.py is a project too (defaults for everything)."""
    root = Path(root).resolve()
    project_file = root / PROJECT_FILE
    if not project_file.is_file():
        if not (root / "main.py").is_file():
            raise NotAProject(str(root))
        return Project(root=root, name=root.name)
    try:
        meta = json.loads(project_file.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ProjectConfigError(PROJECT_FILE, f"not valid JSON ({error})") from error
    except OSError as error:
        raise NotAProject(str(root)) from error
    if not isinstance(meta, dict):
        raise ProjectConfigError(PROJECT_FILE, "must hold a JSON object")
    board = meta.get("board", "esp32")
    if board not in BOARD_TYPES:
        raise ProjectConfigError("board", f"{board!r} is not one of {', '.join(BOARD_TYPES)}")
    packages = meta.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(item, str) and item.strip() for item in packages):
        raise ProjectConfigError("packages", "must be a list of package names, e.g. [\"ssd1306\"]")
    return Project(root=root, name=str(meta.get("name") or root.name), template=str(meta.get("template", "")),
                   board=board, keep_source=tuple(meta.get("keep_source", ())),
                   exclude=tuple(meta.get("exclude", DEFAULT_EXCLUDE)), packages=tuple(packages),
                   package_index=str(meta.get("package_index") or ""))
