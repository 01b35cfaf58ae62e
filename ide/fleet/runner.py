"""Run one job on many boards in parallel: one worker thread per board, progress per board, a result per board.

A job is an object with ``name`` and ``run(port, report) -> JobOutcome``; ``report`` is the board's
:class:`BoardReport` (``phase(name)``, ``progress(done, total)``). Whatever one board raises ends that board's
worker only: it becomes a failed :class:`BoardResult` carrying the exception, and the other boards go on.

Every worker spends most of its time waiting on its serial port (or on esptool waiting on it), so threads are
enough: the GIL is released while they wait. The work that does take CPU (mpy-cross, esptool's compression, a
virtual board's interpreter) runs in other processes or in C.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from typing import Callable, Protocol

from ide.errors import Cancelled, MipyError

log = logging.getLogger(__name__)

# ok / failed / cancelled: what a summary row says in its result column.
OK = "ok"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclasses.dataclass
class JobOutcome:
    """What a job found out about its board."""

    chip: str = ""
    mac: str = ""
    summary: str = ""       # "wrote 1.4 MB", "uploaded 3 files", the first line of exec output
    output: bytes = b""     # everything the board printed (exec, run-project's first seconds)


@dataclasses.dataclass
class BoardResult:
    """One row of the summary table."""

    port: str
    status: str                      # OK, FAILED, CANCELLED
    seconds: float
    chip: str = ""
    mac: str = ""
    summary: str = ""
    output: bytes = b""
    error: BaseException | None = None  # for FAILED: the exception (explain() it for people)

    @property
    def ok(self) -> bool:
        return self.status == OK


class Job(Protocol):
    name: str

    def run(self, port: str, report: "BoardReport") -> JobOutcome: ...


@dataclasses.dataclass
class BoardProgress:
    """What one board is doing now (a progress line)."""

    port: str
    phase: str = "waiting"
    done: int = 0
    total: int = 0
    started: float = 0.0


class BoardReport:
    """A worker's reporter: phase changes and progress of its board go to ``on_update(BoardProgress)``.
    Progress is throttled per board (at most every ``interval`` s, plus the end of each phase)."""

    def __init__(self, port: str, on_update: Callable[[BoardProgress], None] | None,
                 cancel: threading.Event | None, interval: float = 0.1):
        self.state = BoardProgress(port, started=time.monotonic())
        self.cancel = cancel
        self._on_update = on_update
        self._interval = interval
        self._last = 0.0
        # What the job learnt before it failed (a flash job knows the chip before it writes): kept for the row.
        self.chip = ""
        self.mac = ""

    def phase(self, name: str) -> None:
        self.state.phase = name
        self.state.done = self.state.total = 0
        self._emit(force=True)

    def progress(self, done: int, total: int) -> None:
        self.state.done, self.state.total = done, total
        self._emit(force=done >= total)

    def _emit(self, force: bool) -> None:
        now = time.monotonic()
        if self._on_update is None or (not force and now - self._last < self._interval):
            return
        self._last = now
        self._on_update(dataclasses.replace(self.state))


def run_fleet(ports: list[str], job: Job, on_update: Callable[[BoardProgress], None] | None = None,
              on_result: Callable[[BoardResult], None] | None = None, cancel: threading.Event | None = None,
              max_workers: int | None = None) -> list[BoardResult]:
    """Run ``job`` on every port at once; returns the results in the order of ``ports``.

    ``on_update`` and ``on_result`` are called from the worker threads (a UI hands them to its own thread).
    ``max_workers`` limits how many boards work at the same time (default: all of them).
    """
    results: dict[str, BoardResult] = {}

    def work(port: str) -> BoardResult:
        report = BoardReport(port, on_update, cancel)
        started = time.monotonic()
        try:
            if cancel is not None and cancel.is_set():
                raise Cancelled(job.name)
            outcome = job.run(port, report)
            result = BoardResult(port, OK, time.monotonic() - started, outcome.chip, outcome.mac, outcome.summary,
                                 outcome.output)
        except Cancelled as error:
            result = BoardResult(port, CANCELLED, time.monotonic() - started, report.chip, report.mac, error=error)
        except MipyError as error:
            log.info("%s on %s failed: %s", job.name, port, error)
            result = BoardResult(port, FAILED, time.monotonic() - started, report.chip, report.mac, error=error)
        except Exception as error:  # a bug on one board's path must not take the others down
            log.exception("%s on %s failed unexpectedly", job.name, port)
            result = BoardResult(port, FAILED, time.monotonic() - started, report.chip, report.mac, error=error)
        report.phase(result.status)
        if on_result is not None:
            on_result(result)
        return result

    workers = max_workers or len(ports) or 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet") as pool:
        futures = {pool.submit(work, port): port for port in ports}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    return [results[port] for port in ports]
