"""What project errors mean for a person, and what to do next (see :mod:`ide.explain`)."""

from __future__ import annotations

from ide.explain import explains
from ide.project import errors


@explains(errors.TemplateNotFound)
def _template_not_found(error: errors.TemplateNotFound) -> str:
    known = f" The templates are: {', '.join(error.available)}." if error.available else ""
    return f"There is no project template called '{error.name}'.{known}"


@explains(errors.ProjectConfigError)
def _config(error: errors.ProjectConfigError) -> str:
    return f"The project setting '{error.field}' is not right: {error.problem}."


@explains(errors.ProjectDirNotEmpty)
def _not_empty(error: errors.ProjectDirNotEmpty) -> str:
    return (f"{error.path} already holds files, and a new project never writes over them. Choose an empty or "
            "new folder.")


@explains(errors.NotAProject)
def _not_a_project(error: errors.NotAProject) -> str:
    return (f"{error.path} is not a project: it has no main.py. Create one with 'New project' "
            "(mipy-studio new TEMPLATE FOLDER), or open the folder that holds your main.py.")


@explains(errors.BuildSyntaxError)
def _syntax(error: errors.BuildSyntaxError) -> str:
    where = f"{error.file}, line {error.line}" if error.line else error.file
    return f"{where}: {error.message}. Nothing was uploaded; fix the line and run again."


@explains(errors.BuildToolError)
def _tool(error: errors.BuildToolError) -> str:
    return (f"The MicroPython compiler (mpy-cross) failed on {error.file}: {error.output.strip()[:300]}. "
            "Reinstall MiPy Studio if this keeps happening.")


@explains(errors.UnsupportedMpyVersion)
def _mpy_version(error: errors.UnsupportedMpyVersion) -> str:
    firmware = f"MicroPython {error.firmware}" if error.firmware else "this firmware"
    return (f"The board runs {firmware}, which loads .mpy version {error.mpy_version}.{error.sub_version}; no "
            "compiler for that version comes with MiPy Studio. Update the board's firmware with the firmware "
            "flasher (a current MicroPython works best).")


@explains(errors.ManifestError)
def _manifest(error: errors.ManifestError) -> str:
    return f"The project record on the board ({error.path}) could not be read: {error.detail}."
