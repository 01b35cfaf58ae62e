# mipy.ota: updates over the air through an MQTT broker, signed, staged, switched atomically, rolled back.
# Host side: ide/project/ota.py; the protocol in full: docs/ota.md.
#   boot()        from boot.py: picks the version the pointer file /ota/current names (sys.path first), and
#                 finishes a switch that a power cut interrupted. Quick, and unloads itself: boot.py runs at
#                 every soft reset, the IDE's raw-REPL sessions included.
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
    from mipy import ota  # the version's own copy (boot.py put its folder first on sys.path)
except Exception as e:
    import sys
    sys.path[:] = [p for p in sys.path if not p.startswith("/ota/")]
    for m in [m for m in sys.modules if m.startswith("mipy")]:
        del sys.modules[m]
    from mipy import ota  # the base's copy: it rolls back the version that cannot load its own
    ota.broken(e)
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


def _hex(b):
    import binascii
    return binascii.hexlify(b).decode()


def _unhex(t):
    import binascii
    return binascii.unhexlify(t)


def _free():
    s = os.statvfs("/")
    return s[0] * s[3], s[0]


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
    # sys.path for version v ("" = the base), and no framework module left from another version: each version
    # imports its own mipy package from its folder.
    sys.path[:] = [x for x in sys.path if not x.startswith(ROOT + "/")]
    if v:
        d = ROOT + "/" + v
        sys.path.insert(0, d + "/lib")
        sys.path.insert(0, d)
    for m in list(sys.modules):
        if m == "mipy" or m.startswith("mipy."):
            del sys.modules[m]


def boot():
    try:
        _boot()
    except Exception as e:  # whatever happens here, the board must still start
        print("ota: boot:", repr(e))
    # Out of RAM again: boot.py also runs before every raw-REPL session of the IDE, whose helpers need the heap.
    sys.modules.pop(__name__, None)
    try:
        import mipy
        delattr(mipy, "ota")
    except (ImportError, AttributeError):
        pass


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
            n = _rollback(p, "version folder missing")
            if n["v"] and _exists(ROOT + "/" + n["v"] + "/main.py"):
                _use(n["v"])


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


def broken(e):
    p = pointer()
    if p and p["v"]:
        _rollback(p, "its mipy.ota does not load: %r" % e)
        import machine
        machine.reset()


def launch():
    p = pointer()
    if p and p.get("trial"):
        p["boots"] = p.get("boots", 0) + 1
        if p["boots"] > 1:
            # The version reset (or lost power) before it confirmed itself healthy: back to the one before.
            p = _rollback(p, "not healthy after its first boot")
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
        self.last_to = 0  # the seq of the last offer: a refusal or failure names it
        if self.why.startswith("rolled back"):
            self.state = "rolled-back"
            self.last_to = s.get("bad", 0)
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
            d["got"], d["need"], d["retries"] = o["got"], o["need"], o["retries"]
        if self.last_to:
            d["to"] = self.last_to
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
            if self.offer:
                self.rx().tick(self, now)
                self.unload()
            if time.ticks_diff(now, last_beat) > beat * 1000:
                last_beat = now
                self.status()

    def on_connect(self):
        if self.connected_at is None:
            self.connected_at = time.ticks_ms()
        self.status()
        if self.offer:
            self.rx().ask(self, True)

    def on_message(self, topic, msg, retained):
        if not msg or msg[0] not in (0x4D, 0x43):
            return
        if msg[0] == 0x4D:  # "M": an offer
            self.rx().on_offer(self, msg)
        elif self.offer:  # "C": a chunk
            self.rx().on_chunk(self, msg)
        self.unload()

    def rx(self):
        from mipy import ota_rx  # the receiving half: in RAM only while an update is under way
        return ota_rx

    def unload(self):
        if self.offer is None and "mipy.ota_rx" in sys.modules:
            del sys.modules["mipy.ota_rx"]
            import mipy
            try:
                delattr(mipy, "ota_rx")
            except AttributeError:
                pass
            gc.collect()

    def confirm(self):
        p = pointer()
        if p and p.get("trial"):
            p["trial"] = False
            p["boots"] = 0
            _set_pointer(p)
        self.trial = False
        print("ota: %s confirmed healthy" % self.label)
        self.status("good", "")


def _dirs():
    try:
        return [e[0] for e in os.ilistdir(ROOT) if e[1] == 0x4000 and e[0][0] == "v"]
    except OSError:
        return []
