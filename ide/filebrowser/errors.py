"""File-browser errors, all under ``ide.errors.BoardFileError`` (so under the one root ``MipyError``)."""

from __future__ import annotations

from ide.errors import BoardFileError, MipyError


class BoardFileNotFound(BoardFileError):
    """No file or folder at ``path`` on the board."""


class BoardFileExists(BoardFileError):
    """Something already exists at ``path``."""


class PathOutsideBoard(BoardFileError):
    """``path`` climbs out of the board's file system (``/..``) or is not a path at all."""


class BoardNoSpace(BoardFileError):
    """The board's file system cannot hold ``needed`` bytes; ``free`` is what it has."""

    def __init__(self, path: str, needed: int, free: int):
        self.needed = needed
        self.free = free
        super().__init__(path, f"needs {needed} bytes, {free} free")


class TransferVerifyError(BoardFileError):
    """The file on the board did not hash to what was sent (a corrupted or lost byte); nothing was replaced."""

    def __init__(self, path: str, expected: str, got: str):
        self.expected = expected
        self.got = got
        super().__init__(path, f"hash {got} != {expected}")


class LocalFileError(MipyError):
    """A file on this computer could not be read or written."""

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")
