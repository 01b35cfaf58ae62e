# mipy.ota: updates over the air through an MQTT broker, signed, staged, switched atomically, rolled back.
# Host side: ide/project/ota.py; the protocol in full: docs/ota.md.
#   boot()        from boot.py: picks the version the pointer file /ota/current names (sys.path first), and
#                 finishes a switch that a power cut interrupted. Quick: boot.py runs at every soft reset.
#   launch()      from /main.py once an update was installed (the launcher): counts the boots of a version on
#                 trial, rolls back one that never confirmed itself healthy, runs the version's main.py
#   start(config) from app.run when config.ota is true: the listener on <prefix>/<id>/ota
# Layout: the USB deploy is the base version (files at /, its main.py moved to /ota/base_main.py at the first
# switch); update N lives whole in /ota/vN (unchanged files copied on the device, changed ones received);
# /ota/stage is the staging folder; /ota/state.json keeps the highest sequence number ever installed (replay
# protection). The key (/.ota_key, from the first USB deploy, never over the air) is this device's own:
# HMAC-SHA256(project key, "mipy-ota-device:" + unique id), so one board read out signs for itself only.
# config (all optional): ota_prefix ("mipy"), ota_id (default device_name-<last 6 hex of the unique id>),
# ota_health_s (30: connected and running this long = healthy), ota_window (4 chunks in flight),
# ota_chunk (default from the free heap), ota_timeout_s (60), ota_heartbeat_s (300).
import gc
import json
import os
import sys
import time

ROOT = "/ota"
PTR = ROOT + "/current"
STAGE = ROOT + "/stage"
BASE_MAIN = ROOT + "/base_main.py"
STATE = ROOT + "/state.json"
KEY = "/.ota_key"
HALT = "/.ota_halt_at"  # fault injection for tests: the name of a switch step to stop at (as a power cut would)
MARK = b"# mipy-ota launcher"
LAUNCHER = MARK + b""": runs the version /ota/current names (mipy.ota). A USB deploy replaces this file.
try:
    import mipy_ota_boot as ota
except ImportError:
    from mipy import ota
    ota.boot()
ota.launch()
"""
MAX_MANIFEST = 8192


# ---- files ---------------------------------------------------------------------------------------------------
def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def _rmtree(p):
    try:
        entries = list(os.ilistdir(p))
    except OSError:
        return _remove(p)
    for e in entries:
        c = p + "/" + e[0]
        if e[1] == 0x4000:
            _rmtree(c)
        else:
            _remove(c)
    try:
        os.rmdir(p)
    except OSError:
        pass


def _du(p):
    n = 0
    try:
        for e in os.ilistdir(p):
            c = p + "/" + e[0]
            n += _du(c) if e[1] == 0x4000 else os.stat(c)[6]
    except OSError:
        pass
    return n


def _makedirs(p):
    d = ""
    for part in p.strip("/").split("/"):
        d += "/" + part
        if not _exists(d):
            os.mkdir(d)


def _write(p, data):
    # Whole file to p.tmp, then renamed over p: readers see the old or the new content, never a mix. FAT cannot
    # rename onto an existing file: remove first; _read_json falls back to p.tmp for that instant.
    t = p + ".tmp"
    with open(t, "wb") as f:
        f.write(data)
    try:
        os.rename(t, p)
    except OSError:
        _remove(p)
        os.rename(t, p)


def _read_json(p):
    for name in (p, p + ".tmp"):
        try:
            with open(name) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    return None


def _sha(p):
    import hashlib
    h = hashlib.sha256()
    buf = bytearray(512)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf[:n] if n < 512 else buf)
    return _hex(h.digest())


def _hex(b):
    import binascii
    return binascii.hexlify(b).decode()


def _unhex(t):
    import binascii
    return binascii.unhexlify(t)


def _free():
    s = os.statvfs("/")
    return s[0] * s[3], s[0]


# ---- signature ---------------------------------------------------------------------------------------------------
def _hmac(key, msg):
    import hashlib
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    i = hashlib.sha256(bytes([b ^ 0x36 for b in key]))
    i.update(msg)
    o = hashlib.sha256(bytes([b ^ 0x5C for b in key]))
    o.update(i.digest())
    return o.digest()


def _same(a, b):
    if len(a) != len(b):
        return False
    d = 0
    for x, y in zip(a, b):
        d |= x ^ y  # constant time: no early exit that would tell how many bytes matched
    return d == 0


# ---- pointer, boot and launch ----------------------------------------------------------------------------------
def pointer():
    """The pointer file: {"v": "v12" or "" (base), "seq", "label", "trial", "boots", "prev", ...}, or None."""
    p = _read_json(PTR)
    return p if isinstance(p, dict) and "v" in p else None


def _set_pointer(p):
    _write(PTR, json.dumps(p).encode())


def _is_launcher(p):
    try:
        with open(p, "rb") as f:
            return f.read(len(MARK)) == MARK
    except OSError:
        return False


def _use(v):
    d = ROOT + "/" + v
    sys.path[:] = [x for x in sys.path if not x.startswith(ROOT + "/")]
    sys.path.insert(0, d + "/lib")
    sys.path.insert(0, d)
    for m in list(sys.modules):
        if m == "mipy" or m.startswith("mipy."):
            del sys.modules[m]  # the version's own framework is imported from its folder


def _step(name):
    try:
        with open(HALT) as f:
            if f.read().strip() != name:
                return
    except OSError:
        return
    print("ota: halted at", name)
    while True:
        time.sleep(1)


def boot():
    me = sys.modules.get(__name__)
    try:
        _boot()
    except Exception as e:  # whatever happens here, the board must still start
        print("ota: boot:", repr(e))
    if me:
        sys.modules["mipy_ota_boot"] = me  # the launcher runs on the base's copy of this module


def _boot():
    if not _is_launcher("/main.py"):
        if _exists("/main.py"):
            # A USB deploy put its own main.py: the files at / are what runs now; updates are history.
            if pointer() is not None:
                _remove(PTR)
                _remove(PTR + ".tmp")
            _remove(BASE_MAIN)
            return
        if not _exists(BASE_MAIN):
            return
        _write("/main.py", LAUNCHER)  # the power went between moving main.py aside and writing the launcher
    p = pointer()
    if p and p["v"]:
        if _exists(ROOT + "/" + p["v"] + "/main.py"):
            _use(p["v"])
        else:
            _rollback(p, "version folder missing")


def _rollback(p, why):
    n = {"v": p.get("prev", ""), "seq": p.get("prev_seq", 0), "label": p.get("prev_label", "usb"),
         "trial": False, "boots": 0, "prev": ""}
    _set_pointer(n)
    s = _state()
    s["why"] = "rolled back %s: %s" % (p.get("label"), why)
    s["bad"] = p.get("seq", 0)
    _write(STATE, json.dumps(s).encode())
    print("ota:", s["why"])
    return n


def _state():
    s = _read_json(STATE)
    return s if isinstance(s, dict) else {}


def launch():
    p = pointer()
    if p and p.get("trial"):
        p["boots"] = p.get("boots", 0) + 1
        if p["boots"] > 1:
            # The version reset (or lost power) before it confirmed itself healthy: back to the one before.
            p = _rollback(p, "not healthy after its first boot")
            sys.path[:] = [x for x in sys.path if not x.startswith(ROOT + "/")]
            if p["v"]:
                _use(p["v"])
        else:
            _set_pointer(p)
    v = p["v"] if p else ""
    path = (ROOT + "/" + v + "/main.py") if v else BASE_MAIN
    with open(path) as f:
        src = f.read()
    g = {"__name__": "__main__", "__file__": path}
    try:
        try:
            code = compile(src, path, "exec")
        except NameError:  # firmware without compile(): exec the text
            code = src
        del src
        gc.collect()
        exec(code, g)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        if p and p.get("trial"):
            sys.print_exception(e)
            _rollback(p, "main.py raised %r" % e)
            import machine
            machine.reset()
        raise


# ---- the listener ---------------------------------------------------------------------------------------------
def _uid():
    import machine
    return _hex(machine.unique_id())


def device_id(c):
    return getattr(c, "ota_id", None) or "%s-%s" % (getattr(c, "device_name", "mipy"), _uid()[-6:])


def start(c):
    import asyncio
    u = Updater(c)
    asyncio.create_task(u.run())
    return u


class Updater:
    def __init__(self, c):
        self.c = c
        self.id = device_id(c)
        self.base = "%s/%s/ota" % (getattr(c, "ota_prefix", "mipy"), self.id)
        k = _read_json(KEY) or {}
        self.project = k.get("project", "")
        self.key = _unhex(k["key"]) if "key" in k else None
        p = pointer() or {}
        self.v, self.seq, self.label = p.get("v", ""), p.get("seq", 0), p.get("label", "usb")
        self.trial = bool(p.get("trial"))
        s = _state()
        self.state = "trial" if self.trial else ("no-key" if self.key is None else "idle")
        self.why = s.get("why", "")
        if s.get("why", "").startswith("rolled back"):
            self.state = "rolled-back"
        self.offer = None
        self.started = time.ticks_ms()
        self.connected_at = None
        self.window = getattr(c, "ota_window", 4)
        gc.collect()
        self.chunk = getattr(c, "ota_chunk", 0) or max(256, min(2048, gc.mem_free() // 16 // 128 * 128))
        self.mq = None

    # ---- status -------------------------------------------------------------------------------------------------
    def status(self, state=None, why=None):
        if state:
            self.state = state
        if why is not None:
            self.why = why
        free, _ = _free()
        t = time.time()
        if time.gmtime(0)[0] == 2000:
            t += 946684800  # the ESP ports count from 2000; the host wants Unix time
        o = self.offer
        d = {"id": self.id, "name": getattr(self.c, "device_name", ""), "p": self.project, "uid": _uid(),
             "v": self.label, "seq": self.seq, "state": self.state, "why": self.why, "free": free,
             "mpy": getattr(sys.implementation, "_mpy", 0), "up": time.ticks_diff(time.ticks_ms(), self.started) // 1000,
             "t": t}
        if o:
            d["to"] = o["seq"]
            d["got"], d["need"], d["retries"] = o["got"], o["need"], o["retries"]
        if self.mq:
            self.mq.publish(self.base + "/status", json.dumps(d), retain=True, qos=1)

    # ---- MQTT ---------------------------------------------------------------------------------------------------
    async def run(self):
        import asyncio
        from mipy import mqtt
        pw = None
        try:
            from mipy import secret
            pw = secret.get("mqtt_password")
        except ImportError:
            pass
        c = self.c
        self.mq = mqtt.MQTT(self.id + "-ota", c.mqtt_server, getattr(c, "mqtt_port", 1883), getattr(c, "mqtt_user", None),
                            pw, keepalive=30, status_topic=self.base + "/online", on_message=self.on_message,
                            on_connect=self.on_connect, max_msg=self.chunk + 96, backoff=(1, 8))
        self.mq.subscribe(self.base, 1)
        asyncio.create_task(self.mq.run())
        if not self.v and not self.trial:
            for e in _dirs():
                _rmtree(ROOT + "/" + e)  # versions left from before a USB deploy took over
        beat = getattr(c, "ota_heartbeat_s", 300)
        last_beat = time.ticks_ms()
        while True:
            await asyncio.sleep_ms(500)
            now = time.ticks_ms()
            if self.trial and self.connected_at is not None and \
                    time.ticks_diff(now, self.connected_at) >= getattr(c, "ota_health_s", 30) * 1000:
                self.confirm()
            o = self.offer
            if o and not o.get("done"):
                idle = time.ticks_diff(now, o["last"])
                if idle > getattr(c, "ota_timeout_s", 60) * 1000:
                    self.abort("timeout: no data for %d s" % (idle // 1000))
                elif idle > 3000 and time.ticks_diff(now, o["asked"]) > 3000:
                    o["retries"] += 1
                    self.ask(True)  # lost chunks, a broker restart: ask again from where we are
            if time.ticks_diff(now, last_beat) > beat * 1000:
                last_beat = now
                self.status()

    def on_connect(self):
        if self.connected_at is None:
            self.connected_at = time.ticks_ms()
        self.status()
        if self.offer:
            self.ask(True)

    def on_message(self, topic, msg, retained):
        if not msg:
            return
        kind = msg[0]
        if kind == 0x4D:  # "M": an offer
            self.on_offer(msg)
        elif kind == 0x43:  # "C": a chunk
            self.on_chunk(msg)

    # ---- offer and manifest -----------------------------------------------------------------------------------
    def refuse(self, why):
        print("ota: refused:", why)
        self.status("refused", why)

    def on_offer(self, msg):
        if self.key is None:
            return self.refuse("no key: deploy once over USB")
        sig, body = msg[1:65], msg[65:]
        try:
            ok = _same(_hmac(self.key, body), _unhex(sig))
        except (ValueError, UnicodeError):
            ok = False
        if not ok:
            return self.refuse("bad signature")
        o = json.loads(body)
        if o.get("id") != self.id or o.get("p") != self.project:
            return self.refuse("not for this device")
        seq = o["seq"]
        cur = self.offer
        if cur and cur["seq"] == seq:
            return self.ask(True)  # the same update offered again: go on where we are
        if seq == self.seq:
            return self.status()  # already running it
        s = _state()
        high = max(s.get("high", 0), self.seq, s.get("bad", 0))
        if seq <= high:
            return self.refuse("old or replayed update (seq %d, installed %d)" % (seq, high))
        if o["n"] > MAX_MANIFEST:
            return self.refuse("manifest too large")
        if cur:
            self.drop()
        o.update({"f": 0, "o": 0, "got": 0, "need": o["n"], "retries": 0, "buf": bytearray(o["n"]),
                  "last": time.ticks_ms(), "asked": 0, "todo": None})
        self.offer = o
        self.status("receiving", "")
        self.ask(False)

    def ask(self, again):
        o = self.offer
        if not o or o.get("done"):
            return
        o["asked"] = time.ticks_ms()
        self.mq.publish(self.base + "/req", json.dumps({"seq": o["seq"], "f": o["f"], "o": o["o"], "w": self.window,
                                                         "c": self.chunk, "r": 1 if again else 0,
                                                         "g": o["got"], "n": o["need"]}))

    def abort(self, why):
        self.drop()
        self.status("failed", why)
        print("ota: failed:", why)

    def drop(self):
        o, self.offer = self.offer, None
        if o and o.get("fh"):
            try:
                o["fh"].close()
            except Exception:
                pass
        _rmtree(STAGE)
        gc.collect()

    def on_chunk(self, msg):
        o = self.offer
        if not o or o.get("done") or len(msg) < 15:
            return
        seq = int.from_bytes(msg[1:5], "big")
        f = int.from_bytes(msg[5:7], "big")
        off = int.from_bytes(msg[7:11], "big")
        if seq != o["seq"] or f != o["f"] or off != o["o"]:
            if seq == o["seq"] and (f > o["f"] or (f == o["f"] and off > o["o"])):
                self.ask(True)  # a gap: something before this was lost
            return  # old duplicates are dropped
        import binascii
        data = memoryview(msg)[15:]
        size = o["n"] if f == 0 else o["files"][f - 1][1]
        if binascii.crc32(data) != int.from_bytes(msg[11:15], "big") or off + len(data) > size:
            o["retries"] += 1
            return self.ask(True)  # a corrupted or truncated chunk: ask for it again
        o["last"] = time.ticks_ms()
        if f == 0:
            o["buf"][off:off + len(data)] = data
        else:
            o["fh"].write(data)
            o["h"].update(data)
        o["o"] = off + len(data)
        o["got"] += len(data)
        if o["o"] == size:
            if not self.file_done():
                return
        self.ask(False)

    def file_done(self):
        import hashlib
        o = self.offer
        f = o["f"]
        if f == 0:
            if _hex(hashlib.sha256(o["buf"]).digest()) != o["m"]:
                o["o"] = o["got"] = 0
                o["retries"] += 1
                return True
            m = json.loads(bytes(o["buf"]).decode())
            del o["buf"]
            gc.collect()
            return self.plan(m)
        o["fh"].close()
        o["fh"] = None
        path, size, sha = o["files"][f - 1]
        if _hex(o["h"].digest()) != sha:
            o["retries"] += 1
            o["got"] -= size
            self.open_file(f)  # the whole file again
            return True
        return self.next_file()

    def plan(self, m):
        o = self.offer
        if m.get("seq") != o["seq"] or m.get("p") != self.project:
            self.drop()
            self.refuse("manifest does not match the offer")
            return False
        files = m["files"]
        for path, size, sha in files:
            if path.startswith("/") or ".." in path.split("/") or path in ("boot.py", "ota") or path.startswith("ota/"):
                self.drop()
                self.refuse("bad path in manifest: %s" % path)
                return False
        here = self.current_hashes()
        need = [i + 1 for i, (path, size, sha) in enumerate(files) if here.get(path) != sha]
        total = sum(size for _, size, _ in files)
        free, block = _free()
        # Each file takes at least a block; the staging copy is whole (unchanged files copied on the device).
        want = total + block * (len(files) + 4)
        keep = (self.v, pointer_prev())
        spare = sum(_du(ROOT + "/" + d) for d in _dirs() if d not in keep) + _du(STAGE)
        if free + spare < want:
            self.drop()
            self.refuse("no space: needs %d bytes, %d free" % (want, free + spare))
            return False
        for d in _dirs():
            if d not in keep:
                _rmtree(ROOT + "/" + d)
        _rmtree(STAGE)
        _makedirs(STAGE)
        for i, (path, size, sha) in enumerate(files):
            if i + 1 in need:
                continue
            if self.v:
                s = ROOT + "/" + self.v + "/" + path
            elif path == "main.py" and _exists(BASE_MAIN):
                s = BASE_MAIN
            else:
                s = "/" + path
            self.copy(s, STAGE + "/" + path)
        o["files"] = files
        o["manifest"] = m
        o["todo"] = need
        o["got"] = 0
        o["need"] = sum(files[i - 1][1] for i in need)
        self.status("receiving")
        return self.next_file()

    def current_hashes(self):
        if self.v:
            m = _read_json(ROOT + "/" + self.v + "/.manifest.json") or {}
            return {p: s for p, _, s in m.get("files", [])}
        return _BaseHashes()

    def copy(self, a, b):
        _makedirs(b.rsplit("/", 1)[0])
        buf = bytearray(512)
        with open(a, "rb") as r, open(b, "wb") as w:
            while True:
                n = r.readinto(buf)
                if not n:
                    break
                w.write(buf[:n] if n < 512 else buf)

    def open_file(self, f):
        import hashlib
        o = self.offer
        path = o["files"][f - 1][0]
        _makedirs((STAGE + "/" + path).rsplit("/", 1)[0])
        o["f"], o["o"] = f, 0
        o["fh"] = open(STAGE + "/" + path, "wb")
        o["h"] = hashlib.sha256()

    def next_file(self):
        o = self.offer
        if o["todo"]:
            self.open_file(o["todo"].pop(0))
            return True
        self.switch()
        return False

    # ---- the switch -------------------------------------------------------------------------------------------
    def switch(self):
        o = self.offer
        o["done"] = True
        self.status("verifying")
        for path, size, sha in o["files"]:
            if _sha(STAGE + "/" + path) != sha:  # copies included: what is staged is exactly the manifest
                self.drop()
                return self.status("failed", "staged %s does not match its hash" % path)
        _write(STAGE + "/.manifest.json", json.dumps(o["manifest"]).encode())
        _step("staged")
        v = "v%d" % o["seq"]
        _rmtree(ROOT + "/" + v)
        os.rename(STAGE, ROOT + "/" + v)
        _step("renamed")
        if not _is_launcher("/main.py"):
            os.rename("/main.py", BASE_MAIN)
            _step("main-moved")
            _write("/main.py", LAUNCHER)
            _step("launcher")
        _set_pointer({"v": v, "seq": o["seq"], "label": o["v"], "trial": True, "boots": 0, "prev": self.v,
                      "prev_seq": self.seq, "prev_label": self.label})
        _step("pointer")
        s = _state()
        s["high"] = max(s.get("high", 0), o["seq"])
        s["why"] = ""
        _write(STATE, json.dumps(s).encode())
        _step("state")
        self.offer = None
        self.label, self.seq, self.v = o["v"], o["seq"], v
        self.status("switching", "")
        print("ota: switched to", o["v"], "- restarting")
        import asyncio
        asyncio.create_task(_reset_soon())

    def confirm(self):
        p = pointer()
        if p and p.get("trial"):
            p["trial"] = False
            p["boots"] = 0
            _set_pointer(p)
        self.trial = False
        print("ota: %s confirmed healthy" % self.label)
        self.status("good", "")


class _BaseHashes:
    # Hashes of the base version's files, computed when asked (a dict would hash every file up front).
    def get(self, path, default=None):
        p = BASE_MAIN if path == "main.py" and _exists(BASE_MAIN) else "/" + path
        try:
            return _sha(p)
        except OSError:
            return default


def _dirs():
    try:
        return [e[0] for e in os.ilistdir(ROOT) if e[1] == 0x4000 and e[0][0] == "v"]
    except OSError:
        return []


def pointer_prev():
    p = pointer()
    return p.get("prev", "") if p else ""


async def _reset_soon():
    import asyncio
    await asyncio.sleep_ms(700)  # the "switching" status leaves first
    import machine
    machine.reset()
