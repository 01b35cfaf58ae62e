"""Package errors in words (used by the UI and the command line through ide.explain)."""

from __future__ import annotations

from ide.explain import explains
from ide.packages import errors


@explains(errors.PackageError)
def _package_error(error: errors.PackageError) -> str:
    return f"The package could not be installed: {error}."


@explains(errors.PackageNotFound)
def _not_found(error: errors.PackageNotFound) -> str:
    version = f" version {error.version}" if error.version else ""
    return (f"There is no package '{error.name}'{version} in the package index ({error.url}). Check the name "
            "(Board ▸ Packages… lists and searches the index, 'mipy-studio mip search' too).")


@explains(errors.PackageFetchError)
def _fetch(error: errors.PackageFetchError) -> str:
    if error.status:
        return f"The package server answered {error.detail} for {error.url}."
    if error.offline:
        return (f"{error.url} is not in this computer's cache, and MiPy Studio was told to work offline. Install "
                "the package once with a network connection; after that it installs offline too.")
    return (f"Could not download {error.url} ({error.detail}), and it is not in this computer's cache yet. "
            "Check the internet connection; a package installed once installs again offline.")


@explains(errors.PackageHashMismatch)
def _hash(error: errors.PackageHashMismatch) -> str:
    return (f"A file downloaded from {error.url} is not the one the package lists (its check failed), so "
            "nothing was installed. Try again later; if it persists, the index or a proxy serves damaged files.")


@explains(errors.PackageFormatError)
def _format(error: errors.PackageFormatError) -> str:
    return f"{error.url} is not a valid mip package description: {error.detail}."


@explains(errors.PackageSpecError)
def _spec(error: errors.PackageSpecError) -> str:
    return (f"'{error.spec}' is not a package MiPy Studio can install: {error.problem}. Examples: ssd1306, "
            "aioble@0.4.1, github:org/repo, https://example.com/driver.py")


@explains(errors.NoLibFolder)
def _no_lib(error: errors.NoLibFolder) -> str:
    return ("The board's sys.path has no lib folder to install into. Give a folder with --target "
            "(and add it to sys.path in boot.py).")


@explains(errors.PackageNotInstalled)
def _not_installed(error: errors.PackageNotInstalled) -> str:
    have = f" Installed: {', '.join(error.installed)}." if error.installed else " No packages are installed there."
    return f"'{error.name}' is not installed in {error.target} on the board.{have}"
