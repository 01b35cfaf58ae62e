"""File-browser errors in words (used by the UI and the command line through ide.explain)."""

from __future__ import annotations

from ide.errors import BoardFileError
from ide.explain import explains
from ide.filebrowser import errors


@explains(BoardFileError)
def _file_error(error: BoardFileError) -> str:
    return f"The board could not do that with {error.path}: {error.detail}."


@explains(errors.BoardFileNotFound)
def _not_found(error: errors.BoardFileNotFound) -> str:
    return f"There is no file or folder {error.path} on the board. Refresh the board's file list and try again."


@explains(errors.BoardFileExists)
def _exists(error: errors.BoardFileExists) -> str:
    return f"{error.path} already exists on the board. Choose another name, or delete the old one first."


@explains(errors.PathOutsideBoard)
def _outside(error: errors.PathOutsideBoard) -> str:
    return f"{error.path!r} is not a path on the board (paths start at / and cannot go above it)."


@explains(errors.BoardNoSpace)
def _no_space(error: errors.BoardNoSpace) -> str:
    need = f" It needs {error.needed // 1024 + 1} KB;" if error.needed else ""
    return (f"The board's flash is too full for {error.path}.{need} {error.free // 1024} KB are free. Delete files "
            "you no longer need (old logs, unused libraries) and try again. The old file was left as it was.")


@explains(errors.TransferVerifyError)
def _verify(error: errors.TransferVerifyError) -> str:
    return (f"{error.path} arrived damaged (the check of its contents failed), so nothing was replaced. "
            "This points to a bad USB cable or hub: try another cable or port, or a lower baud rate.")


@explains(errors.LocalFileError)
def _local(error: errors.LocalFileError) -> str:
    return f"Could not use {error.path} on this computer: {error.detail}."
