"""Projects: templates, mpy-cross builds, sync and Run project."""
