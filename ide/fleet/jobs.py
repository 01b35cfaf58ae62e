"""The jobs a many-board run can do: flash firmware, deploy a project, run it, exec a line.

Each job opens its own board (one port per worker) and reports its phases and progress to its
:class:`~ide.fleet.runner.BoardReport`. The row's chip and MAC come from esptool (flash) or from the board itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from ide.board.board import Board
from ide.board.serial_link import DEFAULT_LINES, LineSettings
from ide.fleet.boards import open_board
from ide.fleet.errors import FlashWorkerDied
from ide.fleet.runner import BoardReport, JobOutcome
from ide.project.project import Project

# One exec: the chip's Wi-Fi MAC where the firmware has network (ESP32: the same bytes as machine.unique_id()),
# else the unique id, which on an ESP8266 is the chip id rather than the MAC.
_MAC_CODE = ("def _mipy_mac():\n"
             "    try:\n"
             "        import network\n"
             "        m = network.WLAN(network.STA_IF).config('mac')\n"
             "    except Exception:\n"
             "        import machine\n"
             "        m = machine.unique_id()\n"
             "    print(':'.join('%02x' % b for b in m))\n"
             "_mipy_mac()\n"
             "del _mipy_mac\n")


def identify(board: Board) -> tuple[str, str]:
    """(chip, MAC) of a board at its prompt, in two short execs."""
    info = board.info()
    chip = info.platform + (" (virtual)" if info.virtual else "")
    mac = board.exec(_MAC_CODE).decode("ascii", "replace").strip()
    return chip, mac


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KB"


@dataclasses.dataclass
class BoardOptions:
    """How each board's REPL is opened (the command line's --baud, --timeout, --dtr/--rts)."""

    baud: int = 115200
    timeout: float = 10.0
    lines: LineSettings = DEFAULT_LINES


class FlashJob:
    """Write a MicroPython firmware image (esptool through :mod:`ide.flasher.flash`), each board in a process of
    its own: esptool logs through one process-wide logger, so ide.flasher lets one flash run at a time per
    process, and the boards would otherwise be written one after the other."""

    name = "flash"

    def __init__(self, firmware: Path | bytes, chip: str | None = None, erase: bool = False,
                 baud: int | None = None, in_process: bool = False):
        # Read once: every worker writes the same bytes, and a file changed midway would flash two versions.
        self.image = firmware if isinstance(firmware, bytes) else Path(firmware).read_bytes()
        self.chip = chip
        self.erase = erase
        self.baud = baud
        self.in_process = in_process

    def run(self, port: str, report: BoardReport) -> JobOutcome:
        # A frozen bundle re-runs its own executable for a spawned process, which needs
        # multiprocessing.freeze_support() at its entry point; without it, stay in this process (one at a time).
        if self.in_process or getattr(sys, "frozen", False):
            return _outcome(_flash(port, self.image, self.chip, self.erase, self.baud, report.phase,
                                   report.progress, report.cancel))
        context = multiprocessing.get_context("spawn")  # the same on every OS, and no inherited threads
        receive, send = context.Pipe(duplex=False)
        cancel = context.Event()
        child = context.Process(target=_flash_child, args=(send, port, self.image, self.chip, self.erase,
                                                           self.baud, cancel), daemon=True,
                                name=f"flash {port}")
        child.start()
        send.close()
        try:
            while True:
                if report.cancel is not None and report.cancel.is_set():
                    cancel.set()  # the child stops at its next safe point: never in the middle of a write
                if not receive.poll(0.1):
                    if not child.is_alive() and not receive.poll(0):
                        raise FlashWorkerDied(port, child.exitcode)
                    continue
                try:
                    kind, value = receive.recv()
                except EOFError:
                    raise FlashWorkerDied(port, child.join(5) or child.exitcode) from None
                if kind == "phase":
                    report.phase(value)
                elif kind == "progress":
                    report.progress(*value)
                elif kind == "chip":
                    report.chip, report.mac = value
                elif kind == "done":
                    return JobOutcome(*value)
                elif kind == "error":
                    raise _rebuild(value)
        finally:
            receive.close()
            child.join(10)
            if child.is_alive():
                child.kill()


def _flash(port, image, chip, erase, baud, phase, progress, cancel):
    from ide.flasher import flash
    extra = {"baud": baud} if baud else {}
    return flash.flash_firmware(port, image, chip=chip, erase=erase, progress=progress, stage=phase,
                                cancel=cancel, **extra)


def _outcome(result) -> JobOutcome:
    return JobOutcome(result.chip.chip.display_name, result.chip.mac or "",
                      f"wrote {_size(result.size)} at 0x{result.offset:x}")


def _flash_child(send, port, image, chip, erase, baud, cancel) -> None:
    """The flash of one board, in its own process; everything it learns goes back through ``send``."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= 0.1:
            last[0] = now
            send.send(("progress", (done, total)))

    try:
        result = _flash(port, image, chip, erase, baud, lambda name: send.send(("phase", name)), progress, cancel)
        send.send(("done", dataclasses.astuple(_outcome(result))))
    except BaseException as error:  # handed to the parent, which raises it as if it happened there
        send.send(("error", _portable(error)))
    finally:
        send.close()


def _portable(error: BaseException) -> tuple:
    """An exception as (module, class, args, attributes): ours carry their facts on attributes and take other
    constructor arguments than their args, so pickling them whole does not round-trip."""
    state = {key: value for key, value in vars(error).items() if _picklable(value)}
    return type(error).__module__, type(error).__qualname__, tuple(str(arg) for arg in error.args), state


def _picklable(value) -> bool:
    return isinstance(value, (str, bytes, int, float, bool, type(None), tuple, list, dict))


def _rebuild(portable: tuple) -> BaseException:
    module, name, args, state = portable
    try:
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(name)
    except (ImportError, AttributeError, TypeError):
        return FlashWorkerDied("?", None, f"{module}.{name}: {' '.join(args)}")
    error = cls.__new__(cls)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


class _BuildGate:
    """Builds of one project must not overlap: they share its build/ folder. The lock is held from the
    "building" phase until the next phase begins (uploads to the boards run in parallel again)."""

    _locks: dict[Path, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, project: Project, report: BoardReport):
        with self._guard:
            self.lock = self._locks.setdefault(project.build_dir.resolve(), threading.Lock())
        self.report = report
        self.held = False

    def on_phase(self, name: str) -> None:
        if name == "building" and not self.held:
            self.lock.acquire()
            self.held = True
        elif name != "building" and self.held:
            self.lock.release()
            self.held = False
        self.report.phase(name)

    def close(self) -> None:
        if self.held:
            self.lock.release()
            self.held = False


@contextlib.contextmanager
def _connect(port: str, options: BoardOptions, report: BoardReport) -> Iterator[Board]:
    """The board at ``port`` at its prompt, its chip and MAC already on the report's row."""
    report.phase("connecting")
    with open_board(port, options.baud, options.timeout, options.lines) as board:
        report.chip, report.mac = identify(board)
        yield board


class DeployJob:
    """Build and upload what changed (``run=True``: then restart, leaving main.py running; its first
    ``follow_s`` seconds of output are kept for the row)."""

    def __init__(self, project: Project, run: bool = False, follow_s: float = 0.0,
                 options: BoardOptions | None = None):
        self.project = project
        self.run_after = run
        self.follow_s = follow_s
        self.options = options or BoardOptions()
        self.name = "run-project" if run else "deploy"

    def run(self, port: str, report: BoardReport) -> JobOutcome:
        from ide.project.run_project import deploy, run_project
        with _connect(port, self.options, report) as board:
            gate = _BuildGate(self.project, report)
            output = bytearray()
            try:
                if self.run_after:
                    done = run_project(board, self.project, output.extend, report.progress, report.cancel,
                                       gate.on_phase)
                else:
                    done = deploy(board, self.project, report.progress, report.cancel, gate.on_phase)
            finally:
                gate.close()
            if self.run_after and self.follow_s > 0:
                report.phase("running")
                deadline = time.monotonic() + self.follow_s
                while time.monotonic() < deadline and not (report.cancel and report.cancel.is_set()):
                    output += board.terminal_read(0.05)
            elif not self.run_after:
                board.to_friendly_repl()
        s = done.sync
        summary = f"uploaded {len(s.uploaded)} ({_size(s.bytes_sent)}), {s.unchanged} unchanged"
        if s.removed:
            summary += f", removed {len(s.removed)}"
        return JobOutcome(report.chip, report.mac, summary, bytes(output))


class ExecJob:
    """Run a line of Python on each board and keep what it printed."""

    name = "exec"

    def __init__(self, code: str, options: BoardOptions | None = None, timeout: float | None = None):
        self.code = code
        self.options = options or BoardOptions()
        self.timeout = timeout

    def run(self, port: str, report: BoardReport) -> JobOutcome:
        with _connect(port, self.options, report) as board:
            report.phase("running")
            output = board.exec(self.code, timeout=self.timeout)
        text = output.decode("utf-8", "replace").strip()
        return JobOutcome(report.chip, report.mac, text.splitlines()[0][:60] if text else "done", output)
