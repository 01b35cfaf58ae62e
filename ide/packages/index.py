"""The host side of mip: read a package index in micropython-lib's published layout, resolve packages and their
dependencies into a list of files, and fetch those files, each verified against the hash the index lists.

The layout (micropython-lib's ``tools/build.py``, served at https://micropython.org/pi/v2)::

    index.json                          {"v": 2, "packages": [{"name", "version", "description", ...}]}
    package/<mpy>/<name>/<version>.json {"v": 1, "hashes": [[path, short sha256]], "urls": [[path, url]],
                                         "deps": [[name, version]], "version": "..."}
    file/<xx>/<short sha256>            the file itself (``.mpy`` compiled for that .mpy version, or ``.py``)

``<mpy>`` is the board's .mpy version (``6`` for MicroPython 1.19 and newer) or ``py`` for source. A package
can also be a ``package.json`` on GitHub, GitLab or Codeberg (``github:org/repo[/path][@branch]``) or any
http(s) URL, whose ``urls`` entries name the files (relative to the package.json); or a single ``.py``/``.mpy``.

Everything fetched is cached on this computer (platformdirs' user cache folder), so a package installed once
installs again without a network: files named by their hash are taken from the cache first (they never change),
everything else (index, package lists, files named by URL) from the network first and from the cache when the
network is not there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import posixpath
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import platformdirs

from ide.packages.errors import (PackageFetchError, PackageFormatError, PackageHashMismatch, PackageNotFound,
                                 PackageSpecError)

log = logging.getLogger(__name__)

DEFAULT_INDEX = "https://micropython.org/pi/v2"
FETCH_TIMEOUT_S = 15.0
SOURCE_VARIANT = "py"
# Where github:/gitlab:/codeberg: point (mpremote's and mip's own table): organisation, repository, branch, path.
HOSTS = {
    "github:": "https://raw.githubusercontent.com/{org}/{repo}/{branch}/{path}",
    "gitlab:": "https://gitlab.com/{org}/{repo}/-/raw/{branch}/{path}",
    "codeberg:": "https://codeberg.org/api/v1/repos/{org}/{repo}/raw/{path}?ref={branch}",
}
URL_PREFIXES = ("http://", "https://") + tuple(HOSTS)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

Fetcher = Callable[[str, float], bytes]


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("mipy-studio")) / "mip"


def rewrite_url(url: str, branch: str | None = None) -> str:
    """``github:org/repo/path`` (and gitlab:, codeberg:) as the https URL of the raw file on ``branch``
    (default: the repository's default branch, ``HEAD``); other URLs unchanged."""
    for prefix, template in HOSTS.items():
        if url.startswith(prefix):
            parts = url[len(prefix):].split("/")
            if len(parts) < 2 or not parts[0] or not parts[1]:
                raise PackageSpecError(url, f"a {prefix} address is {prefix}ORGANISATION/REPOSITORY[/PATH]")
            return template.format(org=parts[0], repo=parts[1], branch=branch or "HEAD", path="/".join(parts[2:]))
    return url


@dataclasses.dataclass(frozen=True)
class PackageSpec:
    """What the user asked for. ``kind``: "index" (a name in the index), "json" (a package.json at a URL) or
    "file" (a single .py/.mpy at a URL). ``version`` is the index version or the git branch/tag (None: latest)."""

    text: str
    kind: str
    name: str
    location: str
    version: str | None = None

    @property
    def key(self) -> str:
        """Identity for dependency resolution: the same package asked for twice is fetched once."""
        return self.name.lower() if self.kind == "index" else self.location


def parse_spec(text: str, version: str | None = None) -> PackageSpec:
    """``name``, ``name@version``, ``github:org/repo[/path][@branch]``, ``gitlab:...``, an http(s) URL of a
    package.json or of a folder holding one, or of a single ``.py``/``.mpy`` file."""
    text = (text or "").strip()
    if not text:
        raise PackageSpecError(text, "no package named")
    location = text
    if "@" in text and not text.startswith(("http://", "https://")):
        location, _, at_version = text.rpartition("@")
        version = at_version or version
    if location.startswith(URL_PREFIXES):
        if location.endswith((".py", ".mpy")):
            name = posixpath.basename(location).rsplit(".", 1)[0]
            return PackageSpec(text, "file", name, location, version)
        if location.startswith(tuple(HOSTS)):
            rewrite_url(location)  # refuses an address without organisation and repository
        if not location.endswith(".json"):
            location = location.rstrip("/") + "/package.json"
        folder = posixpath.dirname(location.split("?", 1)[0])
        name = posixpath.basename(folder) or "package"
        return PackageSpec(text, "json", name, location, version)
    if not _NAME.match(location):
        raise PackageSpecError(text, "not a package name (letters, digits, '-', '_', '.'), github:/gitlab: "
                                     "address or http(s) URL")
    return PackageSpec(text, "index", location, location, version)


@dataclasses.dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str
    description: str = ""
    author: str = ""
    license: str = ""
    versions: dict = dataclasses.field(default_factory=dict)  # {"6": ["0.1", ...], "py": [...]}

    def matches(self, text: str) -> bool:
        text = text.lower()
        return text in self.name.lower() or text in self.description.lower()


@dataclasses.dataclass(frozen=True)
class PlannedFile:
    """One file of a package: ``path`` relative to the install folder, where its bytes come from, and the sha256
    prefix the index lists for it ("" for files a package.json names by URL: nobody publishes their hash)."""

    path: str
    url: str
    short_hash: str = ""


@dataclasses.dataclass
class ResolvedPackage:
    name: str
    version: str
    spec: PackageSpec
    variant: str                     # "6" (the .mpy version) or "py"
    files: list[PlannedFile]
    description: str = ""
    required_by: str | None = None   # the package whose deps brought it in; None when asked for


def _safe_relative(path: str, url: str) -> str:
    """A package's file path must stay inside the install folder."""
    clean = posixpath.normpath(path.replace("\\", "/"))
    if not path or clean.startswith(("/", "..")) or clean == ".":
        raise PackageFormatError(url, f"file path {path!r} leaves the install folder")
    return clean


def _urlopen(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class PackageIndex:
    """One package index (and the URLs packages point to), with the cache on this computer.

    ``offline`` answers from the cache only. ``fetcher(url, timeout) -> bytes`` replaces urllib (tests use the
    real network stack against a local server instead; this is for a proxy-aware opener)."""

    def __init__(self, url: str = DEFAULT_INDEX, cache: Path | str | None = None, timeout: float = FETCH_TIMEOUT_S,
                 offline: bool = False, fetcher: Fetcher | None = None):
        self.url = (url or DEFAULT_INDEX).rstrip("/")
        self.cache = Path(cache) if cache is not None else cache_dir()
        self.timeout = timeout
        self.offline = offline
        self._fetcher = fetcher or _urlopen
        self._entries: list[IndexEntry] | None = None
        self.fetched_from_network = 0
        self.served_from_cache = 0

    # --- fetching with the cache -----------------------------------------------------------------------------

    def _cache_path(self, url: str) -> Path:
        return self.cache / hashlib.sha256(url.encode()).hexdigest()[:40]

    def _store(self, url: str, data: bytes) -> None:
        path = self._cache_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except OSError as error:  # a full or read-only cache costs the offline copy, not the install
            log.warning("could not cache %s: %s", url, error)

    def _cached(self, url: str) -> bytes | None:
        try:
            return self._cache_path(url).read_bytes()
        except OSError:
            return None

    def fetch(self, url: str, short_hash: str = "") -> bytes:
        """The bytes at ``url``. With ``short_hash`` (a content-addressed file) the cache is asked first and the
        bytes must hash to it; otherwise the network is asked first and the cache serves when it is down."""
        if short_hash:
            cached = self._cached(url)
            if cached is not None and hashlib.sha256(cached).hexdigest().startswith(short_hash):
                self.served_from_cache += 1
                return cached
        data = None
        failure: PackageFetchError | None = None
        if not self.offline:
            try:
                data = self._fetcher(url, self.timeout)
                self.fetched_from_network += 1
            except urllib.error.HTTPError as error:
                # The server answered: its "not there" is the truth, a stale cached copy is not used.
                raise PackageFetchError(url, f"HTTP {error.code} {error.reason}", error.code) from error
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = getattr(error, "reason", None) or error
                failure = PackageFetchError(url, str(reason))
                log.info("network failed for %s (%s); trying the cache", url, reason)
        if data is None:
            data = self._cached(url)
            if data is None:
                raise failure or PackageFetchError(url, "not in the cache", offline=True)
            self.served_from_cache += 1
        if short_hash:
            got = hashlib.sha256(data).hexdigest()
            if not got.startswith(short_hash):
                raise PackageHashMismatch(url, short_hash, got)
        self._store(url, data)
        return data

    def _fetch_json(self, url: str) -> dict:
        data = self.fetch(url)
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise PackageFormatError(url, f"not valid JSON ({error})") from error
        if not isinstance(value, dict):
            raise PackageFormatError(url, "must hold a JSON object")
        return value

    # --- the index -------------------------------------------------------------------------------------------

    def entries(self) -> list[IndexEntry]:
        """Every package the index lists (index.json), sorted by name."""
        if self._entries is None:
            url = f"{self.url}/index.json"
            raw = self._fetch_json(url).get("packages", [])
            if isinstance(raw, dict):  # build.py's comment draws a dict; its code writes a list
                raw = list(raw.values())
            if not isinstance(raw, list):
                raise PackageFormatError(url, "'packages' must be a list")
            entries = []
            for item in raw:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                entries.append(IndexEntry(item["name"], str(item.get("version") or ""),
                                          str(item.get("description") or ""), str(item.get("author") or ""),
                                          str(item.get("license") or ""), dict(item.get("versions") or {})))
            self._entries = sorted(entries, key=lambda entry: entry.name.lower())
        return self._entries

    def search(self, text: str = "") -> list[IndexEntry]:
        return [entry for entry in self.entries() if entry.matches(text)] if text else self.entries()

    def entry(self, name: str) -> IndexEntry | None:
        try:
            entries = self.entries()
        except PackageFetchError:
            return None  # an index without index.json (or offline without it) still installs by name
        return next((entry for entry in entries if entry.name.lower() == name.lower()), None)

    # --- resolving -------------------------------------------------------------------------------------------

    def resolve(self, specs: list[PackageSpec | str], mpy_version: int | None,
                use_mpy: bool = True) -> list[ResolvedPackage]:
        """Each package asked for, then its dependencies (depth first), each once. ``mpy_version`` is the
        board's (None when it has none): .mpy files for it when the index has them, else source."""
        variant = str(mpy_version) if use_mpy and mpy_version else SOURCE_VARIANT
        resolved: list[ResolvedPackage] = []
        seen: set[str] = set()

        def visit(spec: PackageSpec, required_by: str | None) -> None:
            if spec.key in seen:
                return
            seen.add(spec.key)
            package, deps = self._resolve_one(spec, variant)
            package.required_by = required_by
            resolved.append(package)
            for dep_name, dep_version in deps:
                dep_version = None if dep_version in ("", "latest") else dep_version
                visit(parse_spec(dep_name, dep_version), package.name)

        for spec in specs:
            visit(spec if isinstance(spec, PackageSpec) else parse_spec(spec), None)
        return resolved

    def _resolve_one(self, spec: PackageSpec, variant: str) -> tuple[ResolvedPackage, list[tuple[str, str]]]:
        if spec.kind == "file":
            url = rewrite_url(spec.location, spec.version)
            name = posixpath.basename(spec.location)
            return ResolvedPackage(spec.name, spec.version or "", spec, SOURCE_VARIANT,
                                   [PlannedFile(_safe_relative(name, url), url)]), []
        if spec.kind == "json":
            url = rewrite_url(spec.location, spec.version)
            package_json = self._package_json(url, spec)
            base = spec.location.rpartition("/")[0]
            used_variant = SOURCE_VARIANT
            description = ""
        else:
            version = spec.version or "latest"
            package_json, used_variant, url = self._index_package_json(spec, version, variant)
            base = ""
            entry = self.entry(spec.name)
            description = entry.description if entry else ""
        files = []
        for item in package_json.get("hashes", ()):
            path, short_hash = self._pair(item, url, "hashes")
            short_hash = short_hash.lower()
            if not re.fullmatch(r"[0-9a-f]{4,64}", short_hash):
                raise PackageFormatError(url, f"{short_hash!r} is not a sha256 prefix")
            files.append(PlannedFile(_safe_relative(path, url), f"{self.url}/file/{short_hash[:2]}/{short_hash}",
                                     short_hash))
        for item in package_json.get("urls", ()):
            path, file_url = self._pair(item, url, "urls")
            if base and not file_url.startswith(URL_PREFIXES):
                file_url = f"{base}/{file_url}"  # relative to the package.json, as mip and mpremote read it
            files.append(PlannedFile(_safe_relative(path, url), rewrite_url(file_url, spec.version)))
        deps = [self._pair(item, url, "deps") for item in package_json.get("deps", ())]
        version = str(package_json.get("version") or spec.version or "")
        return ResolvedPackage(spec.name, version, spec, used_variant, files, description), deps

    @staticmethod
    def _pair(item, url: str, field: str) -> tuple[str, str]:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(v, str) for v in item)):
            raise PackageFormatError(url, f"each {field!r} entry must be a pair of strings, not {item!r}")
        return item[0], item[1]

    def _package_json(self, url: str, spec: PackageSpec) -> dict:
        try:
            return self._fetch_json(url)
        except PackageFetchError as error:
            if error.status == 404:
                raise PackageNotFound(spec.name, spec.version or "", url) from error
            raise

    def _index_package_json(self, spec: PackageSpec, version: str, variant: str) -> tuple[dict, str, str]:
        # Old boards (.mpy 5 and older) and packages published as source only have no .mpy variant: take the
        # source then, which every MicroPython compiles on import.
        variants = [variant] + ([SOURCE_VARIANT] if variant != SOURCE_VARIANT else [])
        for candidate in variants:
            url = f"{self.url}/package/{candidate}/{spec.name}/{version}.json"
            try:
                return self._fetch_json(url), candidate, url
            except PackageFetchError as error:
                if error.status != 404:
                    raise
                log.info("%s: not found, %s", url, "trying source" if candidate != SOURCE_VARIANT else "giving up")
        raise PackageNotFound(spec.name, spec.version or "", f"{self.url}/package/{variant}/{spec.name}/",
                              variant)

    def fetch_files(self, packages: list[ResolvedPackage]) -> dict[tuple[str, str], bytes]:
        """Every file of ``packages``, verified: {(package name, path): bytes}. Fetched before anything is
        written to the board, so a missing or damaged file leaves the board as it was."""
        return {(package.name, planned.path): self.fetch(planned.url, planned.short_hash)
                for package in packages for planned in package.files}
