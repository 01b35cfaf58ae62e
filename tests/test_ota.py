"""Updates over the air, end to end: Mosquitto, virtual boards running a project on the MiPy framework (the real
MicroPython interpreter, its mipy.ota and mipy.mqtt), and the IDE's publisher (ide.project.ota, paho-mqtt).
Faults: a wrong signature, a replayed manifest, corrupted and truncated chunks, the broker restarted midway, the
power cut at each step of the switch, a new version that raises at once, a board without the flash for it.
After each, every board runs a version whose files all match its manifest."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from conftest import needs_virtual_board
from device_helpers import MOSQUITTO, Mosquitto
from ide.fleet.errors import OtaRefused
from ide.project.ota import (BrokerSettings, OtaPublisher, build_updates, chunk_message, device_key, project_key,
                             prepare_update)
from ide.project.run_project import run_project
from test_project_helpers import Output, follow_until, new_project, vb_board, wait_for  # noqa: F401

pytestmark = [needs_virtual_board, pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto"),
              pytest.mark.timeout(240)]

# The framework, the shims and mipy.ota on the 64-bit unix port need more than the default virtual heap; see
# bench/FLEET_RESULTS.md for what mipy.ota costs.
HEAP = 256 * 1024
FAST = {"interval_s": 5, "ota_health_s": 2, "reset_delay_s": 1, "ota_timeout_s": 20, "watchdog_s": 0}


@pytest.fixture
def broker(tmp_path):
    br = Mosquitto(tmp_path).start()
    yield br
    br.stop()


def make_project(tmp_path: Path, broker, name: str = "sensor"):
    return new_project(tmp_path, "mqtt_sensor", name=name, mqtt_server="127.0.0.1", mqtt_port=broker.port,
                       extra=dict(FAST))


def change(project, text: str = "v2", size: int = 0) -> None:
    """A new version: main.py prints ``text`` when it starts; ``size`` bytes of data in lib/blob.py."""
    main = project.root / "main.py"
    source = main.read_text()
    marker = "\nasync def main():\n"
    head, _, rest = source.partition(marker)
    head = head.split("\nprint('version'")[0]
    main.write_text(head + f"\nprint('version', {text!r})\n" + marker + rest)
    if size:
        (project.root / "lib" / "blob.py").write_text("DATA = " + repr("x" * (size - 10)) + "\n")


def running_version(board_root: Path) -> tuple[str, dict]:
    """The version a board's files say it runs, and that version's manifest (checked against the files)."""
    pointer = json.loads((board_root / "ota" / "current").read_text()) if (board_root / "ota" / "current").exists() \
        else None
    if pointer is None or not pointer["v"]:
        return "base", {}
    folder = board_root / "ota" / pointer["v"]
    manifest = json.loads((folder / ".manifest.json").read_text())
    for path, size, sha in manifest["files"]:
        data = (folder / path).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha, path
    return pointer["v"], manifest


def deploy_and_find(board, project, broker, publisher, out):
    run_project(board, project, out)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        out(board.terminal_read(0.1))
        devices = publisher.find_devices(project.name, wait=0.1, required=False)
        if devices:
            return devices
    raise AssertionError("the device's status never reached the broker; output:\n" + out.text[-3000:])


@pytest.fixture
def publisher(broker):
    with OtaPublisher(BrokerSettings("127.0.0.1", broker.port)) as pub:
        yield pub


def test_update_reaches_a_board_and_it_confirms_itself_healthy(tmp_path, vb_board, broker, publisher):
    project = make_project(tmp_path, broker)
    board = vb_board(heap_size=HEAP)
    out = Output()
    (device,) = deploy_and_find(board, project, broker, publisher, out)
    assert device.state == "idle" and device.version == "usb"
    change(project, "v2", size=20_000)
    updates = build_updates(project, [device])
    (result,) = publisher.update([device], updates, project, timeout=60)
    assert result.ok, result.error
    follow_until(board, out, "version v2", timeout=20)
    folder, manifest = running_version(board.virtual_board.root_dir)
    assert folder.startswith("v") and any(path == "lib/blob.mpy" for path, _, _ in manifest["files"])
    assert (board.virtual_board.root_dir / "main.py").read_bytes().startswith(b"# mipy-ota launcher")
