"""Heap each template needs on a 32-bit MicroPython (a chip's object sizes), on each path it can take.

Each template is assembled as the IDE does (framework compiled with mpy-cross into /lib/mipy) and run on the
32-bit unix port (tests/peers.py builds it once) with the virtual board's shims, also precompiled. Paths:

- connected: Wi-Fi joins a stored network; the app does its job (a reading published, a relay switched over
  MQTT, the dashboard page and API served with a toggle, the LED blinking).
- portal: the stored network is not in range, so the set-up portal opens; the host reads the form and submits
  the right network, the board joins it and then does its job as above (the portal's memory must be given back).
- broker down: Wi-Fi joins, nothing listens on the MQTT port; the client retries three times (MQTT templates).

Two figures per path, both above what the board held once the shims (machine, network, socket, select, time,
os, esp, ntptime, cryptolib) and asyncio were imported (on a chip those are firmware, in flash):
- live peak: the largest gc.mem_alloc() right after a gc.collect(), sampled every 100 ms with a generous heap;
- needs: the smallest free heap (gc.mem_free() at that point) with which the path still succeeds, found by
  bisection with -X heapsize (1 KB steps). This includes fragmentation and transient buffers, so it is the figure
  compared with a chip: ESP32 about 110 KB free after boot, ESP8266 about 30 KB.
The shims allocate a little on the heap (state files read as JSON) where the chip's C modules do not, so the
figures err on the large side.

The 32-bit build has no `cryptolib` (it is built without TLS); a stand-in of the same interface (XOR, a few
hundred bytes of heap, as the C object is on the chip) is added to the shims for the measurement only.

Run: .venv/bin/python bench/heap.py [template ...]      Writes bench/HEAP_RESULTS.md and, with --write, the
measured "needs" figures into each template.json ("heap": {...}), which ide/project/heap_budget.py checks.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from device_helpers import (MOSQUITTO, SHIMS, TEMPLATES, Board, Broker, Mosquitto, Subscriber,  # noqa: E402
                            compile_tree)
from peers import micropython_32bit  # noqa: E402

from ide.project.heap_budget import CHIP_FREE_HEAP, HEADROOM  # noqa: E402

NETS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3}],
        "connect_delay_ms": 200}
OTA = True  # --no-ota: the templates' ota = False
PATHS = {"blink": ("standalone",), "wifi_portal": ("connected", "portal"),
         "web_dashboard": ("connected", "portal"), "mqtt_sensor": ("connected", "portal", "broker down"),
         "mqtt_relay": ("connected", "portal", "broker down")}

CRYPTOLIB_STAND_IN = '''# bench only: the 32-bit unix build has no cryptolib; same interface, XOR instead of AES.
class aes:
    def __init__(self, key, mode, iv=None):
        self._k = bytes(key)
    def encrypt(self, data):
        return bytes(b ^ self._k[i % 16] for i, b in enumerate(data))
    decrypt = encrypt
'''

PRELUDE = """
import gc
import machine, network, socket, select, asyncio, time, os, esp, ntptime, cryptolib
gc.collect()
print("BOOT", gc.mem_free(), gc.mem_alloc())
"""
SAMPLER = """
_peak = [0]
async def _sample():
    while True:
        gc.collect()
        a = gc.mem_alloc()
        if a > _peak[0]:
            _peak[0] = a
            print("PEAK", a)
        await asyncio.sleep_ms(100)
_asyncio_run = asyncio.run
def _run_sampled(coro):
    async def both():
        asyncio.create_task(_sample())
        await coro
    return _asyncio_run(both())
asyncio.run = _run_sampled
"""


class PathFailed(Exception):
    pass


def http(port: int, path: str, data: bytes | None = None, timeout: float = 4):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:  # refused, reset, timed out: the board did not serve
        raise PathFailed(repr(e)) from None


def token_of(page: bytes) -> str:
    m = re.search(rb"name=['\"]?token['\"]? value=['\"]?([0-9a-f]+)", page) or re.search(
        rb"data-token=['\"]?([0-9a-f]+)", page)
    return m.group(1).decode() if m else ""


def healthy(b: Board) -> None:
    if "MemoryError" in b.output or b.proc.poll() is not None or (b.control.exists() and b.control.read_text()):
        raise PathFailed(b.output[-1500:])


def wait_for(b: Board, text: str, timeout: float = 8, start: int = 0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        healthy(b)
        for i in range(start, len(b.lines)):
            if text in b.lines[i]:
                return i
        time.sleep(0.05)
    raise PathFailed(f"{text!r} not seen:\n" + b.output[-1500:])


def board_port(b: Board, port: int) -> int:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        p = (b.read_state("ports.json") or {}).get(str(port))
        if p:
            return p
        time.sleep(0.05)
    raise PathFailed("port %d never opened" % port)


def app_works(b: Board, template: str, broker_port: int, start: int = 0) -> None:
    """The template's job, seen from the host."""
    if template == "blink":
        for want in (1, 0, 1):
            end = time.monotonic() + 5
            while (b.read_state("pins.json") or {}).get("2", {}).get("value") != want:
                healthy(b)
                if time.monotonic() > end:
                    raise PathFailed("LED not toggling")
                time.sleep(0.02)
    elif template == "wifi_portal":
        wait_for(b, "online as", start=start)
    elif template == "web_dashboard":
        wait_for(b, "http: serving", start=start)
        port = board_port(b, 80)
        st, page = http(port, "/")
        if st != 200 or b"</html>" not in page:
            raise PathFailed("page: %d" % st)
        token = token_of(page)
        st, body = http(port, "/api/led", ("token=" + token).encode())
        if st != 200 or json.loads(body)["led"] != 1:
            raise PathFailed("toggle: %d %r" % (st, body))
        st, body = http(port, "/api")
        if st != 200 or json.loads(body)["led"] != 1:
            raise PathFailed("api: %d" % st)
    else:
        sub = Subscriber(broker_port, "home/#")
        try:
            if template == "mqtt_sensor":
                sub.wait(lambda m: m[0] == "home/sensor1/reading", 8)
                sub.messages.clear()
                sub.wait(lambda m: m[0] == "home/sensor1/reading", 4)
            else:
                sub.wait(lambda m: m[0] == "home/relay1/relay/state", 8)
                wait_for(b, "mqtt: connected", start=start)
                time.sleep(0.3)
                sub.publish("home/relay1/relay/set", "on")
                sub.wait(lambda m: m[0] == "home/relay1/relay/state" and m[1] == b"on", 5)
        except AssertionError as e:
            raise PathFailed(str(e)[-500:] + "\n" + b.output[-1500:]) from None
        finally:
            sub.close()
    time.sleep(0.5)
    healthy(b)


def run_path(interp: Path, shims: Path, work: Path, template: str, path: str, heap: int, broker_port: int,
             sample: bool) -> tuple[bool, int, int, int, str]:
    """One run: (succeeded, free heap at start, heap used at start, live peak or 0, output tail)."""
    b = Board(work, shims=shims, micropython=interp)
    b.config("network.json", NETS)
    b.install_template(template)
    b.set_config(mqtt_server="127.0.0.1", mqtt_port=broker_port, interval_s=1, reset_delay_s=0, wifi_timeout=3,
                 portal_timeout_s=600, ap_password="benchpass1", **({} if OTA else {"ota": False}))
    wifi = {"ssid": "Elsewhere", "password": "nothere12"} if path == "portal" else \
        {"ssid": "HomeWiFi", "password": "secret123"}
    if template != "blink":
        (b.root / "wifi.json").write_text(json.dumps(wifi))
    b.start(PRELUDE + (SAMPLER if sample else "") + "import main\n", heap=str(heap))
    ok = True
    try:
        wait_for(b, "BOOT ", timeout=10)
        if path == "portal":
            n = wait_for(b, "http: serving")
            port = board_port(b, 80)
            st, page = http(port, "/")
            if st != 200 or b"HomeWiFi" not in page:
                raise PathFailed("portal form: %d" % st)
            form = {"ssid": "HomeWiFi", "password": "secret123", "token": token_of(page)}
            st, _ = http(port, "/save", urllib.parse.urlencode(form).encode())
            if st != 200:
                raise PathFailed("portal save: %d" % st)
            wait_for(b, "wifi: connected", start=n, timeout=10)
            app_works(b, template, broker_port, start=n + 1)
        elif path == "broker down":
            wait_for(b, "wifi: connected")
            n = 0
            for _ in range(3):  # the first attempt and two retries, on the client's backoff (1 s, 2 s)
                n = wait_for(b, "mqtt: connecting", start=n, timeout=8) + 1
            time.sleep(0.3)
            healthy(b)
        else:
            app_works(b, template, broker_port)
    except (PathFailed, ValueError, KeyError):
        ok = False
    finally:
        b.stop()
    boot = next((line.split() for line in b.lines if line.startswith("BOOT ")), None)
    peaks = [int(line.split()[1]) for line in b.lines if line.startswith("PEAK ")]
    if boot is None:
        return False, 0, 0, 0, b.output[-800:]
    free, used = int(boot[1]), int(boot[2])
    return ok, free, used, (max(peaks) - used) if peaks else 0, b.output[-800:]


def measure(interp: Path, shims: Path, tmp: Path, template: str, path: str, broker_port: int) -> dict:
    runs = iter(range(10**6))
    work = lambda: tmp / f"{template}-{path.replace(' ', '_')}-{next(runs)}"  # noqa: E731
    ok, free, used, peak, tail = run_path(interp, shims, work(), template, path, 512 * 1024, broker_port, True)
    if not ok:
        return {"template": template, "path": path, "error": tail}
    overhead = 512 * 1024 - free - used  # heapsize minus what gc reports: the allocation table
    lo, hi = 2, 128  # KB of free heap: lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        size = mid * 1024 + used + overhead * (mid * 1024 + used) // (512 * 1024)
        ok, free_at, _, _, _ = run_path(interp, shims, work(), template, path, size, broker_port, False)
        if ok:
            hi = mid
        else:
            lo = mid
    return {"template": template, "path": path, "live_peak": peak, "needs_kb": hi, "boot_used": used}


def table(results: list[dict]) -> str:
    rows = ["| template | path | live peak (KB) | needs free (KB) | ESP8266 (%d KB) | ESP32 (%d KB) |" % (
        CHIP_FREE_HEAP["esp8266"] // 1024, CHIP_FREE_HEAP["esp32"] // 1024), "|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['template']} | {r['path']} | failed even with 512 KB | | | |")
            continue

        def verdict(chip: str) -> str:
            room = CHIP_FREE_HEAP[chip] // 1024 - r["needs_kb"]
            return ("fits, %d KB to spare" % room) if room >= HEADROOM // 1024 else (
                "tight (%d KB to spare)" % room if room >= 0 else "does not fit (%d KB short)" % -room)
        rows.append(f"| {r['template']} | {r['path']} | {r['live_peak'] / 1024:.1f} | {r['needs_kb']} | "
                    f"{verdict('esp8266')} | {verdict('esp32')} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("templates", nargs="*", default=list(PATHS))
    parser.add_argument("--write", action="store_true", help="store the figures in each template.json")
    parser.add_argument("--out", default=str(ROOT / "bench" / "HEAP_RESULTS.md"))
    parser.add_argument("--no-ota", action="store_true",
                        help="measure with ota = False (what `mipy-studio new` writes for an ESP8266)")
    args = parser.parse_args()
    global OTA
    OTA = not args.no_ota
    interp = micropython_32bit()
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shims = tmp / "shims"
        compile_tree(SHIMS, shims)
        probe = Board(tmp / "probe", micropython=interp)
        if "no module named 'cryptolib'" in probe.run("import cryptolib", timeout=5):
            (tmp / "cryptolib.py").write_text(CRYPTOLIB_STAND_IN)
            compile_tree(tmp, shims, only="cryptolib.py")
        broker = (Mosquitto(tmp) if MOSQUITTO else Broker(tmp)).start()
        try:
            for template in args.templates:
                for path in PATHS[template]:
                    port = broker.port
                    if path == "broker down":
                        with socket.socket() as s:  # a port nothing listens on
                            s.bind(("127.0.0.1", 0))
                            port = s.getsockname()[1]
                    started = time.monotonic()
                    r = measure(interp, shims, tmp, template, path, port)
                    r["seconds"] = round(time.monotonic() - started, 1)
                    print(json.dumps({k: v for k, v in r.items() if k != "error"}), r.get("error", "")[-600:],
                          flush=True)
                    results.append(r)
        finally:
            broker.stop()
    text = table(results)
    print(text)
    Path(args.out).write_text(
        "# Heap per template and path (32-bit MicroPython)\n\nProduced by `bench/heap.py` (see its docstring for "
        "the method). Figures are above the heap held once the shims and asyncio were imported; \"needs free\" "
        "is the smallest free heap with which the path still succeeds (1 KB bisection); \"fits\" means at least "
        f"{HEADROOM // 1024} KB to spare.\n\n" + text + "\n")
    if args.write:
        by_template: dict[str, dict] = {}
        for r in results:
            if "needs_kb" in r:
                by_template.setdefault(r["template"], {})[r["path"].replace(" ", "_")] = r["needs_kb"] * 1024
        for template, figures in by_template.items():
            meta_path = TEMPLATES / template / "template.json"
            meta = json.loads(meta_path.read_text())
            meta["heap"] = figures
            meta_path.write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
