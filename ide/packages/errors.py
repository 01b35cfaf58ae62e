"""Errors of package installs, all under :class:`PackageError` (so under the one root ``MipyError``); words for
people in :mod:`ide.packages.messages`."""

from __future__ import annotations

from ide.errors import MipyError


class PackageError(MipyError):
    """Installing, listing or removing a mip package failed."""


class PackageNotFound(PackageError):
    """The index has no package ``name`` (at ``version``, for ``mpy`` .mpy files); ``url`` is what was asked."""

    def __init__(self, name: str, version: str, url: str, mpy: str = ""):
        self.name = name
        self.version = version
        self.url = url
        self.mpy = mpy
        super().__init__(f"package {name!r} ({version or 'latest'}) not found at {url}")


class PackageFetchError(PackageError):
    """``url`` could not be fetched (``status`` is the HTTP status, 0 when the server was not reached) and no copy
    of it is cached on this computer. ``offline``: the network was not asked (offline mode)."""

    def __init__(self, url: str, detail: str, status: int = 0, offline: bool = False):
        self.url = url
        self.detail = detail
        self.status = status
        self.offline = offline
        super().__init__(f"{url}: {detail}")


class PackageHashMismatch(PackageError):
    """The file fetched from ``url`` does not hash to the ``expected`` prefix the package lists: damaged or
    tampered with, so it was not installed."""

    def __init__(self, url: str, expected: str, got: str):
        self.url = url
        self.expected = expected
        self.got = got
        super().__init__(f"{url}: sha256 {got[:len(expected)]}… != {expected}")


class PackageFormatError(PackageError):
    """``url`` answered, but not with what mip's layout says it must hold (``detail`` says what is wrong)."""

    def __init__(self, url: str, detail: str):
        self.url = url
        self.detail = detail
        super().__init__(f"{url}: {detail}")


class PackageSpecError(PackageError):
    """``spec`` is neither a package name, ``name@version``, a ``github:``/``gitlab:`` path nor an http(s) URL."""

    def __init__(self, spec: str, problem: str):
        self.spec = spec
        self.problem = problem
        super().__init__(f"{spec!r}: {problem}")


class NoLibFolder(PackageError):
    """The board's ``sys.path`` has no folder ending in ``/lib`` to install into (``sys_path`` is what it has)."""

    def __init__(self, sys_path: list[str]):
        self.sys_path = list(sys_path)
        super().__init__(f"no lib folder in sys.path {sys_path!r}")


class PackageNotInstalled(PackageError):
    """No package ``name`` is recorded in ``target`` on the board."""

    def __init__(self, name: str, target: str, installed: list[str] | None = None):
        self.name = name
        self.target = target
        self.installed = list(installed or [])
        super().__init__(f"package {name!r} is not installed in {target}")
