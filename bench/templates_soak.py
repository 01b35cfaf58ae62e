"""Every template, on each of its paths, for N minutes on the default virtual board (a chip's free heap):
no MemoryError, no unexpected reboot.

Paths: connected (the network and, for MQTT, a broker); network not found (into the set-up portal); broker
unreachable (the MQTT reconnect loop). Boards run a few at a time (one interpreter each). Writes
bench/TEMPLATES_SOAK_RESULTS.md.

    .venv/bin/python bench/templates_soak.py [--minutes 3] [--parallel 5] [--chip esp32] [--interpreter PATH]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from device_helpers import Broker  # noqa: E402
from ide.board import virtual  # noqa: E402
from ide.board.board import Board  # noqa: E402
from ide.project.new_project import ProjectSettings, create_project  # noqa: E402
from ide.project.run_project import run_project  # noqa: E402
from ide.project.templates import get_template  # noqa: E402

NETWORKS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3}],
            "connect_delay_ms": 200}
PATHS = {
    "blink": ["alone"],
    "mqtt_sensor": ["connected", "no network", "broker down"],
    "mqtt_relay": ["connected", "no network", "broker down"],
    "web_dashboard": ["connected", "no network"],
    "wifi_portal": ["connected", "no network"],
}
REBOOT = re.compile(r"MPY: soft reboot|rst:0x")
EVIDENCE = re.compile(r"portal|mqtt|wifi|http|blink|led", re.IGNORECASE)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def soak(template: str, path: str, minutes: float, broker_port: int, work: Path, chip: str,
         interpreter: str | None) -> dict:
    folder = work / f"{template}-{path.replace(' ', '-')}"
    folder.mkdir()
    settings = {"name": f"{template.replace('_', '')}{abs(hash(path)) % 1000}", "board": chip,
                "wifi_ssid": "HomeWiFi" if path != "no network" else "NotInRange", "wifi_password": "secret123",
                "mqtt_server": "127.0.0.1", "mqtt_port": broker_port if path != "broker down" else closed_port()}
    project = create_project(get_template(template), folder / "project", ProjectSettings(**settings))
    (folder / "board").mkdir()
    config = virtual.VirtualBoardConfig(root_dir=folder / "board", baud=0, network=NETWORKS, chip=chip,
                                        interpreter=interpreter)
    board = Board.open("virtual", virtual_config=config, timeout=20)
    output = bytearray()
    try:
        run_project(board, project, output.extend)
        started = time.monotonic()
        while time.monotonic() - started < minutes * 60:
            data = board.terminal_read(0.2)
            if data:
                output += data
        text = output.decode("utf-8", "replace")
        reboots = len(REBOOT.findall(text)) - 1  # the soft reset of Run project itself
        # What shows the path was really taken: the last line the framework logged about it.
        evidence = [line.strip() for line in text.splitlines() if EVIDENCE.search(line)]
        return {"template": template, "path": path, "memory_errors": text.count("MemoryError"),
                "evidence": (evidence[-1][:70] if evidence else "-").replace("|", "/"),
                "reboots": max(0, reboots), "tracebacks": text.count("Traceback"), "tail": text[-400:]}
    finally:
        board.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--parallel", type=int, default=5)
    parser.add_argument("--chip", default="esp32")
    parser.add_argument("--interpreter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mipy-soak-") as temp:
        work = Path(temp)
        broker = Broker(work).start()
        try:
            jobs = [(template, path) for template, paths in PATHS.items() for path in paths]
            with ThreadPoolExecutor(args.parallel) as pool:
                results = list(pool.map(lambda job: soak(job[0], job[1], args.minutes, broker.port, work,
                                                         args.chip, args.interpreter), jobs))
        finally:
            broker.stop()
    lines = [f"# Templates for {args.minutes:g} minutes on the default virtual board ({args.chip})", "",
             f"`bench/templates_soak.py --minutes {args.minutes:g} --chip {args.chip}`"
             + (f" on `{args.interpreter}`" if args.interpreter else " (bundled 64-bit unix port, a chip's heap)"),
             "", "| template | path | MemoryError | reboots | tracebacks | last line logged about the path |",
             "|---|---|---|---|---|---|"]
    for result in results:
        lines.append(f"| {result['template']} | {result['path']} | {result['memory_errors']} | {result['reboots']} "
                     f"| {result['tracebacks']} | `{result['evidence']}` |")
    bad = [result for result in results if result["memory_errors"] or result["reboots"]]
    lines += ["", "All paths ran without a MemoryError or a reboot." if not bad else
              "Failures:\n" + "\n".join(f"- {r['template']} / {r['path']}: ...{r['tail']!r}" for r in bad)]
    out = ROOT / "bench" / ("TEMPLATES_SOAK_RESULTS.md" if args.chip == "esp32" and not args.interpreter
                            else f"TEMPLATES_SOAK_RESULTS_{args.chip}{'_32bit' if args.interpreter else ''}.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
