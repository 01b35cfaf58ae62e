"""Many boards benchmark: four boards against one (flash, deploy), and one 20 KB update over the air to three
virtual boards through Mosquitto against a USB Run project of the same change.

- Flash: a 1.5 MB ESP32 image written by the real esptool (through ide.flasher) to simulated chips, one, then four
  at once (ide.fleet, one worker per board); each simulated chip is its own process.
- Deploy: the mqtt_sensor project (first deploy: everything compiled and uploaded) to virtual boards at 115200
  baud with the wire model of bench/run_project.py (256-byte RX buffer, 1 ms latency, ESP32 flash model), one,
  then four at once.
- Over the air: three virtual boards running mqtt_sensor with ota = True, a local Mosquitto; the change is a new
  20 KB module (lib/blob.py, compiled) and one line in main.py. Timed from the first offer until every board has
  reported the new version healthy (the boards' flash paced like an ESP32's) (it restarted, reached the broker and ran ota_health_s = 2 s), and until the
  last board said "switching" (transfer and verification only). The USB figure is Run project of the same change
  on one connected board (build, hash-compared sync of the changed files, soft reset).

CPU: the process's own CPU time (user + system, this process and its children that ended) per wall second says
what the two cores spend. Run: .venv/bin/python bench/fleet.py     Writes bench/FLEET_RESULTS.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from device_helpers import Mosquitto  # noqa: E402
from ide.board.board import Board  # noqa: E402
from ide.board.virtual import VirtualBoard, VirtualBoardConfig  # noqa: E402
from ide.fleet.jobs import DeployJob, FlashJob  # noqa: E402
from ide.fleet.runner import run_fleet  # noqa: E402
from ide.flasher.chips import CHIPS  # noqa: E402
from ide.flasher.images import build_test_image  # noqa: E402
from ide.project.new_project import ProjectSettings, create_project  # noqa: E402
from ide.project.ota import BrokerSettings, OtaPublisher, build_updates  # noqa: E402
from ide.project.run_project import run_project  # noqa: E402
from ide.project.templates import get_template  # noqa: E402

REPEAT = 3
NETS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3}]}


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn) -> tuple[float, float]:
    wall, used = time.monotonic(), cpu()
    fn()
    return time.monotonic() - wall, cpu() - used


def bench_flash(count: int) -> tuple[float, float]:
    """The simulated chips run as separate processes (``mipy-studio esp-sim``), as real chips are not this
    process's work; the workers (esptool, one per board) are threads here."""
    image = build_test_image(CHIPS["esp32"], 1_500_000, seed=7)
    sims = [subprocess.Popen([sys.executable, "-m", "ide", "esp-sim", "--chip", "esp32", "--no-micropython"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(ROOT))
            for _ in range(count)]
    try:
        devices = [sim.stdout.readline().strip() for sim in sims]
        results: list = []
        seconds = timed(lambda: results.extend(run_fleet(devices, FlashJob(image))))
        assert all(r.ok for r in results), [str(r.error) for r in results]
        return seconds
    finally:
        for sim in sims:
            sim.terminate()
            sim.wait(10)


def wire(root: Path) -> VirtualBoardConfig:
    return VirtualBoardConfig(root_dir=root, baud=115200, latency_s=0.001, rx_buffer=256, flash_model=True)


def bench_deploy(count: int, work: Path) -> tuple[float, float]:
    project = create_project(get_template("mqtt_sensor"), work / f"p{count}-{time.monotonic_ns()}",
                             ProjectSettings(name="sensor", mqtt_server="127.0.0.1"))
    from ide.project.build import HOST_TARGET, build_project
    build_project(project, HOST_TARGET)  # compiled once before: the boards' upload is what is compared
    boards = []
    for n in range(count):
        root = work / f"vb{count}-{n}-{time.monotonic_ns()}"
        root.mkdir()
        board = VirtualBoard(wire(root))
        board.start()
        boards.append(board)
    try:
        results: list = []
        seconds = timed(lambda: results.extend(run_fleet([b.device_path for b in boards], DeployJob(project))))
        assert all(r.ok for r in results), [str(r.error) for r in results]
        return seconds
    finally:
        for board in boards:
            board.stop()


def change(project, n: int) -> None:
    main = project.root / "main.py"
    text = main.read_text().split("\nprint('bench'")[0]
    main.write_text(text + f"\nprint('bench', {n})\n")
    (project.root / "lib" / "blob.py").write_text(f"DATA = {'x' * 19_990 + str(n)!r}\n")


def bench_ota(work: Path) -> dict:
    broker = Mosquitto(work).start()
    project = create_project(get_template("mqtt_sensor"), work / "ota-project",
                             ProjectSettings(name="sensor", mqtt_server="127.0.0.1", mqtt_port=broker.port,
                                             wifi_ssid="HomeWiFi", wifi_password="secret123",
                                             extra={"ota_health_s": 2, "interval_s": 30}))
    boards = []
    try:
        for n in range(3):
            root = work / f"ota-vb{n}"
            root.mkdir()
            # The REPL wire is not used by an update; the flash is: written at an ESP32's pace.
            boards.append(Board.open("virtual", virtual_config=VirtualBoardConfig(root_dir=root, baud=0,
                                                                                  network=NETS, flash_model=True)))
            run_project(boards[-1], project)
        figures: dict = {"ota_total": [], "ota_switch": [], "usb": [], "bytes": 0}
        with OtaPublisher(BrokerSettings("127.0.0.1", broker.port)) as publisher:
            deadline = time.monotonic() + 30
            while len(publisher.find_devices(project.name, wait=0.5, required=False)) < 3:
                if time.monotonic() > deadline:
                    raise RuntimeError("the boards never reported to the broker")
            for n in range(REPEAT):
                devices = publisher.find_devices(project.name, wait=0.2)
                change(project, n)
                updates = build_updates(project, devices)
                update = next(iter(updates.values()))
                switched: dict = {}
                start = time.monotonic()

                def watch():
                    while len(switched) < 3 and time.monotonic() - start < 60:
                        for d in devices:
                            s = publisher.devices.get(d.id)
                            if s and s.state == "switching" and s.seq == update.seq and d.id not in switched:
                                switched[d.id] = time.monotonic() - start
                        time.sleep(0.01)

                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
                results = publisher.update(devices, updates, project, timeout=90)
                figures["ota_total"].append(time.monotonic() - start)
                watcher.join(5)
                assert all(r.ok for r in results), [str(r.error) for r in results]
                figures["ota_switch"].append(max(switched.values()) if len(switched) == 3 else float("nan"))
                figures["bytes"] = len(update.blob(update.files.index(next(f for f in update.files
                                                                          if f.path == "lib/blob.mpy")) + 1))
            figures["chunks_per_update"] = publisher.chunks_sent / REPEAT
        # The same change over USB to one connected board at 115200 baud with the wire model.
        usb_root = work / "usb-vb"
        usb_root.mkdir()
        with Board.open("virtual", virtual_config=wire(usb_root), timeout=20) as board:
            run_project(board, project)
            for n in range(REPEAT):
                change(project, 100 + n)
                start = time.monotonic()
                run_project(board, project)
                figures["usb"].append(time.monotonic() - start)
        return figures
    finally:
        for board in boards:
            board.close()
        broker.stop()


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="mipy-fleet-bench-") as folder:
        work = Path(folder)
        flash = {n: [bench_flash(n) for _ in range(REPEAT)] for n in (1, 4)}
        deploy = {n: [bench_deploy(n, work) for _ in range(REPEAT)] for n in (1, 4)}
        ota = bench_ota(work)

    def med(runs, i=0):
        return statistics.median(r[i] for r in runs)

    for what, data in (("flash 1.5 MB (simulated ESP32, esptool)", flash),
                       ("first deploy of mqtt_sensor (virtual board, 115200 baud)", deploy)):
        one, four = med(data[1]), med(data[4])
        rows.append(f"| {what} | {one:.2f} | {four:.2f} | {four / one:.2f}x | {4 * one / four:.2f}x | "
                    f"{med(data[1], 1) / one:.2f} / {med(data[4], 1) / four:.2f} |")
    lines = ["# Many boards benchmark", "",
             f"Produced by `bench/fleet.py` on {os.cpu_count()} cores; median of {REPEAT} runs.", "",
             "## Four boards against one", "",
             "| job | 1 board (s) | 4 boards at once (s) | time, 4 vs 1 | throughput gain | CPU s per wall s (1 / 4) |",
             "|---|---|---|---|---|---|", *rows, "",
             "## One 20 KB update: over the air to three boards against USB", "",
             f"The changed files: lib/blob.mpy ({ota['bytes']} bytes) and main.py; "
             f"{ota['chunks_per_update']:.0f} chunks per update (all three boards).", "",
             "| what | median (s) | runs (s) |", "|---|---|---|",
             f"| over the air, 3 boards: offer until every board switched (transfer, hashes, signature) | "
             f"{statistics.median(ota['ota_switch']):.2f} | {', '.join(f'{x:.2f}' for x in ota['ota_switch'])} |",
             f"| over the air, 3 boards: offer until every board confirmed itself healthy (restart + 2 s) | "
             f"{statistics.median(ota['ota_total']):.2f} | {', '.join(f'{x:.2f}' for x in ota['ota_total'])} |",
             f"| USB Run project of the same change, 1 board (115200 baud, connected) | "
             f"{statistics.median(ota['usb']):.2f} | {', '.join(f'{x:.2f}' for x in ota['usb'])} |", ""]
    out = ROOT / "bench" / "FLEET_RESULTS.md"
    existing = out.read_text() if out.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    out.write_text("\n".join(lines) + "\n<!-- notes -->" + notes)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
