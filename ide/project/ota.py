"""Updates over the air, host side: keys, the signed manifest, chunked publishing with acknowledgements, and the
devices' status. The device side is ``device_templates/framework/mipy/ota.py``; the protocol is in docs/ota.md.

Keys. Each project has a random 32-byte key in ``<project>/.mipy/ota.json`` (a hidden folder: never uploaded,
and listed in the project's .gitignore). A board never gets it: at its first USB deploy it gets its own key,
HMAC-SHA256(project key, "mipy-ota-device:" + its unique id), in ``/.ota_key``. So a board that is read out can
sign updates for itself only, and the key never travels over the air.

Topics, under ``<prefix>/<device id>/ota``: the topic itself (offers "M" and chunks "C", to the device),
``/req`` (the device asks for data: it is the flow control), ``/status`` (retained JSON: version, state),
``/online`` (retained "online"/"offline", the device's last will).
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from ide.errors import UsageError
from ide.fleet.errors import BrokerUnreachable, DeviceNotFound, ManifestTooLarge, NoOtaKey, OtaRefused, OtaTimedOut
from ide.fleet.runner import FAILED, OK, BoardProgress, BoardResult
from ide.project.build import HOST_TARGET, MpyTarget, build_project
from ide.project.project import PROJECT_FILE, Project

log = logging.getLogger(__name__)

KEY_DIR = ".mipy"
KEY_FILE = "ota.json"
BOARD_KEY_PATH = "/.ota_key"
OTA_MODULE = "/lib/mipy/ota.mpy"
DEVICE_KEY_LABEL = b"mipy-ota-device:"
# What a device accepts (mipy.ota MAX_MANIFEST) and the largest chunk we send whatever a device asks.
MAX_MANIFEST = 8192
MAX_CHUNK = 4096
MAX_WINDOW = 16
CHUNK_HEADER = struct.Struct(">cIHII")  # "C", seq, file index (0 = manifest), offset, crc32 of the data
# Files that never travel over the air: boot.py runs from / only (a USB deploy changes it), provisioning files
# are consumed by the board on first boot.
NOT_OVER_THE_AIR = ("/boot.py", "/wifi.json", "/secrets.json")
OFFER_RESEND_S = 5.0
# Device states (mipy.ota) that end an update, good or bad.
DONE_STATES = {"good"}
FAILED_STATES = {"refused", "failed", "rolled-back"}


# --- keys and sequence numbers ---------------------------------------------------------------------------------


def _key_path(project: Project) -> Path:
    return project.root / KEY_DIR / KEY_FILE


def _load_key_file(project: Project) -> dict:
    try:
        data = json.loads(_key_path(project).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise UsageError(str(_key_path(project)), f"unreadable ({error})") from error
    return data if isinstance(data, dict) else {}


def _save_key_file(project: Project, data: dict) -> None:
    path = _key_path(project)
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    try:
        partial.chmod(0o600)
    except OSError:
        pass
    os.replace(partial, path)
    _ignore_in_git(project)


def _ignore_in_git(project: Project) -> None:
    gitignore = project.root / ".gitignore"
    line = KEY_DIR + "/"
    try:
        text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    except OSError:
        return
    if line not in text.split():
        gitignore.write_text(text + ("" if not text or text.endswith("\n") else "\n")
                             + "# The over-the-air update key: whoever has it can update the boards.\n" + line + "\n",
                             encoding="utf-8")


def project_key(project: Project, create: bool = False) -> bytes:
    """The project's key; made (random, 32 bytes) when ``create`` and there is none yet."""
    data = _load_key_file(project)
    if "key" in data:
        return bytes.fromhex(data["key"])
    if not create:
        raise NoOtaKey(str(_key_path(project)))
    data["key"] = secrets.token_hex(32)
    _save_key_file(project, data)
    return bytes.fromhex(data["key"])


def device_key(key: bytes, unique_id: str) -> bytes:
    """The key of one board: derived from the project key and the board's unique id (hex)."""
    return hmac.new(key, DEVICE_KEY_LABEL + unique_id.lower().encode(), hashlib.sha256).digest()


def next_seq(project: Project) -> int:
    """A sequence number above every one this project used: devices refuse anything not newer than what they
    installed (replay protection). Time-based, so a second computer with the key still moves forward."""
    data = _load_key_file(project)
    seq = max(int(data.get("seq", 0)) + 1, int(time.time()) - 1_700_000_000)
    data["seq"] = seq
    _save_key_file(project, data)
    return seq


def remember_target(project: Project, target: MpyTarget) -> None:
    data = _load_key_file(project)
    if data.get("target") != target.key:
        data["target"] = target.key
        data["target_mpy"] = [target.version, target.sub_version, target.arch]
        _save_key_file(project, data)


def remembered_target(project: Project) -> MpyTarget | None:
    value = _load_key_file(project).get("target_mpy")
    return MpyTarget(value[0], value[1], value[2]) if value else None


_UID_CODE = "import machine, binascii\nprint(binascii.hexlify(machine.unique_id()).decode())\n"


def give_board_key(board, fs, project: Project, build, target: MpyTarget | None = None) -> bool:
    """At a USB deploy of a project with mipy.ota: write this board's key to ``/.ota_key`` (when it is missing or
    different). Returns True when it wrote it. Projects without mipy.ota are left alone."""
    if not any(built.board_path == OTA_MODULE for built in build.files):
        return False
    from ide.filebrowser.errors import BoardFileNotFound
    unique_id = board.exec(_UID_CODE).decode("ascii", "replace").strip()
    key = device_key(project_key(project, create=True), unique_id)
    wanted = json.dumps({"project": project.name, "key": key.hex(), "uid": unique_id},
                        separators=(",", ":")).encode()
    if target is not None:
        remember_target(project, target)
    try:
        if fs.read(BOARD_KEY_PATH) == wanted:
            return False
    except BoardFileNotFound:
        pass
    fs.write(BOARD_KEY_PATH, wanted)
    log.info("gave %s its over-the-air update key", board.port_name)
    return True


# --- the update --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UpdateFile:
    path: str      # relative to the version folder: "main.py", "lib/mipy/app.mpy"
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclasses.dataclass(frozen=True)
class Update:
    """One build of a project for one .mpy target, with its manifest (what the offer's signature covers)."""

    project: str
    seq: int
    version: str
    target: MpyTarget
    files: tuple[UpdateFile, ...]
    manifest: bytes

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()

    def blob(self, index: int) -> bytes:
        """File ``index`` of the transfer: 0 is the manifest, 1.. the files in manifest order."""
        return self.manifest if index == 0 else self.files[index - 1].data

    def offer(self, device_id: str, key: bytes) -> bytes:
        """The signed offer for one device: "M", the HMAC-SHA256 in hex, then the exact bytes it signs."""
        body = json.dumps({"p": self.project, "id": device_id, "seq": self.seq, "v": self.version,
                           "m": self.manifest_sha256, "n": len(self.manifest)},
                          sort_keys=True, separators=(",", ":")).encode()
        return b"M" + hmac.new(key, body, hashlib.sha256).hexdigest().encode() + body


def _project_version(project: Project) -> str:
    try:
        meta = json.loads((project.root / PROJECT_FILE).read_text(encoding="utf-8"))
        return str(meta.get("version") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def prepare_update(project: Project, target: MpyTarget | None = None, seq: int | None = None) -> Update:
    """Build the project for ``target`` (default: the one of its last USB deploy) and make its manifest."""
    project_key(project)  # no key yet: the project was never deployed over USB, so no board could check it
    target = target or remembered_target(project) or HOST_TARGET
    build = build_project(project, target)
    files = tuple(UpdateFile(built.board_path.lstrip("/"), built.local.read_bytes())
                  for built in sorted(build.files, key=lambda b: b.board_path)
                  if built.board_path not in NOT_OVER_THE_AIR and not built.provisioning)
    content = hashlib.sha256(b"".join(f.path.encode() + b"\0" + f.data for f in files)).hexdigest()
    version = _project_version(project) or content[:8]
    seq = seq or next_seq(project)
    manifest = json.dumps({"p": project.name, "seq": seq, "v": version,
                           "files": [[f.path, f.size, f.sha256] for f in files]},
                          separators=(",", ":")).encode()
    if len(manifest) > MAX_MANIFEST:
        raise ManifestTooLarge(len(manifest), MAX_MANIFEST)
    return Update(project.name, seq, version, target, files, manifest)


def chunk_message(update: Update, index: int, offset: int, size: int) -> bytes:
    data = update.blob(index)[offset:offset + size]
    return CHUNK_HEADER.pack(b"C", update.seq, index, offset, binascii.crc32(data)) + data


# --- the broker ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BrokerSettings:
    host: str
    port: int = 1883
    user: str | None = None
    password: str | None = None
    prefix: str = "mipy"


@dataclasses.dataclass
class DeviceStatus:
    """What a device last said on its status topic."""

    id: str
    name: str = ""
    project: str = ""
    version: str = ""
    seq: int = 0
    state: str = ""
    why: str = ""
    uid: str = ""
    mpy: int = 0
    free: int = 0
    seen: float | None = None      # Unix time we heard it (a retained message: the device's clock, when set)
    online: bool | None = None
    raw: dict = dataclasses.field(default_factory=dict)

    @property
    def target(self) -> MpyTarget | None:
        return MpyTarget.from_mpy_value(self.mpy) if self.mpy else None


def describe_seen(device: DeviceStatus, now: float | None = None) -> str:
    if device.seen is None:
        return "-"
    age = max(0.0, (now or time.time()) - device.seen)
    if age < 90:
        return f"{age:.0f} s ago"
    if age < 5400:
        return f"{age / 60:.0f} min ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(device.seen))


def _parse_status(device_id: str, payload: bytes, retained: bool) -> DeviceStatus | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    seen: float | None = time.time()
    if retained:
        # A retained status may be old: trust the device's clock only when it was set (after 2020).
        stamp = data.get("t")
        seen = float(stamp) if isinstance(stamp, (int, float)) and stamp > 1_577_836_800 else None
    return DeviceStatus(device_id, str(data.get("name", "")), str(data.get("p", "")), str(data.get("v", "")),
                        int(data.get("seq", 0) or 0), str(data.get("state", "")), str(data.get("why", "")),
                        str(data.get("uid", "")), int(data.get("mpy", 0) or 0), int(data.get("free", 0) or 0),
                        seen, None, data)


ChunkFilter = Callable[[str, int, int, bytes], "bytes | None"]


class _Session:
    """One device's update: the offer, the chunks it asked for, the result."""

    def __init__(self, device: DeviceStatus, update: Update, key: bytes):
        self.device = device
        self.update = update
        self.offer = update.offer(device.id, key)
        self.sent_to: dict[int, int] = {}
        self.offered_at = 0.0
        self.heard_at = 0.0
        self.state = "offering"
        self.done = threading.Event()
        self.error: Exception | None = None
        self.progress = (0, 0)
        self.started = time.monotonic()


class OtaPublisher:
    """One connection to the broker (paho-mqtt, its network loop on its own thread) serving any number of
    devices at once. Use as a context manager."""

    def __init__(self, broker: BrokerSettings, connect_timeout: float = 10.0,
                 chunk_filter: ChunkFilter | None = None):
        self.broker = broker
        self.connect_timeout = connect_timeout
        # Tests put a faulty link here: (device, file index, offset, message) -> the message, changed, or None.
        self.chunk_filter = chunk_filter
        self.devices: dict[str, DeviceStatus] = {}
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._connected = threading.Event()
        self._client = None
        self.chunks_sent = 0
        self.resends = 0

    # --- connection ----------------------------------------------------------------------------------------
    def __enter__(self) -> "OtaPublisher":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _topic(self, device_id: str, suffix: str = "") -> str:
        return f"{self.broker.prefix}/{device_id}/ota{suffix}"

    def connect(self) -> None:
        import paho.mqtt.client as paho
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"mipy-studio-{uuid.uuid4().hex[:10]}",
                             clean_session=True)
        if self.broker.user:
            client.username_pw_set(self.broker.user, self.broker.password)
        client.reconnect_delay_set(0.5, 4)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *_args: self._connected.clear()
        client.on_message = self._on_message
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=30)
        except OSError as error:
            raise BrokerUnreachable(self.broker.host, self.broker.port, str(error)) from error
        client.loop_start()
        self._client = client
        if not self._connected.wait(self.connect_timeout):
            self.close()
            raise BrokerUnreachable(self.broker.host, self.broker.port, "no answer to CONNECT")

    def close(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None

    def _on_connect(self, client, _userdata, _flags, reason, _properties=None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused us: %s", reason)
            return
        prefix = self.broker.prefix
        client.subscribe([(f"{prefix}/+/ota/status", 1), (f"{prefix}/+/ota/online", 1), (f"{prefix}/+/ota/req", 0)])
        self._connected.set()
        with self._lock:
            for session in self._sessions.values():
                session.offered_at = 0.0  # after a broker restart: offer again, the device asks from where it is

    def _on_message(self, _client, _userdata, message) -> None:
        parts = message.topic.split("/")
        if len(parts) != 4 or parts[2] != "ota":
            return
        device_id, kind = parts[1], parts[3]
        with self._lock:
            if kind == "status":
                status = _parse_status(device_id, message.payload, bool(message.retain))
                if status is not None:
                    old = self.devices.get(device_id)
                    status.online = old.online if old else None
                    self.devices[device_id] = status
                    self._on_status(status, bool(message.retain))
            elif kind == "online":
                device = self.devices.setdefault(device_id, DeviceStatus(device_id))
                device.online = message.payload == b"online"
            elif kind == "req":
                self._on_request(device_id, message.payload)
            self._changed.notify_all()

    # --- devices -------------------------------------------------------------------------------------------
    def find_devices(self, project: str | None, names: list[str] | None = None, wait: float = 2.0,
                     required: bool = True) -> list[DeviceStatus]:
        """The devices whose retained status the broker holds (collected for ``wait`` seconds), of ``project``
        when given, named (id or device name) in ``names`` when given."""
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                found = [d for d in self.devices.values() if d.state and (project is None or d.project == project)]
                if names:
                    found = [d for d in found if d.id in names or d.name in names]
                    if {n for n in names if any(n in (d.id, d.name) for d in found)} == set(names):
                        break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.2))
            known = sorted(d.id for d in self.devices.values() if project is None or d.project == project)
        if required and names:
            for name in names:
                if not any(name in (d.id, d.name) for d in found):
                    raise DeviceNotFound(name, known, project)
        if required and not found:
            raise DeviceNotFound(None, known, project)
        return sorted(found, key=lambda d: d.id)

    # --- updating ------------------------------------------------------------------------------------------
    def update(self, devices: list[DeviceStatus], updates: dict[str, Update] | Update, project: Project,
               on_update: Callable[[BoardProgress], None] | None = None, timeout: float = 300.0,
               cancel: threading.Event | None = None) -> list[BoardResult]:
        """Update every device at once; one result per device (a device that fails never holds up the others).
        ``updates``: one Update, or one per target key (``MpyTarget.key``) when the devices differ."""
        key = project_key(project)
        with self._lock:
            for device in devices:
                if not device.uid:
                    raise UsageError(device.id, "the device did not report its unique id")
                update = updates if isinstance(updates, Update) else updates[_target_key(device, updates)]
                self._sessions[device.id] = _Session(device, update, device_key(key, device.uid))
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._lock:
                    pending = [s for s in self._sessions.values() if not s.done.is_set()]
                    now = time.monotonic()
                    for session in pending:
                        if now > deadline or (cancel is not None and cancel.is_set()):
                            session.error = OtaTimedOut(session.device.id, timeout, session.state)
                            session.done.set()
                        elif self._connected.is_set() and session.state == "offering" and \
                                now - max(session.offered_at, session.heard_at) > OFFER_RESEND_S:
                            session.offered_at = now
                            self._publish(self._topic(session.device.id), session.offer, qos=1)
                    if on_update is not None:
                        for session in self._sessions.values():
                            done, total = session.progress
                            on_update(BoardProgress(session.device.id, session.state, done, total, session.started))
                    if all(s.done.is_set() for s in self._sessions.values()):
                        break
                    self._changed.wait(0.2)
            results = []
            for device in devices:
                session = self._sessions[device.id]
                seconds = time.monotonic() - session.started
                if session.error is None:
                    results.append(BoardResult(device.id, OK, seconds, device.name, device.uid,
                                               f"now {session.update.version} (seq {session.update.seq})"))
                else:
                    results.append(BoardResult(device.id, FAILED, seconds, device.name, device.uid,
                                               error=session.error))
            return results
        finally:
            with self._lock:
                for device in devices:
                    self._sessions.pop(device.id, None)

    def _publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=qos)

    def _on_status(self, status: DeviceStatus, retained: bool) -> None:
        session = self._sessions.get(status.id)
        if session is None or session.done.is_set() or retained:
            return  # a retained status tells of the past, not of this update
        session.heard_at = time.monotonic()
        seq = session.update.seq
        raw = status.raw
        if status.seq == seq and status.state in DONE_STATES:
            session.state = "good"
            session.done.set()
        elif status.state in FAILED_STATES and raw.get("to") == seq:
            # Only a refusal, failure or rollback of this update's seq: an old "rolled-back" heard again on a
            # reconnect must not fail a new update.
            session.error = OtaRefused(status.id, status.state, status.why)
            session.done.set()
        elif status.seq == seq or raw.get("to") == seq:
            session.state = status.state  # receiving, verifying, switching, trial
        elif session.state != "offering" and status.state in ("idle", "good", "trial", "no-key"):
            # The device restarted (power, watchdog) and knows nothing of this update: offer it again.
            session.state = "offering"
            session.offered_at = 0.0

    def _on_request(self, device_id: str, payload: bytes) -> None:
        session = self._sessions.get(device_id)
        if session is None or session.done.is_set():
            return
        try:
            request = json.loads(payload)
            seq, index, offset = int(request["seq"]), int(request["f"]), int(request["o"])
            size = max(64, min(int(request.get("c", 512)), MAX_CHUNK))
            window = max(1, min(int(request.get("w", 4)), MAX_WINDOW))
        except (ValueError, KeyError, TypeError):
            return
        update = session.update
        if seq != update.seq or not 0 <= index <= len(update.files):
            return
        session.heard_at = time.monotonic()
        session.state = "receiving"
        got, need = request.get("g", 0), request.get("n", 0)
        if isinstance(got, int) and isinstance(need, int) and need:
            session.progress = (got, need)
        blob = update.blob(index)
        # Go-back-N: a retry (r) rewinds to the device's position; an acknowledgement slides the window on.
        if request.get("r") or index not in session.sent_to:
            start = offset
        else:
            start = max(offset, session.sent_to[index])
        if request.get("r"):
            self.resends += 1
        end = min(len(blob), offset + window * size)
        position = start
        while position < end:
            message = chunk_message(update, index, position, size)
            if self.chunk_filter is not None:
                message = self.chunk_filter(device_id, index, position, message)
            if message is not None:
                self._publish(self._topic(device_id), message)
                self.chunks_sent += 1
            position += size
        session.sent_to = {index: max(end, start)}


def _target_key(device: DeviceStatus, updates: dict[str, Update]) -> str:
    target = device.target
    if target is not None and target.key in updates:
        return target.key
    return next(iter(updates))


def build_updates(project: Project, devices: list[DeviceStatus], seq: int | None = None) -> dict[str, Update]:
    """One build per distinct .mpy target among ``devices`` (they said theirs in their status), one sequence
    number for all."""
    seq = seq or next_seq(project)
    targets: dict[str, MpyTarget] = {}
    for device in devices:
        target = device.target or remembered_target(project) or HOST_TARGET
        targets.setdefault(target.key, target)
    return {key: prepare_update(project, target, seq) for key, target in targets.items()}
