"""The virtual board's side channel: what its pins do, and what the user does to its inputs, beside the serial
line (which it costs nothing, so it works while a program runs and never disturbs the REPL).

One UDP socket on the loopback interface per board, owned by the host (this module). Two kinds of peers talk to it:

* **The board** (``virtual_shims/_vbside.py``) sends short datagrams: ``H<token>`` once per boot, then
  ``V<pp><l>`` (output pin pp at level l), ``W<pp><duty_u16:5><freq:8>`` (PWM), ``M<pin> <mode> <pull> <value>``
  (a pin reconfigured), ``N<pin> <bpp> <raw bytes>`` (a NeoPixel strip written, GRB[W] order) and ``n`` (the Wi-Fi
  state or a port mapping changed in the state folder). The host answers a hello, and tells the board about every
  input change, with one JSON datagram ``{"in": {"0": 1}, "adc": {"34": 2048}, "dht": [21.5, 45.0]}`` (ADC values
  raw, as ``ADC.read()`` returns them). The board's first read of ``side_channel.json`` gives it the port, the
  token and the inputs as they were at boot.
* **Clients** (``mipy-studio pins`` in another process, tests) send JSON requests with the token:
  ``{"op": "get"}``, ``{"op": "set", "inputs": {...}, "adc": {...}, "dht": {...}, "release": [...]}``, and get
  JSON answers. They find the socket through a small file per board in the user runtime folder
  (:func:`registry_dir`), named after the board folder; the window's own board is also found in-process
  (:func:`local_channel`).

Datagrams from the board are only taken from the address that sent the hello with the right token, and clients
must send the token, which only the user can read (state and runtime folders are private to the user).
Loopback UDP works the same on Windows, macOS and Linux.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import select
import socket
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Callable

import platformdirs

from ide.errors import UsageError, VirtualBoardNotRunning

log = logging.getLogger(__name__)

CONFIG_FILE = "side_channel.json"
#: The state files the host keeps for readers of the state folder (``VirtualBoard.pin_states()``, older tests).
PINS_FILE = "pins.json"
NEOPIXEL_FILE = "neopixel.json"
NETWORK_STATE_FILE = "network_state.json"
PORTS_FILE = "ports.json"
#: How long a client waits for the host to answer.
CLIENT_TIMEOUT_S = 2.0
#: How often the host looks at the Wi-Fi state and port files even when the board said nothing.
FILE_CHECK_S = 0.5
MAX_DATAGRAM = 65507

#: GPIO numbers, ADC pins and ADC ranges per chip (ESP32: 12-bit reads, 0-3.3 V at 11 dB attenuation;
#: ESP8266: one 10-bit ADC, 0-1.0 V).
CHIPS = {
    "esp32": {"gpios": tuple(range(0, 40)), "adc_pins": (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36,
                                                        37, 38, 39),
              "adc_volts": 3.3, "adc_max": 4095, "led": 2, "boot": 0},
    "esp8266": {"gpios": tuple(range(0, 17)), "adc_pins": (0,), "adc_volts": 1.0, "adc_max": 1023, "led": 2,
                "boot": 0},
}
DHT_TEMPERATURE_RANGE = (-40.0, 80.0)  # what a DHT22 measures
DHT_HUMIDITY_RANGE = (0.0, 100.0)

_local_channels: "weakref.WeakSet[SideChannel]" = weakref.WeakSet()


def registry_dir() -> Path:
    """Where running virtual boards leave the address of their side channel (one small file each). The user
    cache folder: it exists on every platform (Linux's runtime folder needs XDG_RUNTIME_DIR, often unset in
    terminals over ssh and in CI); files of processes that died are removed by :func:`running_boards`."""
    return Path(platformdirs.user_cache_dir("mipy-studio")) / "virtual-boards"


def board_key(board_dir: Path | str) -> str:
    return hashlib.sha256(str(Path(board_dir).resolve()).encode()).hexdigest()[:16]


def local_channel(board_dir: Path | str | None = None) -> "SideChannel | None":
    """The side channel of a virtual board running in this process (the newest, or the one for ``board_dir``)."""
    channels = [c for c in list(_local_channels) if not c.closed]
    if board_dir is not None:
        key = board_key(board_dir)
        channels = [c for c in channels if board_key(c.board_dir) == key]
    return max(channels, key=lambda c: c.created, default=None)


def _write_json_atomically(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


class SideChannel:
    """The host end of one virtual board's side channel. Thread-safe; a daemon thread serves the socket.

    ``device_path()`` gives the board's serial device once it has one (for the registry file)."""

    def __init__(self, state_dir: Path, board_dir: Path, device_path: Callable[[], str] = lambda: ""):
        self.state_dir = Path(state_dir)
        self.board_dir = Path(board_dir)
        self.created = time.monotonic()
        self.closed = False
        self._device_path = device_path
        self._token = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.generation = 0
        self.boots = 0
        self._pins: dict[int, dict] = {}
        self._pixels: dict[int, list[list[int]]] = {}
        self._inputs: dict[int, int] = {CHIPS["esp32"]["boot"]: 1}  # the DevKit's pull-up holds GPIO0 high
        self._adc_volts: dict[int, float] = {}
        self._dht: tuple[float, float] | None = None
        self._network: dict = {}
        self._ports: dict = {}
        self._file_marks: tuple = ()
        self._board_address = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._registry_file: Path | None = None
        self._registered_device = None
        self._write_board_config()
        self._register()
        _local_channels.add(self)
        self._thread = threading.Thread(target=self._serve, name="virtual-board-side-channel", daemon=True)
        self._thread.start()

    # --- what the window and the command line use ----------------------------------------------------------

    @property
    def chip(self) -> str:
        board = _read_json(self.state_dir / "virtual.json", {}).get("board", "esp32")
        return board if board in CHIPS else "esp32"

    @property
    def connected(self) -> bool:
        """Whether a board program has said hello since the channel opened (the interpreter is up)."""
        return self._board_address is not None

    def snapshot(self) -> dict:
        """Everything the Board view shows, as plain data (JSON-ready; pin numbers as strings)."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> dict:
        from ide.board.virtual import wifi
        networks = wifi.networks_from_config(_read_json(self.state_dir / "network.json", None))
        return {
            "generation": self.generation, "boots": self.boots, "chip": self.chip,
            "board_dir": str(self.board_dir), "device": self._device_path() or "",
            "pins": {str(k): dict(v) for k, v in sorted(self._pins.items())},
            "neopixels": {str(k): [list(p) for p in v] for k, v in sorted(self._pixels.items())},
            "inputs": {str(k): v for k, v in sorted(self._inputs.items())},
            "adc": {str(k): v for k, v in sorted(self._adc_volts.items())},
            "dht": None if self._dht is None else {"temperature": self._dht[0], "humidity": self._dht[1]},
            "network": dict(self._network), "ports": dict(self._ports),
            "networks": [{"ssid": n.ssid, "password": n.password, "security": n.security, "rssi": n.rssi,
                          "channel": n.channel} for n in networks],
        }

    def wait_changed(self, generation: int, timeout: float) -> int:
        """Block until the state moved past ``generation`` (or ``timeout``); returns the current generation."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.generation <= generation and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self.generation

    def set_input(self, pin: int, level: int | None) -> None:
        """Drive input ``pin`` high (1) or low (0), as a button or a wire would; None leaves it floating."""
        self.update(inputs={pin: level})

    def press_boot(self, pressed: bool) -> None:
        """The BOOT button: pulls GPIO0 low while pressed (the DevKit's pull-up holds it high otherwise)."""
        self.set_input(CHIPS[self.chip]["boot"], 0 if pressed else 1)

    def set_adc(self, pin: int, volts: float | None) -> None:
        """The voltage on an ADC pin (0 to 3.3 V on an ESP32, 0 to 1.0 V on an ESP8266); None: the shim's own."""
        self.update(adc={pin: volts})

    def set_dht(self, temperature: float | None, humidity: float | None = None) -> None:
        """What the DHT sensor measures; None for the shim's own slowly drifting values."""
        self.update(dht=None if temperature is None else {"temperature": temperature,
                                                          "humidity": 45.0 if humidity is None else humidity})

    def update(self, inputs: dict | None = None, adc: dict | None = None, dht: dict | None | bool = False) -> None:
        """Change several inputs at once (``dht=False`` leaves the sensor alone). Raises UsageError for a pin
        the chip does not have or a value out of range; nothing changes then."""
        chip = CHIPS[self.chip]
        new_inputs = {}
        for pin, level in (inputs or {}).items():
            number = self._pin_number(pin, chip["gpios"], "input pin")
            if level is not None and level not in (0, 1, True, False):
                raise UsageError(f"GPIO{number}", f"an input level is 0 or 1, not {level!r}")
            new_inputs[number] = None if level is None else int(bool(level))
        new_adc = {}
        for pin, volts in (adc or {}).items():
            number = self._pin_number(pin, chip["adc_pins"], "ADC pin")
            if volts is not None:
                try:
                    volts = float(volts)
                except (TypeError, ValueError):
                    raise UsageError(f"GPIO{number}", f"an ADC voltage is a number, not {volts!r}") from None
                if not 0.0 <= volts <= chip["adc_volts"]:
                    raise UsageError(f"GPIO{number}", f"the ADC reads 0 to {chip['adc_volts']} V, not {volts} V")
            new_adc[number] = volts
        new_dht: tuple | None | bool = False
        if dht is None:
            new_dht = None
        elif dht is not False:
            try:
                temperature, humidity = float(dht["temperature"]), float(dht.get("humidity", 45.0))
            except (KeyError, TypeError, ValueError):
                raise UsageError("dht", "give a temperature (°C) and a humidity (%)") from None
            if not DHT_TEMPERATURE_RANGE[0] <= temperature <= DHT_TEMPERATURE_RANGE[1]:
                raise UsageError("dht", f"a DHT22 measures {DHT_TEMPERATURE_RANGE[0]:g} to "
                                        f"{DHT_TEMPERATURE_RANGE[1]:g} °C, not {temperature:g}")
            if not DHT_HUMIDITY_RANGE[0] <= humidity <= DHT_HUMIDITY_RANGE[1]:
                raise UsageError("dht", f"humidity is 0 to 100 %, not {humidity:g}")
            new_dht = (temperature, humidity)
        with self._lock:
            for number, level in new_inputs.items():
                if level is None:
                    self._inputs.pop(number, None)
                else:
                    self._inputs[number] = level
            for number, volts in new_adc.items():
                if volts is None:
                    self._adc_volts.pop(number, None)
                else:
                    self._adc_volts[number] = volts
            if new_dht is not False:
                self._dht = new_dht
            self._write_board_config()
            self._send_inputs()
            self._bump()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=2)
        self._sock.close()
        self._unregister()

    # --- internals ---------------------------------------------------------------------------------------

    @staticmethod
    def _pin_number(pin, allowed: tuple, what: str) -> int:
        try:
            number = int(str(pin).upper().removeprefix("GPIO"))
        except ValueError:
            raise UsageError(str(pin), "not a pin number (use e.g. 0 or GPIO0)") from None
        if number not in allowed:
            raise UsageError(f"GPIO{number}", f"this chip has no {what} {number} (it has {allowed[0]} to "
                                              f"{allowed[-1]}{'' if len(allowed) == allowed[-1] + 1 else ', not all'})")
        return number

    def _input_message(self) -> dict:
        chip = CHIPS[self.chip]
        adc = {str(pin): round(volts / chip["adc_volts"] * chip["adc_max"]) for pin, volts in self._adc_volts.items()}
        return {"in": {str(k): v for k, v in self._inputs.items()}, "adc": adc,
                "dht": None if self._dht is None else list(self._dht)}

    def _write_board_config(self) -> None:
        try:
            _write_json_atomically(self.state_dir / CONFIG_FILE,
                                   {"port": self.port, "token": self._token, **self._input_message()})
        except OSError as error:  # the state folder went away: the board is being stopped
            log.debug("could not write %s: %s", CONFIG_FILE, error)

    def _send_inputs(self) -> None:
        if self._board_address is None:
            return
        try:
            self._sock.sendto(json.dumps(self._input_message()).encode(), self._board_address)
        except OSError as error:
            log.debug("side channel: could not reach the board: %s", error)

    def _bump(self) -> None:
        self.generation += 1
        self._changed.notify_all()

    def _serve(self) -> None:
        last_check = 0.0
        while not self.closed:
            try:
                ready = select.select([self._sock], [], [], FILE_CHECK_S)[0]
            except (OSError, ValueError):
                return  # closed under us
            try:
                changed = self._drain() if ready else False
                now = time.monotonic()
                if changed or now - last_check >= FILE_CHECK_S:
                    last_check = now
                    self._check_files()
                    self._register()
            except Exception:  # the channel must outlive a malformed datagram or a vanished folder
                log.exception("virtual board side channel error")

    def _drain(self) -> bool:
        changed = pins_changed = False
        while True:
            try:
                data, address = self._sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # Windows reports an unreachable peer of an earlier send here
                break
            if not data:
                continue
            if data[:1] == b"{":
                self._answer_client(data, address)
                continue
            with self._lock:
                kind = self._board_message(data, address)
            changed = changed or kind is not None
            pins_changed = pins_changed or kind == "pins"
        if pins_changed:
            self._write_pin_files()
        if changed:
            # Only now: whoever wakes up on the change finds the state files written too.
            with self._lock:
                self._bump()
        return changed

    def _board_message(self, data: bytes, address) -> str | None:
        kind = data[:1]
        if kind == b"H":
            if data[1:].decode("ascii", "replace") != self._token:
                return None
            # A new interpreter: after a reset a chip's pins are inputs again until the program sets them.
            self._board_address = address
            self.boots += 1
            self._pins.clear()
            self._pixels.clear()
            self._send_inputs()
            return "pins"
        if address != self._board_address:
            return None
        try:
            if kind == b"V" and len(data) >= 4:
                pin = int(data[1:3])
                entry = self._pins.setdefault(pin, {"mode": "OUT"})
                if entry.get("mode") not in ("OUT", "OPEN_DRAIN"):
                    entry.clear()
                    entry["mode"] = "OUT"
                entry["value"] = data[3] - 48
            elif kind == b"W" and len(data) >= 16:
                pin = int(data[1:3])
                self._pins[pin] = {"mode": "PWM", "duty_u16": int(data[3:8]), "freq": int(data[8:16])}
            elif kind == b"M":
                pin_text, mode, pull, value = data[1:].decode("ascii").split(" ")[:4]
                entry = {"mode": mode}
                if pull != "-":
                    entry["pull"] = pull
                if value != "-":
                    entry["value"] = int(value)
                self._pins[int(pin_text)] = entry
            elif kind == b"N":
                head, _, raw = data[1:].partition(b" ")
                bpp_text, _, raw = raw.partition(b" ")
                bpp = int(bpp_text)
                pixels = []
                for offset in range(0, len(raw) - bpp + 1, bpp):
                    g, r, b = raw[offset], raw[offset + 1], raw[offset + 2]  # the strip's wire order is GRB
                    pixels.append([r, g, b] + ([raw[offset + 3]] if bpp == 4 else []))
                self._pixels[int(head)] = pixels
            elif kind == b"n":
                return "files" if self._check_files_locked() else None
            elif kind == b"S":
                return None
            else:
                return None
        except (ValueError, IndexError, UnicodeDecodeError):
            log.debug("side channel: malformed board message %r", data[:40])
            return None
        return "pins"

    def _write_pin_files(self) -> None:
        # VirtualBoard.pin_states() and readers of the state folder see the same as the shim used to write.
        with self._lock:
            pins = {str(k): dict(v) for k, v in self._pins.items()}
            pixels = {str(k): [p[:3] for p in v] for k, v in self._pixels.items()}
        try:
            _write_json_atomically(self.state_dir / PINS_FILE, pins)
            if pixels:
                _write_json_atomically(self.state_dir / NEOPIXEL_FILE, pixels)
        except OSError as error:
            log.debug("could not write the pin state files: %s", error)

    def _check_files(self) -> None:
        with self._lock:
            if self._check_files_locked():
                self._bump()

    def _check_files_locked(self) -> bool:
        marks = []
        for name in (NETWORK_STATE_FILE, PORTS_FILE):
            try:
                stat = (self.state_dir / name).stat()
                marks.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                marks.append(None)
        if tuple(marks) == self._file_marks:
            return False
        self._file_marks = tuple(marks)
        network = _read_json(self.state_dir / NETWORK_STATE_FILE, None)
        ports = _read_json(self.state_dir / PORTS_FILE, None)
        if network is None and marks[0] is not None or ports is None and marks[1] is not None:
            self._file_marks = ()  # caught half-written: read again next time
        self._network = network or {}
        self._ports = ports or {}
        return True

    def _answer_client(self, data: bytes, address) -> None:
        try:
            request = json.loads(data)
            if not isinstance(request, dict) or request.get("token") != self._token:
                return  # not ours to answer
            op = request.get("op")
            if op == "get":
                answer = {"ok": True, **self.snapshot()}
            elif op == "set":
                inputs = dict(request.get("inputs") or {})
                for pin in request.get("release") or []:
                    inputs[pin] = None
                self.update(inputs=inputs, adc=request.get("adc"),
                            dht=request["dht"] if "dht" in request else False)
                answer = {"ok": True, **self.snapshot()}
            elif op == "ping":
                answer = {"ok": True}
            else:
                answer = {"ok": False, "field": "op", "problem": f"unknown request {op!r}"}
        except UsageError as error:
            answer = {"ok": False, "field": error.field, "problem": error.problem}
        except ValueError:
            answer = {"ok": False, "field": "request", "problem": "not JSON"}
        try:
            self._sock.sendto(json.dumps(answer).encode(), address)
        except OSError as error:
            log.debug("side channel: could not answer %s: %s", address, error)

    # --- the registry file other processes find us by ----------------------------------------------------

    def _register(self) -> None:
        device = self._device_path() or ""
        if self.closed or (self._registry_file is not None and device == self._registered_device):
            return
        folder = registry_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / f"{board_key(self.board_dir)}-{os.getpid()}-{self.port}.json"
            _write_json_atomically(path, {"port": self.port, "token": self._token, "pid": os.getpid(),
                                          "board_dir": str(self.board_dir.resolve()), "device": device})
            if sys.platform != "win32":
                os.chmod(path, 0o600)
        except OSError as error:
            log.warning("could not register the virtual board's side channel in %s: %s", folder, error)
            return
        self._registry_file = path
        self._registered_device = device

    def _unregister(self) -> None:
        if self._registry_file is not None:
            try:
                self._registry_file.unlink()
            except OSError:
                pass
            self._registry_file = None


# --- the client end, for other processes -------------------------------------------------------------------


class SideChannelClient:
    """Talks to the side channel of a virtual board in another process (found with :func:`find_board`)."""

    def __init__(self, entry: dict, timeout: float = CLIENT_TIMEOUT_S):
        self.entry = entry
        self.timeout = timeout

    @property
    def board_dir(self) -> str:
        return self.entry.get("board_dir", "")

    def request(self, op: str, **fields) -> dict:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(self.timeout)
            try:
                sock.sendto(json.dumps({"op": op, "token": self.entry["token"], **fields}).encode(),
                            ("127.0.0.1", int(self.entry["port"])))
                answer = json.loads(sock.recv(MAX_DATAGRAM))
            except (OSError, ValueError) as error:  # socket.timeout is an OSError
                raise VirtualBoardNotRunning(self.board_dir or "that board") from error
        if not answer.get("ok"):
            raise UsageError(answer.get("field", op), answer.get("problem", "refused"))
        answer.pop("ok", None)
        return answer

    def snapshot(self) -> dict:
        return self.request("get")

    def update(self, inputs: dict | None = None, adc: dict | None = None, dht=False,
               release: list | None = None) -> dict:
        fields: dict = {"inputs": inputs or {}, "adc": adc or {}, "release": release or []}
        if dht is not False:
            fields["dht"] = dht
        return self.request("set", **fields)


def running_boards(timeout: float = 0.5) -> list[dict]:
    """The virtual boards that answer, from the registry (stale entries of dead processes are removed)."""
    found = []
    try:
        paths = sorted(registry_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return found
    for path in paths:
        entry = _read_json(path, None)
        if not isinstance(entry, dict) or "port" not in entry or "token" not in entry:
            continue
        try:
            SideChannelClient(entry, timeout).request("ping")
        except VirtualBoardNotRunning:
            if not _process_alive(entry.get("pid")):
                try:
                    path.unlink()
                except OSError:
                    pass
            continue
        found.append(entry)
    return found


def _process_alive(pid) -> bool:
    if not isinstance(pid, int) or sys.platform == "win32":
        return True  # on Windows os.kill(pid, 0) would send Ctrl-C: leave the file to its owner
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def find_board(board_dir: Path | str | None = None, device: str | None = None,
               default_dir: Path | str | None = None) -> SideChannelClient:
    """The running virtual board for ``board_dir`` or serial ``device``; with neither, the only one running
    (or the one in ``default_dir`` when several are). Raises VirtualBoardNotRunning."""
    boards = running_boards()
    if device:
        wanted = os.path.realpath(device)
        matches = [b for b in boards if b.get("device") and os.path.realpath(b["device"]) == wanted]
        where = device
    elif board_dir:
        key = board_key(board_dir)
        matches = [b for b in boards if board_key(b["board_dir"]) == key]
        where = str(board_dir)
    else:
        matches = boards
        if len(boards) > 1 and default_dir is not None:
            key = board_key(default_dir)
            matches = [b for b in boards if board_key(b["board_dir"]) == key] or boards
        where = "any board folder"
    if not matches:
        raise VirtualBoardNotRunning(where)
    if len(matches) > 1 and not (device or board_dir):
        raise UsageError("--dir", "several virtual boards are running; pick one with --dir: " +
                         ", ".join(sorted({b["board_dir"] for b in matches})))
    return SideChannelClient(matches[0])
