# mipy.ota_rx: the receiving half of mipy.ota, imported when an offer arrives and unloaded when the update
# ends, so that a board waiting for updates keeps only the small listener in RAM. Functions take the Updater.
import gc
import json
import os
import time
from mipy.ota import (BASE_MAIN, HALT, LAUNCHER, MAX_MANIFEST, ROOT, STAGE, STATE, _exists, _free, _hex, _is_launcher,
                      _read_json, _rmtree, _set_pointer, _state, _unhex, _write, _dirs, pointer)


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


def refuse(u, why):
    print("ota: refused:", why)
    u.status("refused", why)

def on_offer(u, msg):
    if u.key is None:
        return refuse(u, "no key: deploy once over USB")
    sig, body = msg[1:65], msg[65:]
    try:
        o = json.loads(body)
        u.last_to = o["seq"]  # what the status answers (not trusted before the signature is checked)
        ok = _same(_hmac(u.key, body), _unhex(sig))
    except (ValueError, UnicodeError, KeyError, TypeError):
        ok = False
    if not ok:
        return refuse(u, "bad signature")
    if o.get("id") != u.id or o.get("p") != u.project:
        return refuse(u, "not for this device")
    seq = o["seq"]
    cur = u.offer
    if cur and cur["seq"] == seq:
        return ask(u, True)  # the same update offered again: go on where we are
    if seq == u.seq:
        return u.status()  # already running it
    s = _state()
    high = max(s.get("high", 0), u.seq, s.get("bad", 0))
    if seq <= high:
        return refuse(u, "old or replayed update (seq %d, installed %d)" % (seq, high))
    if o["n"] > MAX_MANIFEST:
        return refuse(u, "manifest too large")
    if cur:
        drop(u)
    o.update({"f": 0, "o": 0, "got": 0, "need": o["n"], "retries": 0, "buf": bytearray(o["n"]),
              "last": time.ticks_ms(), "asked": 0, "todo": None})
    u.offer = o
    u.status("receiving", "")
    ask(u, False)

def tick(u, now):
    o = u.offer
    if not o or o.get("done"):
        return
    idle = time.ticks_diff(now, o["last"])
    if idle > getattr(u.c, "ota_timeout_s", 60) * 1000:
        abort(u, "timeout: no data for %d s" % (idle // 1000))
    elif idle > 3000 and time.ticks_diff(now, o["asked"]) > 3000:
        o["retries"] += 1
        ask(u, True)  # lost chunks, a broker restart: ask again from where we are


def ask(u, again):
    o = u.offer
    if not o or o.get("done"):
        return
    o["asked"] = time.ticks_ms()
    u.mq.publish(u.base + "/req", json.dumps({"seq": o["seq"], "f": o["f"], "o": o["o"], "w": u.window,
                                                     "c": u.chunk, "r": 1 if again else 0,
                                                     "g": o["got"], "n": o["need"]}))

def abort(u, why):
    drop(u)
    u.status("failed", why)
    print("ota: failed:", why)

def drop(u):
    o, u.offer = u.offer, None
    if o and o.get("fh"):
        try:
            o["fh"].close()
        except Exception:
            pass
    _rmtree(STAGE)
    gc.collect()

def on_chunk(u, msg):
    o = u.offer
    if not o or o.get("done") or len(msg) < 15:
        return
    seq = int.from_bytes(msg[1:5], "big")
    f = int.from_bytes(msg[5:7], "big")
    off = int.from_bytes(msg[7:11], "big")
    if seq != o["seq"] or f != o["f"] or off != o["o"]:
        if seq == o["seq"] and (f > o["f"] or (f == o["f"] and off > o["o"])):
            ask(u, True)  # a gap: something before this was lost
        return  # old duplicates are dropped
    import binascii
    data = memoryview(msg)[15:]
    size = o["n"] if f == 0 else o["files"][f - 1][1]
    if binascii.crc32(data) != int.from_bytes(msg[11:15], "big") or off + len(data) > size:
        o["retries"] += 1
        return ask(u, True)  # a corrupted or truncated chunk: ask for it again
    o["last"] = time.ticks_ms()
    if f == 0:
        o["buf"][off:off + len(data)] = data
    else:
        o["fh"].write(data)
        o["h"].update(data)
    o["o"] = off + len(data)
    o["got"] += len(data)
    if o["o"] == size:
        if not file_done(u):
            return
    ask(u, False)

def file_done(u):
    import hashlib
    o = u.offer
    f = o["f"]
    if f == 0:
        if _hex(hashlib.sha256(o["buf"]).digest()) != o["m"]:
            o["o"] = o["got"] = 0
            o["retries"] += 1
            return True
        m = json.loads(bytes(o["buf"]).decode())
        del o["buf"]
        gc.collect()
        return plan(u, m)
    o["fh"].close()
    o["fh"] = None
    path, size, sha = o["files"][f - 1]
    if _hex(o["h"].digest()) != sha:
        o["retries"] += 1
        o["got"] -= size
        open_file(u, f)  # the whole file again
        return True
    return next_file(u)

def plan(u, m):
    o = u.offer
    if m.get("seq") != o["seq"] or m.get("p") != u.project:
        drop(u)
        refuse(u, "manifest does not match the offer")
        return False
    files = m["files"]
    for path, size, sha in files:
        if path.startswith("/") or ".." in path.split("/") or path in ("boot.py", "ota") or path.startswith("ota/"):
            drop(u)
            refuse(u, "bad path in manifest: %s" % path)
            return False
    here = current_hashes(u)
    need = [i + 1 for i, (path, size, sha) in enumerate(files) if here.get(path) != sha]
    total = sum(size for _, size, _ in files)
    free, block = _free()
    # Each file takes at least a block; the staging copy is whole (unchanged files copied on the device).
    want = total + block * (len(files) + 4)
    keep = (u.v, pointer_prev())
    spare = sum(_du(ROOT + "/" + d) for d in _dirs() if d not in keep) + _du(STAGE)
    if free + spare < want:
        drop(u)
        refuse(u, "no space: needs %d bytes, %d free" % (want, free + spare))
        return False
    for d in _dirs():
        if d not in keep:
            _rmtree(ROOT + "/" + d)
    _rmtree(STAGE)
    _makedirs(STAGE)
    for i, (path, size, sha) in enumerate(files):
        if i + 1 in need:
            continue
        if u.v:
            s = ROOT + "/" + u.v + "/" + path
        elif path == "main.py" and _exists(BASE_MAIN):
            s = BASE_MAIN
        else:
            s = "/" + path
        copy(u, s, STAGE + "/" + path)
    o["files"] = files
    o["manifest"] = m
    o["todo"] = need
    o["got"] = 0
    o["need"] = sum(files[i - 1][1] for i in need)
    u.status("receiving")
    return next_file(u)

def current_hashes(u):
    if u.v:
        m = _read_json(ROOT + "/" + u.v + "/.manifest.json") or {}
        return {p: s for p, _, s in m.get("files", [])}
    return _BaseHashes()

def copy(u, a, b):
    _makedirs(b.rsplit("/", 1)[0])
    buf = bytearray(512)
    with open(a, "rb") as r, open(b, "wb") as w:
        while True:
            n = r.readinto(buf)
            if not n:
                break
            w.write(buf[:n] if n < 512 else buf)

def open_file(u, f):
    import hashlib
    o = u.offer
    path = o["files"][f - 1][0]
    _makedirs((STAGE + "/" + path).rsplit("/", 1)[0])
    o["f"], o["o"] = f, 0
    o["fh"] = open(STAGE + "/" + path, "wb")
    o["h"] = hashlib.sha256()

def next_file(u):
    o = u.offer
    if o["todo"]:
        open_file(u, o["todo"].pop(0))
        return True
    switch(u)
    return False

# ---- the switch -------------------------------------------------------------------------------------------
def switch(u):
    o = u.offer
    o["done"] = True
    u.status("verifying")
    for path, size, sha in o["files"]:
        if _sha(STAGE + "/" + path) != sha:  # copies included: what is staged is exactly the manifest
            drop(u)
            return u.status("failed", "staged %s does not match its hash" % path)
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
    _set_pointer({"v": v, "seq": o["seq"], "label": o["v"], "trial": True, "boots": 0, "prev": u.v,
                  "prev_seq": u.seq, "prev_label": u.label})
    _step("pointer")
    s = _state()
    s["high"] = max(s.get("high", 0), o["seq"])
    s["why"] = ""
    _write(STATE, json.dumps(s).encode())
    _step("state")
    u.offer = None
    u.label, u.seq, u.v = o["v"], o["seq"], v
    u.status("switching", "")
    print("ota: switched to", o["v"], "- restarting")
    import asyncio
    asyncio.create_task(_reset_soon())


class _BaseHashes:
    # Hashes of the base version's files, computed when asked (a dict would hash every file up front).
    def get(self, path, default=None):
        p = BASE_MAIN if path == "main.py" and _exists(BASE_MAIN) else "/" + path
        try:
            return _sha(p)
        except OSError:
            return default


def pointer_prev():
    p = pointer()
    return p.get("prev", "") if p else ""


async def _reset_soon():
    import asyncio
    await asyncio.sleep_ms(700)  # the "switching" status leaves first
    import machine
    machine.reset()
