"""Backup and restore errors in words (used by the UI and the command line through ide.explain)."""

from __future__ import annotations

from ide.explain import explains
from ide.filebrowser import backup


@explains(backup.BackupError)
def _backup_error(error: backup.BackupError) -> str:
    return f"The backup {error.path} could not be used: {error.detail}."


@explains(backup.BackupCorrupt)
def _corrupt(error: backup.BackupCorrupt) -> str:
    where = f" ({error.member})" if error.member else ""
    return (f"The backup {error.path} is damaged or not a board backup{where}: {error.detail}. Nothing was "
            "written to the board.")


@explains(backup.RestoreIncomplete)
def _incomplete(error: backup.RestoreIncomplete) -> str:
    cause = error.__cause__
    from ide.explain import explain
    why = f" {explain(cause)}" if cause is not None else ""
    return (f"Restoring stopped at {error.failed}: {len(error.restored)} files were restored, "
            f"{len(error.remaining)} were not (each file on the board is whole: its old or its restored "
            f"version).{why} Restoring again sends only what is still missing.")
