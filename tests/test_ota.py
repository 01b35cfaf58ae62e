"""Updates over the air, end to end: Mosquitto, virtual boards running a project on the MiPy framework (the real
MicroPython interpreter, its mipy.ota and mipy.mqtt), and the IDE's publisher (ide.project.ota, paho-mqtt).
Faults: a wrong signature, a replayed manifest, corrupted and truncated chunks, the broker restarted midway, the
power cut at each step of the switch, a new version that raises at once, a board without the flash for it.
After each, every board runs a version whose files all match its manifest."""

from __future__ import annotations

import hashlib
import threading
import json
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from conftest import needs_virtual_board
from device_helpers import MOSQUITTO, Mosquitto
from ide.cli import main
from ide.fleet.errors import OtaRefused
from ide.project.ota import BrokerSettings, OtaPublisher, build_updates, device_key, project_key
from ide.project.run_project import run_project
from test_project_helpers import Output, new_project, vb_board, wait_for  # noqa: F401 (vb_board: a fixture)

pytestmark = [needs_virtual_board, pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto"),
              pytest.mark.timeout(240)]

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


class Rig:
    """Virtual boards running one project, their output collected in the background, and the IDE's publisher."""

    def __init__(self, tmp_path, vb_board, broker, publisher, project, count=1, **board_config):
        self.project = project
        self.publisher = publisher
        self.broker = broker
        # Each board has an ESP32's free heap (the virtual board's default profile).
        self.boards = [vb_board(**board_config) for _ in range(count)]
        self.outputs = [Output() for _ in self.boards]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        for board, out in zip(self.boards, self.outputs):
            run_project(board, project, out)
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()
        self.devices = self.find(count)

    def _read(self):
        while not self._stop.is_set():
            for board, out in zip(self.boards, self.outputs):
                with self._lock:
                    out(board.terminal_read(0.02))

    def redeploy(self, n=0):
        """Run project over USB again (the output pump paused meanwhile)."""
        with self._lock:
            run_project(self.boards[n], self.project, self.outputs[n])
        self.wait_output(n, "mqtt: connected", start=len(self.outputs[n].text) - 1)

    def close(self):
        self._stop.set()
        self._pump.join(2)

    def root(self, n=0) -> Path:
        return self.boards[n].virtual_board.root_dir

    def find(self, count):
        end = time.monotonic() + 25
        while time.monotonic() < end:
            devices = self.publisher.find_devices(self.project.name, wait=0.2, required=False)
            if len(devices) >= count and all(d.state for d in devices):
                by_uid = {d.uid: d for d in devices}
                return [by_uid[self.uid(n)] for n in range(count)]
        raise AssertionError("devices never reported; output:\n" + self.outputs[0].text[-3000:])

    def uid(self, n):
        return json.loads((self.root(n) / ".ota_key").read_text())["uid"]

    def wait_output(self, n, text, timeout=20, start=0):
        end = time.monotonic() + timeout
        while text not in self.outputs[n].text[start:]:
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} not seen; output:\n" + self.outputs[n].text[-3000:])
            time.sleep(0.05)
        return len(self.outputs[n].text)

    def status(self, n):
        return self.publisher.devices[self.devices[n].id]

    def update(self, devices=None, timeout=60, text="v2", size=0):
        change(self.project, text, size)
        devices = devices or self.devices
        return self.publisher.update(devices, build_updates(self.project, devices), self.project, timeout=timeout)


@pytest.fixture
def rig(tmp_path, vb_board, broker, publisher):
    made = []

    def make(count=1, name="sensor", **board_config):
        made.append(Rig(tmp_path, vb_board, broker, publisher, make_project(tmp_path, broker, name), count,
                        **board_config))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def publisher(broker):
    with OtaPublisher(BrokerSettings("127.0.0.1", broker.port)) as pub:
        yield pub


RUNTIME_FILES = ("log.txt", "log.txt.1", "secrets.dat", ".salt", "secrets.dat.tmp")


def base_files(root: Path) -> dict:
    """The base version's files (the USB deploy) as they stand, main.py being behind the launcher once there."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
             if p.is_file() and p.name not in RUNTIME_FILES and p.relative_to(root).parts[0] != "ota"}
    if files.get("main.py", b"").startswith(b"# mipy-ota launcher"):
        files["main.py"] = (root / "ota" / "base_main.py").read_bytes()
    return files


def files_of(root: Path, manifest: dict) -> bool:
    return all(hashlib.sha256((root / path).read_bytes()).hexdigest() == sha for path, _, sha in manifest["files"])


def test_update_reaches_three_boards_through_corrupted_and_truncated_chunks(rig):
    r = rig(3)
    assert [d.state for d in r.devices] == ["idle"] * 3 and r.devices[0].version == "usb"
    # Each board holds its own key, derived from the project's (which never leaves this computer).
    keys = [json.loads((r.root(n) / ".ota_key").read_text())["key"] for n in range(3)]
    assert len(set(keys)) == 3 and project_key(r.project).hex() not in keys
    assert keys[0] == device_key(project_key(r.project), r.uid(0)).hex()
    # On the way to board 1 one chunk is corrupted, to board 2 one is cut short: each is asked for again.
    spoiled = {}

    def faulty_link(device, index, offset, message):
        if index and offset and device not in spoiled:
            if device == r.devices[1].id:
                spoiled[device] = "corrupted"
                return message[:-7] + bytes(7)
            if device == r.devices[2].id:
                spoiled[device] = "truncated"
                return message[:len(message) // 2]
        return message

    r.publisher.chunk_filter = faulty_link
    started = time.monotonic()
    results = r.update(text="v2", size=20_000)
    seconds = time.monotonic() - started
    assert [res.status for res in results] == ["ok"] * 3, [str(res.error) for res in results]
    assert len(spoiled) == 2 and r.publisher.resends >= 2
    for n in range(3):
        r.wait_output(n, "version v2")
        folder, manifest = running_version(r.root(n))
        assert folder.startswith("v") and ["lib/blob.mpy"] == [p for p, _, _ in manifest["files"] if "blob" in p]
        assert r.status(n).state == "good" and r.status(n).seq == manifest["seq"]
    assert seconds < 60


def _offer_to(r, n, update, key):
    r.publisher._publish(f"mipy/{r.devices[n].id}/ota", update.offer(r.devices[n].id, key), qos=1)


def _wait_status(r, n, predicate, timeout=15, what="status"):
    return wait_for(lambda: predicate(r.status(n)) and r.status(n), timeout, what)


def test_wrong_signature_and_replayed_manifest_are_refused(rig):
    r = rig(1)
    device = r.devices[0]
    change(r.project, "v2")
    (u2,) = build_updates(r.project, [device]).values()
    _offer_to(r, 0, u2, b"not the key".ljust(32, b"!"))
    _wait_status(r, 0, lambda s: s.state == "refused" and s.why == "bad signature", what="bad signature refused")
    assert not (r.root() / "ota").exists()  # nothing written

    (res,) = r.publisher.update([device], {u2.target.key: u2}, r.project, timeout=60)
    assert res.ok, res.error
    change(r.project, "v3")  # this one through the command line
    assert main(["ota", str(r.project.root), "--broker", "127.0.0.1", "--broker-port", str(r.broker.port),
                 "--all", "--discover-s", "1", "--deadline", "60"]) == 0
    _, manifest3 = running_version(r.root())
    assert manifest3["seq"] > u2.seq
    # The v2 offer, correctly signed, sent again: older than what runs, so refused (no downgrade by replay).
    _offer_to(r, 0, u2, device_key(project_key(r.project), device.uid))
    status = _wait_status(r, 0, lambda s: s.state == "refused", what="replay refused")
    assert "old or replayed" in status.why
    folder, manifest = running_version(r.root())
    assert manifest == manifest3 and folder == f"v{manifest3['seq']}"


def test_over_the_air_tab_shows_the_devices(rig, qtbot, broker):
    from ide.ui.many_boards import OtaTab
    r = rig(2)
    tab = OtaTab(lambda: r.project)
    qtbot.addWidget(tab)
    assert tab.host.text() == "127.0.0.1" and tab.port.value() == broker.port  # from the project's config.py
    tab.refresh()
    qtbot.waitUntil(lambda: tab.table.rowCount() == 2, timeout=15_000)
    assert {tab.table.item(row, 0).text() for row in range(2)} == {d.id for d in r.devices}
    assert [tab.table.item(row, 2).text() for row in range(2)] == ["usb", "usb"]
    assert all(tab.table.item(row, 0).checkState() == Qt.CheckState.Checked for row in range(2))
    change(r.project, "from-the-window")
    tab.update_devices()
    qtbot.waitUntil(lambda: "2 of 2 devices updated" in tab.summary.text(), timeout=60_000)
    qtbot.waitUntil(lambda: [tab.table.item(row, 3).text() for row in range(2)] == ["good", "good"], timeout=10_000)
    assert all(tab.table.item(row, 5).text().startswith("now ") for row in range(2))
    for n in range(2):
        r.wait_output(n, "version from-the-window")


def test_broker_restarted_in_the_middle_of_the_transfer(rig, broker):
    r = rig(1)
    restarted = threading.Event()

    def restart():
        broker.stop()
        time.sleep(1.0)
        broker.start()
        restarted.set()

    def slow_link(device, index, offset, message):
        if index and r.publisher.chunks_sent == 4 and not restarted.is_set():
            threading.Thread(target=restart, daemon=True).start()
        time.sleep(0.05)  # a slow link, so the restart lands in the middle
        return message

    r.publisher.chunk_filter = slow_link
    (res,) = r.update(text="v2", size=20_000, timeout=90)
    assert restarted.is_set() and res.ok, res.error
    r.wait_output(0, "version v2")
    folder, manifest = running_version(r.root())
    assert folder == f"v{manifest['seq']}" and files_of(r.root() / "ota" / folder, manifest)


# main.py is moved aside (and the launcher written) only at the first switch away from a USB deploy: after a cut
# there, a USB deploy puts the board back where it was, which also shows that a USB deploy takes over.
SWITCH_STEPS = ("main-moved", "launcher", "staged", "renamed", "pointer", "state")


def test_power_cut_at_each_step_of_the_switch_boots_the_old_or_the_new_version(rig):
    r = rig(1)
    board = r.boards[0].virtual_board
    base = base_files(r.root())
    outcomes = {}
    for step in SWITCH_STEPS:
        old_folder, _ = running_version(r.root())
        change(r.project, f"cut-{step}")
        device = r.status(0)
        (update,) = build_updates(r.project, [device]).values()
        (r.root() / ".ota_halt_at").write_text(step)
        cancel = threading.Event()
        worker = threading.Thread(target=r.publisher.update, args=([device], update, r.project),
                                  kwargs={"timeout": 60, "cancel": cancel}, daemon=True)
        mark = len(r.outputs[0].text)
        worker.start()
        r.wait_output(0, f"ota: halted at {step}", start=mark)
        board.press_reset()  # the power goes, right after this step
        (r.root() / ".ota_halt_at").unlink()
        mark = len(r.outputs[0].text)
        r.wait_output(0, "mqtt: connected", start=mark)
        folder, manifest = running_version(r.root())
        assert folder in (old_folder, f"v{update.seq}"), (step, folder)
        if folder != "base":
            assert files_of(r.root() / "ota" / folder, manifest)
        else:
            assert base_files(r.root()) == base, step
        outcomes[step] = "new" if folder == f"v{update.seq}" else "old"
        if outcomes[step] == "new":
            _wait_status(r, 0, lambda s: s.seq == update.seq and s.state == "good", what="new version healthy")
        cancel.set()
        worker.join(10)
        # main.py moved aside but no launcher yet: boot.py wrote it, and the base still runs.
        assert (r.root() / "main.py").exists()
        if step in ("main-moved", "launcher"):
            r.redeploy()
            assert running_version(r.root())[0] == "base" and not (r.root() / "ota" / "current").exists()
            base = base_files(r.root())
    assert outcomes == {"staged": "old", "renamed": "old", "main-moved": "old", "launcher": "old",
                        "pointer": "new", "state": "new"}, outcomes


def test_a_version_that_raises_is_rolled_back_within_two_boots(rig):
    r = rig(1)
    base = base_files(r.root())
    main = r.project.root / "main.py"
    original = main.read_text()
    main.write_text("raise RuntimeError('broken at once')\n" + original)
    (res,) = r.publisher.update(r.devices, build_updates(r.project, r.devices), r.project, timeout=60)
    assert not res.ok and isinstance(res.error, OtaRefused) and res.error.state == "rolled-back"
    assert "broken at once" in res.error.why
    assert running_version(r.root())[0] == "base" and base_files(r.root()) == base

    # Raising later, inside main(): the app resets the board; the second boot rolls back.
    main.write_text(original.replace("async def main():\n", "async def main():\n    raise RuntimeError('later')\n"))
    mark = len(r.outputs[0].text)
    (res,) = r.publisher.update(r.devices, build_updates(r.project, r.devices), r.project, timeout=60)
    assert not res.ok and res.error.state == "rolled-back" and "not healthy" in res.error.why
    assert r.outputs[0].text[mark:].count("starting (reset cause") <= 3  # the trial boot, then the rolled back one
    assert running_version(r.root())[0] == "base" and base_files(r.root()) == base
    main.write_text(original)
    (res,) = r.update(text="fixed")
    assert res.ok, (res.error, r.outputs[0].text[-3000:])


def test_too_little_free_flash_is_refused_before_anything_is_written(rig):
    r = rig(1, fs_size=112 * 1024)
    before = {p.relative_to(r.root()).as_posix(): p.read_bytes() for p in r.root().rglob("*") if p.is_file()
              and p.name not in ("log.txt", "log.txt.1")}
    (res,) = r.update(text="big", size=20_000)
    assert not res.ok and isinstance(res.error, OtaRefused) and "no space" in res.error.why
    after = {p.relative_to(r.root()).as_posix(): p.read_bytes() for p in r.root().rglob("*") if p.is_file()
             and p.name not in ("log.txt", "log.txt.1")}
    assert after == before and not (r.root() / "ota").exists()
