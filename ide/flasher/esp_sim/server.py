"""The simulated chip on a pseudo-terminal, and its boot behaviour.

A pty carries no modem lines (pyserial's DTR/RTS ioctls fail with ENOTTY and esptool warns "Chip was NOT reset"),
so two events stand in for the auto-reset circuit: the host opening the port resets the chip into download mode
(as if BOOT/IO0 were held while EN was pulsed), and the host closing it is the hard reset esptool ends with (RTS
pulses EN with IO0 high: the chip boots from flash). :meth:`EspSimulator.set_lines` models the two-transistor
EN/IO0 circuit itself for transports that do carry DTR and RTS.

When the flash holds a valid image at the chip's MicroPython offset, booting calls ``on_boot_firmware(image)``;
if that returns a callable, the chip is "running the application": the callable receives the host's bytes, the
application answers with :meth:`EspSimulator.write_to_host`, and re-opening the port keeps it running. A SLIP
SYNC request arriving while the application runs puts the chip back into download mode, which is what a user
holding BOOT and pressing RESET would do. When the chip stops running the application (any reset, or
:meth:`EspSimulator.stop`), the callable's ``close()`` is called if it has one: :mod:`.micropython_boot` stops its
virtual board there.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import select
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from ide.flasher.esp_sim import slip
from ide.flasher.esp_sim.chips import SimChip, sim_chip
from ide.flasher.esp_sim.flash import NorFlash
from ide.flasher.esp_sim.protocol import Bootloader, Faults
from ide.flasher.images import ImageProblem, inspect_image

log = logging.getLogger(__name__)

MB = 1024 * 1024
POLL_INTERVAL_S = 0.005
READ_CHUNK = 1 << 16
# Application output nobody reads is kept up to this size, then the oldest is dropped (a USB-serial bridge keeps
# only its small FIFO while no program has the port open).
PENDING_OUTPUT_LIMIT = 8 * 1024
# The start of a SYNC request frame: SLIP delimiter, direction 0x00, command 0x08.
SYNC_REQUEST_START = b"\xc0\x00\x08"

DOWNLOAD = "download"          # ROM (or stub) serial loader answering SLIP
APPLICATION = "application"    # booted from flash
SILENT = "silent"              # not in boot mode and nothing bootable: the ROM printed its complaint and stopped

_HOST_BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1500000,
                    2000000)


@functools.cache
def _baud_by_speed() -> dict[int, int]:
    """termios's speed constants (B115200, ...) to baud rates, for the rates this platform defines."""
    import termios  # POSIX only, like the pty itself: imported here so that the package imports on Windows

    return {getattr(termios, f"B{rate}"): rate for rate in _HOST_BAUD_RATES if hasattr(termios, f"B{rate}")}


AppInput = Callable[[bytes], None]


class _PtyLink:
    """The protocol's view of the line: frames out, frames in (for READ_FLASH acknowledgements), the host baud."""

    def __init__(self, simulator: "EspSimulator"):
        self.simulator = simulator
        self.decoder = slip.SlipDecoder()
        self.frames: deque[bytes] = deque()

    def send_frame(self, payload: bytes) -> None:
        self.simulator._write(slip.encode(payload))

    def receive_frame(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while not self.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            data = self.simulator._read(remaining)
            if data is None:
                return None
            self.frames.extend(self.decoder.feed(data))
        return self.frames.popleft()

    def host_baud(self) -> int:
        import termios  # POSIX only: see _baud_by_speed

        try:
            return _baud_by_speed().get(termios.tcgetattr(self.simulator._master)[5], 115200)
        except (termios.error, OSError):
            return 115200


class EspSimulator:
    """A simulated ESP chip on a pseudo-terminal. ``start()`` returns the device path for esptool or pyserial."""

    def __init__(self, chip: str = "esp32", flash_path: Path | str | None = None, flash_size: int = 4 * MB,
                 mac: bytes | None = None, on_boot_firmware: Callable[[bytes], AppInput | None] | None = None,
                 paced: bool = False):
        self.chip: SimChip = sim_chip(chip)
        # A real UART moves 10 bits per byte (start, 8 data, stop) at the baud both ends agreed on; a pty moves
        # megabytes a second. Paced, the simulator takes that long for every byte in either direction, at the
        # rate the host set (esptool's CHANGE_BAUDRATE included), as the virtual board's wire model does.
        self.paced = paced
        self._line_in_free_at = 0.0
        self._line_out_free_at = 0.0
        self.flash = NorFlash(flash_size, Path(flash_path) if flash_path else None)
        self.mac = mac or self.chip.default_mac
        self.on_boot_firmware = on_boot_firmware
        self.faults = Faults()
        self.in_boot_mode = True      # IO0 held low at reset: the ROM waits for download
        self.mode = DOWNLOAD
        self.boot_count = 0           # times the chip booted from flash (tests watch it)
        self.booted_image: bytes | None = None
        self._app_input: AppInput | None = None
        self._pending_output = bytearray()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = -1
        self._host_connected = False
        self._link = _PtyLink(self)
        self._bootloader = Bootloader(self.chip, self.flash, self._link, self.faults, self.mac)
        self._dtr = self._rts = False
        self.device = ""

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> str:
        import tty  # POSIX only (so is os.openpty): imported here so that the package imports on Windows

        master, slave = os.openpty()
        tty.setraw(slave)
        self.device = os.ttyname(slave)
        # Closing our slave end makes the master report HUP until a host opens the device: that edge is the reset.
        os.close(slave)
        self._master = master
        self._thread = threading.Thread(target=self._serve, name=f"esp-sim {self.device}", daemon=True)
        self._thread.start()
        log.info("simulated %s on %s", self.chip.info.display_name, self.device)
        return self.device

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # Not under self._lock: a serving thread stuck writing to a host that stopped reading may still hold it.
        self._stop_application()
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
        self.flash.close()

    def __enter__(self) -> "EspSimulator":
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    # --- fault injection and board controls -------------------------------------------------------------------

    def set_boot_mode(self, download: bool) -> None:
        """False: the board is not put into download mode (BOOT not held): it boots its flash and never answers
        SYNC, the most common "Failed to connect" a beginner sees."""
        self.in_boot_mode = download

    def drop_replies(self, count: int = 1) -> None:
        """Lose the next ``count`` reply frames on the line."""
        with self._lock:
            self.faults.drop_replies = count

    def fail_flash_writes(self, from_address: int = 0) -> None:
        """Programming at or beyond ``from_address`` fails (a worn or write-protected flash chip)."""
        with self._lock:
            self.faults.flash_write_error_at = from_address

    def garble_above(self, baud: int, after_bytes: int = 0) -> None:
        """A USB-serial bridge that cannot do more than ``baud``: once ``after_bytes`` bytes have crossed at a
        higher rate, every read of the host's bytes has one byte damaged (frames keep their delimiters, so the chip
        sees bad checksums and lengths and says so, as a real one would). At ``baud`` or below all is well."""
        with self._lock:
            self.faults.garble_above_baud = baud
            self.faults.garble_after_bytes = after_bytes
            self.faults.bytes_above_baud = 0

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.drop_replies = 0
            self.faults.flash_write_error_at = None
            self.faults.garble_above_baud = None
            self.in_boot_mode = True

    def set_lines(self, dtr: bool, rts: bool) -> None:
        """The USB-serial adapter's auto-reset circuit: EN is pulled low while RTS is asserted and DTR is not,
        IO0 while DTR is asserted and RTS is not (both asserted cancels out, so opening a port does not reset).
        EN rising resets the chip, into download mode if IO0 is low at that moment."""
        with self._lock:
            en_was_low = self._rts and not self._dtr
            self._dtr, self._rts = dtr, rts
            en_low = rts and not dtr
            io0_low = dtr and not rts
            if en_was_low and not en_low:
                self.reset(download=io0_low)

    def reset(self, download: bool = True) -> None:
        """Pulse EN: download mode (IO0 low) or boot from flash."""
        with self._lock:
            self._bootloader.reset()
            self._link.decoder.reset()
            self._link.frames.clear()
            self._stop_application()
            if download and self.in_boot_mode:
                self.mode = DOWNLOAD
            else:
                self._boot_from_flash()

    def hard_reset(self) -> None:
        self.reset(download=False)

    def write_to_host(self, data: bytes) -> None:
        """Output of the running application (the virtual board's REPL). Dropped unless an application runs."""
        with self._lock:
            if self.mode != APPLICATION or self._app_input is None:
                return
            if self._host_connected:
                self._write(data)
            else:
                self._pending_output += data
                del self._pending_output[:-PENDING_OUTPUT_LIMIT]

    @property
    def stub_running(self) -> bool:
        return self._bootloader.stub_running

    # --- boot -------------------------------------------------------------------------------------------------

    def _stop_application(self) -> None:
        app, self._app_input = self._app_input, None
        close = getattr(app, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # the chip's reset must happen whatever the application does
                log.exception("stopping the simulated application failed")

    def _boot_from_flash(self) -> None:
        self.boot_count += 1
        offset = self.chip.info.micropython_offset
        head = self.flash.read(offset, self.flash.size - offset)
        line = bytearray(self.chip.rom_boot_line)
        try:
            info = inspect_image(head, expected_chip=self.chip.info)
        except ImageProblem as problem:
            log.info("boot from flash: no valid image at 0x%x (%s)", offset, problem)
            line += f"invalid header: 0x{int.from_bytes(head[:4], 'little'):08x}\r\n".encode()
            self.booted_image = None
            self.mode = SILENT if not self.in_boot_mode else APPLICATION
            self._emit(bytes(line))
            return
        image = self.flash.read(offset, self.flash.size - offset).rstrip(b"\xff")
        self.booted_image = image
        self.mode = APPLICATION
        line += f"entry 0x{info.entry_point:08x}\r\n".encode()
        self._emit(bytes(line))
        if self.on_boot_firmware is not None:
            try:
                self._app_input = self.on_boot_firmware(image)
            except Exception:  # a broken application must not take the chip (the serving thread) down with it
                log.exception("the boot hook failed: the application stays silent")
                self._app_input = None

    def _emit(self, data: bytes) -> None:
        if self._host_connected:
            self._write(data)
        else:
            self._pending_output = bytearray(data)

    # --- the line ---------------------------------------------------------------------------------------------

    def _byte_time(self) -> float:
        return 10.0 / self._link.host_baud() if self.paced else 0.0

    def _pace(self, free_at: float, count: int) -> float:
        """Wait while ``count`` bytes cross the line after those already on it; returns when the line is free."""
        byte_time = self._byte_time()
        if not byte_time:
            return 0.0
        free_at = max(time.monotonic(), free_at) + count * byte_time
        delay = free_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return free_at

    def _garble(self, data: bytes) -> bytes:
        faults = self.faults
        if faults.garble_above_baud is None or self._link.host_baud() <= faults.garble_above_baud:
            return data
        faults.bytes_above_baud += len(data)
        if faults.bytes_above_baud <= faults.garble_after_bytes or len(data) < 16:
            return data
        damaged = bytearray(data)
        for position in range(len(damaged) // 2, len(damaged)):
            if damaged[position] not in (slip.END, slip.ESC) and damaged[position] ^ 0x5A not in (slip.END, slip.ESC):
                damaged[position] ^= 0x5A
                faults.garbled_frames += 1
                break
        return bytes(damaged)

    def _write(self, data: bytes) -> None:
        if self.paced:
            for start in range(0, len(data), 256):
                self._line_out_free_at = self._pace(self._line_out_free_at, len(data[start:start + 256]))
                self._write_now(data[start:start + 256])
            return
        self._write_now(data)

    def _write_now(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                select.select([], [self._master], [], 0.05)
                continue
            except OSError as failure:
                if failure.errno == errno.EIO:
                    return  # the host closed the port mid-reply
                raise
            view = view[written:]

    def _read(self, timeout: float) -> bytes | None:
        """Bytes from the host, b"" on timeout, None when the host has closed the port."""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self._master, READ_CHUNK)
        except OSError as failure:
            if failure.errno == errno.EIO:
                return None
            raise

    def _host_present(self) -> bool:
        poller = select.poll()
        poller.register(self._master, select.POLLIN | select.POLLHUP)
        events = poller.poll(0)
        return not any(mask & select.POLLHUP and not mask & select.POLLIN for _, mask in events)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._host_present():
                if self._host_connected:
                    self._on_host_closed()
                time.sleep(POLL_INTERVAL_S)
                continue
            if not self._host_connected:
                self._on_host_opened()
            data = self._read(0.05)
            if data is None:
                if self._host_connected:
                    self._on_host_closed()
                time.sleep(POLL_INTERVAL_S)
                continue
            if data:
                if self.paced:
                    self._line_in_free_at = self._pace(self._line_in_free_at, len(data))
                with self._lock:
                    self._on_bytes(self._garble(data))

    def _on_host_opened(self) -> None:
        with self._lock:
            self._host_connected = True
            if self.mode == APPLICATION and self._app_input is not None:
                pending, self._pending_output = bytes(self._pending_output), bytearray()
                self._write(pending)
                return
            self._pending_output.clear()
            if self.in_boot_mode:
                self.reset(download=True)
            else:
                self.reset(download=False)
            log.debug("host opened the port: %s", self.mode)

    def _on_host_closed(self) -> None:
        with self._lock:
            self._host_connected = False
            if self.mode == DOWNLOAD:
                self.hard_reset()
            log.debug("host closed the port: %s", self.mode)

    def _on_bytes(self, data: bytes) -> None:
        if self.mode == APPLICATION:
            sync_at = data.find(SYNC_REQUEST_START)
            if sync_at < 0:
                if self._app_input is not None:
                    self._app_input(data)
                return
            if self._app_input is not None and sync_at:
                self._app_input(data[:sync_at])
            self.reset(download=True)
            data = data[sync_at:]
        if self.mode != DOWNLOAD:
            return
        for frame in self._link.decoder.feed(data):
            self._link.frames.append(frame)
        while self._link.frames:
            self._bootloader.handle(self._link.frames.popleft())
            if self._bootloader.exit_requested:
                self._bootloader.exit_requested = None
                self._link.frames.clear()
                self._boot_from_flash()
                return
