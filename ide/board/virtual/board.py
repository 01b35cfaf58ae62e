"""``VirtualBoard``: the bridge thread between the host's port and the interpreter, and the board's life cycle.

    host tool <-> host port (links.py) <-> wire (wire.py) <-> bridge <-> board line (links.py) <-> micropython -i

The bridge is the board's "USB-serial chip and UART": it paces bytes to the baud rate, drops what overruns the
UART buffer, turns Ctrl-C into SIGINT the way the chip's UART interrupt turns it into KeyboardInterrupt
(process.py), shows what a chip prints around resets (console.py), restarts the interpreter when it exits
(Ctrl-D, sys.exit, machine.soft_reset: the ESP32 "soft reboot"), performs the hard resets and deep sleep the
shims request over the control channel, and injects faults for tests (faults.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import select
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from ide.board.virtual import heap, process, profiles
from ide.board.virtual.console import (CTRL_B, CTRL_C, CTRL_E, MACHINE_RESET_CAUSE, ROM_RESET_CODES, SOFT_REBOOT,
                                       BOOT_SENTINEL, Console, rom_boot_text)
from ide.board.virtual.faults import InputFaults, OutputFaults
from ide.board.virtual.links import (ClientHostPort, PipeBoardLine, PtyBoardLine, PtyHostPort, SocketHostPort,
                                     choose_link, pty_available)
from ide.board.virtual.wire import (BOARD_TO_HOST_WINDOW, ESP32_STDIN_BUFFER, UNREAD_OUTPUT_DROP_S,
                                    UartReceiveBuffer, Wire)
from ide.errors import VirtualBoardError, VirtualBoardUnavailable

log = logging.getLogger(__name__)

# Two SIGINTs closer than this kill the unix port (the second lands before the first is handled).
SIGINT_SPACING_S = 0.05


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
    # "pty": a pseudo-terminal each side; "socket": socket://127.0.0.1:PORT for the host, pipes for the interpreter.
    # None: $MIPY_VIRTUAL_LINK, else a pty where the system has one (links.choose_link).
    link: str | None = None
    # "micropython_unix" or "micropython_module" (process.RUNTIMES); None: $MIPY_VIRTUAL_RUNTIME, else the first
    # installed. Ignored when ``interpreter`` names an executable.
    runtime: str | None = None


class VirtualBoard:
    """One virtual board. ``start()`` returns the device path a serial tool opens; ``stop()`` ends it.

    Fault injection for tests: ``disconnect_after(n)`` closes the port after n more bytes from the host,
    ``corrupt_byte(n)`` flips the n-th next byte from the host, ``freeze()`` stops answering, and the same on the
    way back (``corrupt_output_byte``, ``drop_output_bytes``, ``disconnect_output_after``).
    """

    def __init__(self, config: VirtualBoardConfig | None = None):
        self.config = config or VirtualBoardConfig()
        reason = process.unavailable_reason(None if self.config.interpreter else self.config.runtime)
        if reason:
            raise VirtualBoardUnavailable(reason)
        try:
            self.link = choose_link(self.config.link)
        except ValueError as error:
            raise VirtualBoardError(str(error)) from error
        if self.link == "pty" and not pty_available():
            raise VirtualBoardUnavailable("its pty link needs a pseudo-terminal, which this system lacks; "
                                          "the socket link works everywhere")
        self.root_dir = Path(self.config.root_dir or process.default_board_dir())
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self._shims_dir = process.compiled_shims_dir()
        self.chip = profiles.CHIPS.get(self.config.chip)
        if self.chip is None:
            raise VirtualBoardError(f"the virtual board cannot play a {self.config.chip!r} "
                                    f"(it knows {', '.join(sorted(profiles.CHIPS))})")
        self.firmware = profiles.firmware(self.config.firmware_version)
        self.banner = profiles.banner(self.chip, self.firmware)
        self.runtime = None if self.config.interpreter else process.choose_runtime(self.config.runtime)
        self._command = process.micropython_command(self.config.interpreter, self.runtime)
        # The bundled unix port is 64-bit; an interpreter of the user's is asked.
        self.pointer_bits = heap.pointer_bits(tuple(self._command)) if self.config.interpreter else 64
        if self.config.heap_size is None:
            self.heap_scale = heap.scale_for(self.pointer_bits)
            self.heap_size = heap.heap_size(self.chip.free_after_boot, self.pointer_bits)
            self.heap_reserve = heap.QSTR_POOL_RESERVE[self.pointer_bits]
        else:
            self.heap_scale = 1.0
            self.heap_size = self.config.heap_size
            self.heap_reserve = 0
        self.fs_size = self.config.fs_size or self.chip.fs_size
        self.missing_modules = self.firmware.missing_modules + self.chip.missing_modules + self.config.missing_modules
        self._state_holder = tempfile.TemporaryDirectory(prefix="mipy-vb-state-")
        self.state_dir = Path(self._state_holder.name)
        self.device_path = ""
        self.resets = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._process: subprocess.Popen | None = None
        self._host: PtyHostPort | SocketHostPort | ClientHostPort | None = None
        self._line: PtyBoardLine | PipeBoardLine | None = None
        self._boots = 0
        self._to_board = Wire(self.config.baud, self.config.latency_s)
        self._to_host = Wire(self.config.baud, self.config.latency_s)
        self._rx_buffer = UartReceiveBuffer(self.config.rx_buffer)
        self._host_backlog = bytearray()
        self._host_backlog_since = 0.0
        self._console = Console(self.banner, self._write_to_board)
        self._input_faults = InputFaults()
        self._output_faults = OutputFaults()
        self._last_sigint = 0.0
        self._interruptible = False
        self._held_ctrl_c = 0
        self._asleep_until: float | None = None
        self._expect_exit = False
        self._frozen = False
        self._write_network_config()
        # Pin states out, the user's inputs in, beside the serial line (the Board view, `mipy-studio pins`).
        from ide.board.virtual.side_channel import SideChannel
        self.side_channel = SideChannel(self.state_dir, self.root_dir, lambda: self.device_path)

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> str:
        """Power the board on and return its device path (a pty's, or ``socket://127.0.0.1:PORT``)."""
        self._host = PtyHostPort() if self.link == "pty" else SocketHostPort()
        self.device_path = self._host.plug()
        self._power_on()
        log.info("virtual board at %s, files in %s", self.device_path, self.root_dir)
        return self.device_path

    def start_with_client(self, write_to_host: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """Power the board on with no port of its own: its output goes to ``write_to_host(bytes)`` (called on the
        bridge thread) and the returned function feeds the host's bytes in (any thread; it never blocks). The
        simulated ESP chip uses this to put the board's REPL on its own port after booting a MicroPython image."""
        host = ClientHostPort(write_to_host)
        self._host = host
        self.device_path = ""
        self._power_on()
        log.info("virtual board on an external client, files in %s", self.root_dir)
        return host.feed

    def _power_on(self) -> None:
        self._line = PtyBoardLine() if self.link == "pty" else PipeBoardLine()
        self._running = True
        self._boot("POWERON_RESET", raw=False, announce=False)
        self._thread = threading.Thread(target=self._loop, name="virtual-board", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        # Under the bridge's lock: if the join above timed out (a loaded machine), the bridge must not be in the
        # middle of a step, rebooting into a state folder that is being removed.
        with self._lock:
            self._kill_process()
            if self._host is not None:
                self._host.close()
            if self._line is not None:
                self._line.close()
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
    def overruns(self) -> int:
        """Bytes the UART receive buffer lost so far."""
        return self._rx_buffer.overruns

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
        """Pull the cable once the host has sent n more bytes."""
        with self._lock:
            self._input_faults.unplug_at = self._input_faults.received + n_bytes

    def corrupt_byte(self, n: int) -> None:
        """Flip the n-th next byte the host sends."""
        with self._lock:
            self._input_faults.corrupt_at = self._input_faults.received + n

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
            self.device_path = self._host.plug()
            self._frozen = False
            self._input_faults.unplug_at = None
            self._boot("POWERON_RESET", raw=False, announce=False)
        return self.device_path

    # --- internals: state shared with the shims ------------------------------------------------------------

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

    # --- internals: the interpreter's life ---------------------------------------------------------------

    def _kill_process(self) -> None:
        process_, self._process = self._process, None
        process.kill(process_)

    def _boot(self, cause: str, raw: bool, announce: bool) -> None:
        """(Re)start the interpreter: a soft reboot when ``cause`` is SOFT_RESET, else a chip reset."""
        self._expect_exit = True
        self._kill_process()
        self._expect_exit = False
        # What the old interpreter printed before it died is still in the line: it left the chip before the
        # reset, so it reaches the host before the boot text. Its requests died with it.
        self._drain_board_output()
        self._console.take_requests()
        self._line.restart()
        self._to_board.clear()
        self._interruptible = False
        self._held_ctrl_c = 0
        quiet = cause == "QUIET"
        if cause == "SOFT_RESET":
            self._emit(SOFT_REBOOT)
        elif announce:
            self._emit(rom_boot_text(cause))
        if cause not in ("SOFT_RESET", "QUIET"):
            self.resets += 1
            (self.state_dir / "boot.json").write_text(
                json.dumps({"reset_cause": MACHINE_RESET_CAUSE.get(cause, 2)}))
        self._console.reset(raw=raw, quiet=quiet)
        # A fresh "go" file per boot: the answer to an interrupted boot must not release the next one.
        (self.state_dir / self._go_name()).unlink(missing_ok=True)
        self._boots += 1
        args = {"root": str(self.root_dir.resolve()), "shims": str(self._shims_dir), "state": str(self.state_dir),
                "go": self._go_name(), "run_main": not raw and not quiet, "fs_size": self.fs_size,
                "flash_model": self.config.flash_model, "sentinel": BOOT_SENTINEL,
                "chip_stdio": True, "heap_scale": self.heap_scale, "heap_reserve": self.heap_reserve,
                "missing_modules": list(self.missing_modules), "preload": list(process.PRELOADED_SHIMS)}
        args_path = self.state_dir / "boot_args.json"
        args_path.write_text(json.dumps(args))
        command = self._command + ["-X", f"heapsize={self.heap_size}", "-i", str(process.START_SCRIPT),
                                   str(args_path)]
        stdin, stdout = self._line.child_stdio()
        try:
            self._process = process.start(command, stdin, stdout, self.state_dir, bool(self.config.interpreter))
        except OSError as error:
            raise VirtualBoardError(f"could not start the MicroPython interpreter: {error}") from error
        self._line.started()

    def _go_name(self) -> str:
        return f"go-{self._boots}"

    def _emit(self, data: bytes) -> None:
        """Queue bytes from the board to the host, over the wire."""
        if data:
            self._to_host.schedule(data, time.monotonic())

    # --- internals: the bridge loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        while self._running:
            try:
                with self._lock:
                    if not self._running:
                        break  # stop() is tearing the board down: no step may start a new interpreter now
                    wait = self._step()
                time.sleep(0) if wait <= 0 else self._wait(wait)
            except Exception:  # the bridge must never die silently: log and keep the board alive
                log.exception("virtual board bridge error")
                time.sleep(0.05)

    def _wait(self, timeout: float) -> None:
        handles = list(self._host.wait_handles()) if self._host is not None else []
        if self._to_host.pending_bytes() < BOARD_TO_HOST_WINDOW:
            handles.extend(self._line.wait_handles())
        try:
            select.select(handles, [], [], min(timeout, 0.02))
        except (OSError, ValueError):
            time.sleep(0.01)

    def _step(self) -> float:
        now = time.monotonic()
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

    def _handle_requests(self) -> None:
        """What the shims asked for in the output just read (console.py collects the framed requests)."""
        for words in self._console.take_requests():
            self._handle_request(words)

    def _handle_request(self, words: list[str]) -> None:
        log.debug("control request %s", words)
        if not words:
            return
        if words[0] == "reset":
            cause = words[1] if len(words) > 1 and words[1] in ROM_RESET_CODES else "SW_CPU_RESET"
            self._boot(cause, raw=False, announce=True)
        elif words[0] == "soft":
            self._boot("SOFT_RESET", raw=self._console.raw_mode, announce=False)
        elif words[0] == "deepsleep":
            milliseconds = int(words[1]) if len(words) > 1 else 0
            self._expect_exit = True
            self._kill_process()
            self._expect_exit = False
            self._drain_board_output()
            self._console.take_requests()
            # Asleep: the chip is off, its UART silent; only a timer wake-up (or the RESET button) brings it back.
            self._asleep_until = time.monotonic() + milliseconds / 1000 if milliseconds else float("inf")
        elif words[0] == "interruptible":
            self._interruptible = True
            if self._held_ctrl_c:
                self._held_ctrl_c = 0
                self._send_sigint()
            # Let the start-up script go on to boot.py and main.py (it waits for this file).
            (self.state_dir / self._go_name()).touch()

    def _check_process(self) -> None:
        process_ = self._process
        if process_ is None or self._expect_exit:
            return
        code = process_.poll()
        if code is None:
            return
        self._process = None
        if process.died_of_sigint(code) and time.monotonic() - self._last_sigint < 2.0:
            # Ctrl-C landed in the instant the unix port switched between running code and its REPL, when it
            # has no handler: a chip would just show the prompt again, so restart without a word.
            log.info("micropython died of a Ctrl-C between states; restarting quietly")
            self._boot("QUIET", raw=self._console.raw_mode, announce=False)
        elif code == 0:
            # Ctrl-D at the friendly REPL, Ctrl-D on an empty raw REPL, SystemExit: a chip soft-reboots.
            self._boot("SOFT_RESET", raw=self._console.raw_mode, announce=False)
        else:
            log.info("micropython exited with %s: treating as a crash and hard reset", code)
            self._boot("SW_CPU_RESET", raw=False, announce=True)

    def _read_host(self, now: float) -> None:
        if self._host is None:
            return
        data = self._host.read()
        if not data or self._frozen:
            return
        data = self._input_faults.apply(data)
        if self._input_faults.unplug_now:
            self._input_faults.unplug_now = False
            self._unplug()
        if not data or self._asleep_until is not None:
            return  # nothing left, or the chip is off
        self._to_board.schedule(data, now)

    def _unplug(self) -> None:
        # The cable is pulled: the port disappears for the host and the board loses power.
        self._host.unplug()
        self._expect_exit = True
        self._kill_process()
        self._expect_exit = False
        self._to_board.clear()
        self._to_host.clear()
        self._host_backlog.clear()

    def _deliver_to_board(self, now: float) -> None:
        data = self._to_board.due(now)
        if not data or self._line is None:
            return
        out = bytearray()
        for byte in data:
            console = self._console
            if console.raw_mode and console.at_raw_prompt:
                if byte == CTRL_E and console.raw_command_bytes == 0 and not self.firmware.raw_paste:
                    # Before 1.14 the raw REPL knew no raw-paste: "\x05A\x01" was the line "A" and a Ctrl-A,
                    # which prints the raw REPL banner again; dropping the Ctrl-E makes the unix port do just that.
                    # Only there: a running program reads every byte, 0x05 included.
                    continue
                if byte == CTRL_B and console.raw_command_bytes == 0:
                    console.banner_expected = True
                console.host_byte_at_raw_prompt(byte)
            if byte == CTRL_C and not self._interruptible and self._process is not None:
                # The start-up script is still mounting the file system: interrupt main.py once it starts.
                self._held_ctrl_c += 1
                continue
            if byte == CTRL_C and process.sigint_caught(self._process):
                # The chip's UART interrupt turns Ctrl-C into KeyboardInterrupt instead of storing it; the unix
                # port only does that for a signal. Under micropython.kbd_intr(-1) no handler is installed and
                # the byte is data, as on a chip.
                self._to_uart(bytes(out))
                out.clear()
                self._send_sigint()
                continue
            out.append(byte)
        self._to_uart(bytes(out))

    def _send_sigint(self) -> None:
        wait = self._last_sigint + SIGINT_SPACING_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if self._process is not None and process.sigint_caught(self._process):
            process.interrupt(self._process)
        self._last_sigint = time.monotonic()

    def _to_uart(self, data: bytes) -> None:
        """Host bytes arriving at the chip's UART: what does not fit in its receive buffer is lost."""
        if not data:
            return
        unread = self._line.unread() if self._rx_buffer.size else None
        self._write_to_board(data if unread is None else self._rx_buffer.admit(data, unread))

    def _write_to_board(self, data: bytes) -> None:
        if data:
            self._line.write(data)

    def _drain_board_output(self) -> None:
        while self._line is not None and self._line.readable():
            data = self._line.read(4096)
            if not data:
                return
            self._emit(self._console.output(data))

    def _read_board(self, now: float) -> None:
        if self._line is None or self._to_host.pending_bytes() >= BOARD_TO_HOST_WINDOW:
            return
        if not self._line.readable():
            return
        data = self._line.read(BOARD_TO_HOST_WINDOW)
        if data:
            self._emit(self._console.output(data))
            self._handle_requests()

    def _deliver_to_host(self, now: float) -> None:
        data = self._to_host.due(now)
        if data:
            data = self._output_faults.apply(data)
            if self._output_faults.unplug_now:
                self._output_faults.unplug_now = False
                if data:
                    # What is queued for the host reaches the port, once, before the cable is pulled.
                    self._host.write(bytes(self._host_backlog) + data)
                self._host_backlog.clear()
                self._unplug()
                return
        if data:
            if not self._host_backlog:
                self._host_backlog_since = now
            self._host_backlog += data
        if not self._host_backlog or self._host is None or not self._host.plugged:
            return
        written = self._host.write(bytes(self._host_backlog))
        del self._host_backlog[:written]
        if written:
            self._host_backlog_since = now
        elif now - self._host_backlog_since > UNREAD_OUTPUT_DROP_S:
            self._host_backlog.clear()
