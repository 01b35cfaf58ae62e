"""Run project: stop what runs, build, sync, soft reset, and follow the program's output.

One function per step so the window and the command line share them: :func:`deploy` (interrupt, build, sync),
:func:`run_project` (deploy, then soft reset leaving main.py running), :func:`follow_output` (stream until
cancelled, then Ctrl-C). Progress is ``progress(done, total)`` within the current phase, which ``on_phase``
names ("stopping", "building", "installing packages", "uploading", "restarting"): files while building, bytes
while uploading. The mip packages a project declares are installed when the board lacks them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from typing import Callable

from ide.board.board import Board
from ide.board.repl import OutputCallback
from ide.errors import Cancelled
from ide.filebrowser.board_fs import BoardFS
from ide.project.build import BuildResult, MpyTarget, build_project, detect_target
from ide.project.project import Project
from ide.project.sync import SyncResult, sync_build

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Phase = Callable[[str], None]


@dataclasses.dataclass
class RunReport:
    target: MpyTarget
    build: BuildResult
    sync: SyncResult
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # per phase
    packages: object = None  # ide.packages.install.InstallReport when packages were installed


# The firmware cannot change while the port is open (flashing needs the port), so one question per connection.
_targets: "weakref.WeakKeyDictionary[Board, MpyTarget]" = weakref.WeakKeyDictionary()


def _target_for(board: Board) -> MpyTarget:
    target = _targets.get(board)
    if target is None:
        target = _targets[board] = detect_target(board)
    return target


def _check(cancel: threading.Event | None, what: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(what)


def deploy(board: Board, project: Project, progress: Progress | None = None, cancel: threading.Event | None = None,
           on_phase: Phase | None = None, on_file: Callable[[str], None] | None = None,
           target: MpyTarget | None = None) -> RunReport:
    """Stop the running program, build for this board, and sync. A syntax error (:class:`BuildSyntaxError`)
    is raised before anything reaches the board."""
    phase = on_phase or (lambda _name: None)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    phase("stopping")
    # Ctrl-C and straight into the raw REPL, where everything that follows runs (a plain interrupt would leave
    # the friendly prompt, and the next exec would interrupt a second time to get to the raw one).
    board.repl.enter_raw()
    # A stopped program keeps its objects (main.py's globals survive Ctrl-C): a soft reset in the raw REPL frees
    # the heap without running main.py, so the transfer helpers fit even on an ESP8266.
    board.soft_reset(run_main=False)
    seconds["stopping"] = time.monotonic() - started
    _check(cancel, "run project")

    started = time.monotonic()
    phase("building")
    target = target or _target_for(board)
    build = build_project(project, target, progress, cancel)
    seconds["building"] = time.monotonic() - started
    _check(cancel, "run project")

    fs = BoardFS(board)
    packages = None
    if project.packages:
        from ide.packages.index import DEFAULT_INDEX, PackageIndex
        from ide.packages.install import ensure_installed
        started = time.monotonic()
        phase("installing packages")
        packages = ensure_installed(fs, list(project.packages), PackageIndex(project.package_index or DEFAULT_INDEX),
                                    progress=progress, cancel=cancel, on_file=on_file)
        seconds["installing packages"] = time.monotonic() - started
        _check(cancel, "run project")

    started = time.monotonic()
    phase("uploading")
    synced = sync_build(fs, build, project.name, progress, cancel, on_file)
    seconds["uploading"] = time.monotonic() - started
    from ide.project.ota import give_board_key
    give_board_key(board, fs, project, build, target)  # updates over the air: this board's key, at its first deploy
    return RunReport(target, build, synced, seconds, packages)


def run_project(board: Board, project: Project, on_output: OutputCallback | None = None,
                progress: Progress | None = None, cancel: threading.Event | None = None,
                on_phase: Phase | None = None, on_file: Callable[[str], None] | None = None,
                target: MpyTarget | None = None) -> RunReport:
    """Deploy, then soft-reset so boot.py and main.py run; returns as soon as the board has restarted, with
    main.py running (its output is the caller's to follow: :func:`follow_output`, or the window's console)."""
    report = deploy(board, project, progress, cancel, on_phase, on_file, target)
    started = time.monotonic()
    if on_phase:
        on_phase("restarting")
    before = board.soft_reset(on_output, run_main=True, wait_for_prompt=False)
    del before  # what the REPL printed before the reboot line: the prompt we left
    report.seconds["restarting"] = time.monotonic() - started
    return report


def follow_output(board: Board, on_output: OutputCallback, cancel: threading.Event,
                  poll: float = 0.05) -> None:
    """Stream the running program's output until ``cancel`` is set, then stop it (Ctrl-C) and return with the
    board at its prompt."""
    while not cancel.is_set():
        data = board.terminal_read(poll)
        if data:
            on_output(data)
    board.interrupt()
