"""The one thread that talks to the board: :class:`BoardWorker` (lives on it) and :class:`BoardConnection` (the UI
side that owns the thread and forwards calls to the worker through queued signals).

When idle, the worker polls the board's friendly REPL every ~20 ms and emits ``sig_terminal_output`` for the
console and the plotter; key bytes from the console go to ``terminal_write``. A :class:`BoardJob` (run a file,
upload, list a folder, board info...) is queued to the worker, which pauses the terminal, runs the job's function
with the :class:`~ide.board.board.Board`, reports progress and the result or the failure, returns the board to the
friendly REPL and resumes polling. Stop sets the job's cancel event; the core turns it into Ctrl-C.

A job made with ``accepts_input`` (running a program) takes the console's key bytes while it is queued or runs:
:meth:`BoardConnection.write` puts them in the job's input buffer (a lock, no signal: the worker thread is busy
inside the job), the job's function drains it through ``ctx.input()`` and writes it to the board itself, so board
I/O stays on the worker thread. Ctrl-C typed then is Stop.

Usage::

    conn = BoardConnection()
    conn.sig_connected.connect(...)
    conn.open("virtual")
    job = BoardJob("Board info", lambda board, ctx: board.info())
    job.sig... (see BoardConnection signals, keyed by job)
    conn.submit(job)
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from PyQt6.QtCore import QMetaObject, QObject, Qt, QThread, QTimer, pyqtSignal, pyqtSlot

from ide.errors import BoardError, MipyError, PortVanishedError
from ide.ui.progress import ProgressThrottle

if TYPE_CHECKING:  # the board layer (pyserial, the virtual board) is imported by the first connect, not at start
    from ide.board.board import Board

#: Ctrl-C, as ``ide.board.repl.CTRL_C`` (not imported from there: see above).
CTRL_C = b"\x03"

log = logging.getLogger(__name__)

#: How long Quit waits for the board thread to interrupt its job and close the port.
SHUTDOWN_TIMEOUT_MS = 3000
#: Board threads that did not end in time at shutdown: kept alive (a QThread destroyed while running aborts).
_ORPHANED_THREADS: list = []
#: How often the idle worker looks for REPL output (a terminal feels live below ~50 ms).
POLL_INTERVAL_MS = 20
#: Progress updates reach the UI at most this often (Thonny updates every 0.2 s).

_job_ids = itertools.count(1)


@dataclass
class JobContext:
    """What a job function gets besides the board: a cancel event, and callbacks for progress and output."""

    cancel: threading.Event
    progress: Callable[[int, int], None]
    output: Callable[[bytes], None]
    input: Callable[[], bytes] = lambda: b""
    """Bytes the user typed for the job since the last call (b"" if none; only for ``accepts_input`` jobs)."""


@dataclass(eq=False)
class BoardJob:
    """A unit of board work. ``fn(board, ctx) -> result`` runs on the worker thread.

    ``pause_console``: the console shows a banner and ignores keys while the job runs (transfers: a stray key
    would corrupt the raw REPL exchange). ``show_prompt``: REPL output waiting from before the job is shown first,
    so the job's output follows it (jobs the user sees, such as running a file). ``accepts_input``: console keys
    go to the job (``ctx.input()``) instead of the REPL while it is queued or runs (a program's ``input()``)."""

    title: str
    fn: Callable[[Board, JobContext], Any]
    pause_console: bool = False
    show_prompt: bool = False
    cancellable: bool = True
    accepts_input: bool = False
    id: int = field(default_factory=lambda: next(_job_ids))
    cancel: threading.Event = field(default_factory=threading.Event)
    _typed: bytearray = field(default_factory=bytearray, repr=False)
    _typed_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def feed_input(self, data: bytes) -> None:
        """Keep typed bytes for the job (any thread)."""
        with self._typed_lock:
            self._typed += data

    def take_input(self) -> bytes:
        """The bytes typed since the last call (any thread; the worker calls it through ``ctx.input``)."""
        with self._typed_lock:
            data = bytes(self._typed)
            self._typed.clear()
        return data


def crlf(data: bytes) -> bytes:
    """Raw-REPL output of the virtual board uses bare ``\\n``; a terminal needs ``\\r\\n``."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _remove_stray_temporaries(board: Board) -> None:
    """A transfer cut short by a vanished board leaves its temporary file; it goes at the next connect."""
    from ide.filebrowser.board_fs import BoardFS
    try:
        removed = BoardFS(board).remove_stray_temporaries()
    except BoardError as error:  # a board that cannot list its files still deserves a console
        log.warning("could not look for stray temporary files: %s", error)
        return
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted transfer", removed)


def _set_clock(board: Board):
    """File times and logs on the board follow this computer's clock; a board without an RTC still connects.
    Returns the :class:`~ide.board.clock.ClockResult`, None when the board refused."""
    from ide.board.clock import set_board_clock
    try:
        return set_board_clock(board)
    except BoardError as error:
        log.warning("could not set the board's clock: %s", error)
        return None


class BoardWorker(QObject):
    """Owns the :class:`Board`; lives on the board thread. Call it only through :class:`BoardConnection`."""

    sig_connected = pyqtSignal(str, bytes)
    """The board on this port answered; the bytes are what it printed while we took control (the prompt)."""

    sig_connect_failed = pyqtSignal(str, object)
    """Opening this port failed: the exception."""

    sig_disconnected = pyqtSignal(object)
    """The connection ended: None when closed on purpose, else the exception (cable pulled...)."""

    sig_terminal_output = pyqtSignal(bytes)
    """Bytes for the console (friendly REPL output, or a running program's output)."""

    sig_job_started = pyqtSignal(object)
    """This :class:`BoardJob` started."""

    sig_job_progress = pyqtSignal(object, int, int)
    """(job, done, total), at most 5 times a second."""

    sig_job_finished = pyqtSignal(object, object)
    """(job, result): the job's function returned."""

    sig_job_failed = pyqtSignal(object, object)
    """(job, exception): the job's function raised (``ide.errors.Cancelled`` when the user cancelled)."""

    def __init__(self):
        super().__init__()
        self.board: Board | None = None
        self._timer: QTimer | None = None
        self.clock_result = None  # what setting the clock at the last connect did (None: not set)

    @pyqtSlot(str, int, object)
    def open(self, port: str, baud: int, options: object) -> None:
        self.close_board(None)
        options = dict(options or {})
        rescue = options.pop("rescue", None)  # None: a plain connect; else move main.py aside (True) or not
        set_clock = options.pop("set_clock", False)  # the board's RTC from this computer's clock (a setting)
        try:
            from ide.board.board import Board
            board = Board.open(port, baud=baud, timeout=10, interrupt=rescue is None, **options)
            note = b""
            if rescue is not None:
                # A board whose main.py loops, sleeps or turned Ctrl-C off: interrupt it across a reset.
                moved = board.rescue(move_main_aside=bool(rescue))
                note = (f"\r\n[rescued: main.py moved to {moved}]" if moved else "\r\n[rescued]").encode()
            _remove_stray_temporaries(board)
            self.clock_result = _set_clock(board) if set_clock else None
            greeting = note + board.to_friendly_repl()
        except Exception as error:  # reported to the UI, which explains it
            self.sig_connect_failed.emit(port, error)
            return
        self.board = board
        # Created here, on the board thread, so it fires there; deleted in close_board on the same thread.
        self._timer = QTimer()
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()
        self.sig_connected.emit(port, greeting)

    @pyqtSlot()
    def close(self) -> None:
        self.close_board(None)

    def close_board(self, error: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None  # a QTimer must die on its own thread (this one), not at interpreter exit
        if self.board is None:
            return
        board, self.board = self.board, None
        try:
            board.close()
        except Exception:  # closing a vanished port: nothing left to do
            pass
        self.sig_disconnected.emit(error)

    @pyqtSlot()
    def _poll(self) -> None:
        if self.board is None:
            return
        try:
            data = self.board.terminal_read(0)
        except PortVanishedError as error:
            self.close_board(error)
            return
        if data:
            self.sig_terminal_output.emit(data)

    @pyqtSlot(bytes)
    def terminal_write(self, data: bytes) -> None:
        if self.board is None:
            return
        try:
            self.board.terminal_write(data)
        except PortVanishedError as error:
            self.close_board(error)

    @pyqtSlot(object)
    def run_job(self, job: BoardJob) -> None:
        if self.board is None:
            self.sig_job_failed.emit(job, PortVanishedError("board", "not connected"))
            return
        self.sig_job_started.emit(job)
        if job.show_prompt:
            # Flush what the REPL printed before the job, so it lands above the job's output; a bare prompt
            # left over from the previous job is noise.
            try:
                pending = self.board.terminal_read(0)
            except PortVanishedError:
                pending = b""
            if pending.strip(b"\r\n> "):
                self.sig_terminal_output.emit(pending)
        ctx = JobContext(job.cancel, ProgressThrottle(lambda d, t: self.sig_job_progress.emit(job, d, t)),
                         lambda data: self.sig_terminal_output.emit(crlf(data)), job.take_input)
        board = self.board
        try:
            result = job.fn(board, ctx)
        except BaseException as error:  # any failure goes to the UI with the exception object
            self._back_to_repl(board, job)
            if isinstance(error, PortVanishedError):
                self.close_board(error)
            self.sig_job_failed.emit(job, error)
            return
        self._back_to_repl(board, job)
        self.sig_job_finished.emit(job, result)

    def _back_to_repl(self, board: Board, job: BoardJob) -> None:
        if self.board is None:
            return
        try:
            board.to_friendly_repl()
        except MipyError:
            try:
                board.repl.forget_state()
                board.interrupt(5)
                board.to_friendly_repl()
            except MipyError as error:
                if isinstance(error, PortVanishedError):
                    self.close_board(error)
                return


class BoardConnection(QObject):
    """UI-thread handle on the board thread. Re-emits the worker's signals (see :class:`BoardWorker`)."""

    sig_connected = pyqtSignal(str, bytes)
    """Connected to the port; the bytes are the board's prompt."""
    sig_connect_failed = pyqtSignal(str, object)
    """Connecting to the port failed with this exception."""
    sig_disconnected = pyqtSignal(object)
    """Disconnected: None on purpose, else the exception."""
    sig_terminal_output = pyqtSignal(bytes)
    """Bytes for the console and the plotter."""
    sig_job_started = pyqtSignal(object)
    """A job started."""
    sig_job_progress = pyqtSignal(object, int, int)
    """(job, done, total), throttled to 5 per second."""
    sig_job_finished = pyqtSignal(object, object)
    """(job, result)."""
    sig_job_failed = pyqtSignal(object, object)
    """(job, exception)."""

    _sig_open = pyqtSignal(str, int, object)
    _sig_close = pyqtSignal()
    _sig_write = pyqtSignal(bytes)
    _sig_job = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.port: str | None = None
        self.connected = False
        self.running: list[BoardJob] = []  # queued or running, oldest first
        self._thread = QThread()
        self._thread.setObjectName("board-worker")
        self._worker = BoardWorker()
        self._worker.moveToThread(self._thread)
        self._sig_open.connect(self._worker.open)
        self._sig_close.connect(self._worker.close)
        self._sig_write.connect(self._worker.terminal_write)
        self._sig_job.connect(self._worker.run_job)
        w = self._worker
        w.sig_connected.connect(self._on_connected)
        w.sig_connect_failed.connect(self.sig_connect_failed)
        w.sig_disconnected.connect(self._on_disconnected)
        w.sig_terminal_output.connect(self.sig_terminal_output)
        w.sig_job_started.connect(self.sig_job_started)
        w.sig_job_progress.connect(self.sig_job_progress)
        w.sig_job_finished.connect(self._on_job_finished)
        w.sig_job_failed.connect(self._on_job_failed)
        self._thread.start()

    def open(self, port: str, baud: int = 115200, **options) -> None:
        """Connect (asynchronously): ``sig_connected`` or ``sig_connect_failed`` follows. ``options`` go to
        :meth:`Board.open` (``virtual_config``, ``lines``)."""
        self.port = port
        self._sig_open.emit(port, baud, options)

    def close(self) -> None:
        """Disconnect (asynchronously): cancels jobs, then ``sig_disconnected(None)``."""
        self.stop()
        self._sig_close.emit()

    def write(self, data: bytes) -> None:
        """Send console key bytes to the board: to the REPL, or to the program of an ``accepts_input`` job that
        is queued or running (where Ctrl-C is :meth:`stop`)."""
        job = self.input_job
        if job is not None:
            typed, ctrl_c, _rest = data.partition(CTRL_C)
            if typed:
                job.feed_input(typed)
            if ctrl_c:
                self.stop()
            return
        if self.connected:
            self._sig_write.emit(data)

    @property
    def input_job(self) -> BoardJob | None:
        """The queued or running job that takes console input, if any."""
        return next((job for job in self.running if job.accepts_input and not job.cancel.is_set()), None)

    def submit(self, job: BoardJob) -> BoardJob:
        """Queue a job; its outcome arrives as ``sig_job_finished`` / ``sig_job_failed`` with the job."""
        self.running.append(job)
        self._sig_job.emit(job)
        return job

    @property
    def busy(self) -> bool:
        """True while a job is queued or running."""
        return bool(self.running)

    def stop(self) -> None:
        """Stop: cancel every queued or running job (Ctrl-C to a running program); when idle, send Ctrl-C to
        whatever runs in the REPL."""
        if self.running:
            for job in self.running:
                job.cancel.set()
        elif self.connected:
            self._sig_write.emit(b"\x03")

    def shutdown(self, timeout_ms: int = SHUTDOWN_TIMEOUT_MS) -> bool:
        """Interrupt the running job, close the board and end the thread (application exit), waiting at most
        ``timeout_ms``. False when the thread did not end in time: it is left to finish on its own (kept
        referenced, since destroying a running QThread aborts the process)."""
        if not self._thread.isRunning():
            return True
        self.stop()
        # Queued, not blocking: a job stuck in a board read must not freeze the window. The close runs on the
        # board thread after the job returns (Stop made it return), then the thread's event loop ends.
        QMetaObject.invokeMethod(self._worker, "close", Qt.ConnectionType.QueuedConnection)
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            return True
        log.warning("the board thread did not end within %d ms; leaving it to finish", timeout_ms)
        _ORPHANED_THREADS.append((self._thread, self._worker))
        self._worker.setParent(None)
        return False

    def _on_connected(self, port: str, greeting: bytes) -> None:
        self.connected = True
        self.sig_connected.emit(port, greeting)

    def _on_disconnected(self, error: object) -> None:
        self.connected = False
        self.sig_disconnected.emit(error)

    def _on_job_finished(self, job: BoardJob, result: object) -> None:
        if job in self.running:
            self.running.remove(job)
        self.sig_job_finished.emit(job, result)

    def _on_job_failed(self, job: BoardJob, error: object) -> None:
        if job in self.running:
            self.running.remove(job)
        self.sig_job_failed.emit(job, error)
