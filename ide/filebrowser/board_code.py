"""MicroPython code the file browser installs on the board (once per session, in the REPL's globals).

It relies only on what ESP8266 and ESP32 firmware have: os, sys.stdin/stdout.buffer, micropython.kbd_intr, and
optionally hashlib (sha256), binascii and deflate; each missing module has a fallback the host knows about.

Wire protocol of an upload (host -> board), after the host started ``_mipy_fs.put(tmp, wire_size, compressed, ms)``.
It is built so that the two sides cannot fall out of step, whatever fails:
  board: opens the temporary file first; only then ``\x01\x01``: two credits of one 128-byte window each (an
         ESP32's stdin ring buffer is 260 bytes; while the flash stalls for an erase, at most two windows can wait
         in it without loss)
  host:  a window for each credit it holds: a length byte, then that many bytes. Both sides know every window's
         length in advance (127 bytes, the last one what is left), so the length byte is a check: a length byte
         that is not the expected one is corruption, detected, and the board still knows where the window ends.
         ``\x00\xff`` in place of a window is the host's TERMINATOR: it sends nothing after it. It ends an upload
         the user cancelled, and it answers the board's STOP.
  board: ``\x01`` for every window taken out of the buffer: one more credit.
  board, at the end, one status:
         ``\x06<hash>\n``  DONE: the hash of the file as it now is on flash
         ``\x18\n``        CANCELLED: the host's terminator came instead of a window; the temporary file is gone
         ``\x15``          STOP: something failed (the open, a write, a bad length byte, a bad deflate stream, the
                            host silent for ``ms``). It grants no more credit, takes in exactly what the host sent
                            up to its terminator (the windows in flight, at most two), removes the temporary file,
                            and then says why: ``<errno> <exception type> <message>\n`` (type ``Corrupt``: a
                            damaged length byte, worth a retry).
  Then the code returns normally: the REPL's end-of-output markers and the raw prompt, the REPL as it was.
Ctrl-C is disabled (kbd_intr(-1)) during the binary part, so 0x03 in the data is data. A byte from the board
that is none of these (damaged on the way back) or a credit that never comes: the host sends its terminator,
which the board, waiting at a window boundary, takes as the end; the host then retries.

A download (board -> host) is length-framed: ``<size>\n``, the raw bytes, then the hash of what was sent.
"""

WINDOW = 128           # bytes on the wire per window: a length byte and up to 127 bytes of data
WINDOW_DATA = WINDOW - 1
CREDITS = 2
ACK = b"\x01"
TERMINATOR = b"\x00\xff"  # two bytes: a single damaged length byte cannot turn into it
DONE = b"\x06"
STOP = b"\x15"
CANCELLED = b"\x18"
CORRUPT = "Corrupt"     # the exception type a STOP names for a damaged length byte

# The helpers are installed in units, each in its own exec, and only those a job needs: the compiler's peak
# heap grows with the code compiled at once (its whole parse tree is held), and an ESP8266 has about 30 KB free
# at the prompt. BASE defines the namespace (the modules, the hash kind) and reports what is installed; each
# unit adds functions to it. Every unit binds what it defines to _mipy_fs and leaves no other global behind
# (the REPL's globals are the user's).
#
# Hash kinds the board may answer with: sha256 where hashlib has it (ESP32, ESP8266), else crc32 (binascii).
BASE = r"""
try:
    _mipy_fs
except NameError:
    class _mipy_fs:
        import os, sys, micropython
        try:
            from hashlib import sha256 as _hash
            kind = 'sha256'
        except ImportError:
            _hash = None
            kind = 'crc32'
        try:
            import deflate as _deflate
        except ImportError:
            _deflate = None
__import__('gc').collect()
print(_mipy_fs.kind, _mipy_fs._deflate is not None, __import__('gc').mem_free(),
      ' '.join(n for n in (%s) if hasattr(_mipy_fs, n)))
"""

HASH = r"""
def _mipy_f():
    if _mipy_fs._hash:
        return _mipy_fs._hash()
    return _mipy_fs._Crc()
_mipy_fs.hasher = _mipy_f

class _mipy_f:
    def __init__(s):
        s.v = 0
    def update(s, d):
        import binascii
        s.v = binascii.crc32(d, s.v)
    def digest(s):
        return s.v.to_bytes(4, 'big')
_mipy_fs._Crc = _mipy_f

def _mipy_f(h):
    return ''.join('%02x' % b for b in h.digest())
_mipy_fs.hexof = _mipy_f

def _mipy_f(p):
    c = _mipy_fs
    h = c.hasher()
    b = bytearray(512)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(memoryview(b)[:n])
    return c.hexof(h)
_mipy_fs.file_hash = _mipy_f

def _mipy_f(paths):
    r = {}
    for p in paths:
        try:
            r[p] = _mipy_fs.file_hash(p)
        except OSError:
            r[p] = None
    print(repr(r))
_mipy_fs.hashes = _mipy_f
del _mipy_f
"""

WINDOW_STREAM = r"""
class _mipy_f(__import__('io').IOBase):
    # The host's windows as a stream (framing in the module docstring): a credit for every window taken
    # out of the UART buffer; a length byte other than the expected one raises.
    def __init__(s, n, t):
        import sys
        s.left = n  # data bytes after the current window
        s.need = 0  # data bytes of the current window still to read
        s.t = t
        s.end = 0  # the host's terminator came
        s.i = sys.stdin.buffer
        s.o = sys.stdout.buffer
        try:
            try:
                import select
            except ImportError:
                import uselect as select
            s.p = select.poll()
            s.p.register(sys.stdin, select.POLLIN)
        except Exception:
            s.p = None  # no poll on stdin here: reads wait as long as it takes
    def wait(s, t):
        return s.p is None or s.p.poll(t)
    def header(s, t):
        if not s.wait(t):
            raise OSError(110)
        h = s.i.read(1)[0]
        if h == 0:
            if not s.wait(t):
                raise OSError(110)
            if s.i.read(1) == b'\xff':
                s.end = 1
                return 0
            h = -1  # a damaged length byte that became 0; one data byte is gone
        n = min(127, s.left)
        s.left -= n
        s.need = n - (1 if h < 0 else 0)
        if h != n:
            raise ValueError('Corrupt')
        return n
    def read(s, m=-1):
        if s.need == 0:
            if s.left <= 0 or s.end or not s.header(s.t):
                return b''
        n = s.need if m < 0 else min(m, s.need)
        d = s.i.read(n)
        s.need -= len(d)
        if s.need == 0:
            s.o.write(b'\x01')
        return d
    def readinto(s, b):
        d = s.read(len(b))
        b[:len(d)] = d
        return len(d)
    def skip(s, n, t):
        while n > 0 and s.wait(t):
            n -= len(s.i.read(1))
        return n == 0
    def drain(s, t):
        # After a STOP: take in what the host sent, up to its terminator, and nothing more.
        if not s.skip(s.need, t):
            return
        s.need = 0
        while not s.end:
            try:
                s.header(t)
            except ValueError:
                pass
            except OSError:
                return
            if not s.end and not s.skip(s.need, t):
                return
            s.need = 0
_mipy_fs._Window = _mipy_f
del _mipy_f
"""

PUT = r"""
def _mipy_f(tmp, n, compressed, t=10000):
    c = _mipy_fs
    c.micropython.kbd_intr(-1)
    w = c._Window(n, t)
    o = w.o
    f = None
    e = None
    r = 0
    try:
        try:
            f = open(tmp, 'wb')
            o.write(b'\x01\x01')
            if compressed:
                src = c._deflate.DeflateIO(w, c._deflate.RAW, 10)
                b = bytearray(512)  # one buffer for the whole file: no garbage per read on a small heap
                v = memoryview(b)
            while True:
                r = 1  # a failure while reading is the wire's (a damaged stream), not the file system's
                if compressed:
                    k = src.readinto(b)
                    d = v[:k] if k else b''
                else:
                    d = w.read()
                r = 0
                if not d:
                    break
                f.write(d)
            r = 1
            while (w.left or w.need) and not w.end:
                w.read()
            r = 0
            f.close()
            f = None
        except Exception as x:
            e = x
            o.write(b'\x15')
            w.drain(2000)  # ms of quiet: the host sends its terminator as soon as it reads STOP
        if f is not None:
            try:
                f.close()
            except Exception:
                pass
        if e is not None or w.end:
            try:
                c.os.remove(tmp)
            except OSError:
                pass
    finally:
        c.micropython.kbd_intr(3)
    if e is not None:
        m = e.args[0] if e.args else ''
        k = type(e).__name__
        if m == 'Corrupt' or (r and m != 110 and not isinstance(e, MemoryError)):
            k = 'Corrupt'
        o.write(('%d %s %s\n' % (m if isinstance(m, int) else -1, k, str(m).replace('\n', ' '))).encode())
    elif w.end:
        o.write(b'\x18\n')
    else:
        o.write(b'\x06' + c.file_hash(tmp).encode() + b'\n')
_mipy_fs.put = _mipy_f

def _mipy_f(tmp, p):
    # LittleFS renames over an existing file; FAT (older ESP8266 images) refuses, so remove it first.
    try:
        _mipy_fs.os.rename(tmp, p)
    except OSError:
        _mipy_fs.os.remove(p)
        _mipy_fs.os.rename(tmp, p)
_mipy_fs.replace = _mipy_f
del _mipy_f
"""

GET = r"""
def _mipy_f(p):
    c = _mipy_fs
    o = c.sys.stdout.buffer
    o.write(b'%d\n' % c.os.stat(p)[6])
    h = c.hasher()
    b = bytearray(512)
    m = memoryview(b)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
            o.write(m[:n])
    o.write(c.hexof(h).encode())
_mipy_fs.get = _mipy_f
del _mipy_f
"""

LIST = r"""
def _mipy_f(p):
    r = []
    for e in _mipy_fs.os.ilistdir(p):
        q = (p.rstrip('/') + '/' + e[0])
        try:
            s = _mipy_fs.os.stat(q)
            r.append((e[0], e[1] == 0x4000, s[6], s[8]))
        except OSError:
            r.append((e[0], e[1] == 0x4000, e[3] if len(e) > 3 else 0, 0))
    print(repr(r))
_mipy_fs.ls = _mipy_f
del _mipy_f
"""

TREE = r"""
def _mipy_f(p, out):
    for e in _mipy_fs.os.ilistdir(p):
        q = p.rstrip('/') + '/' + e[0]
        if e[1] == 0x4000:
            out.append((q, True, 0))
            _mipy_fs.walk(q, out)
        else:
            out.append((q, False, _mipy_fs.os.stat(q)[6]))
    return out
_mipy_fs.walk = _mipy_f

def _mipy_f(p):
    for e in _mipy_fs.os.ilistdir(p):
        q = p.rstrip('/') + '/' + e[0]
        if e[1] == 0x4000:
            _mipy_fs.rmtree(q)
        else:
            _mipy_fs.os.remove(q)
    _mipy_fs.os.rmdir(p)
_mipy_fs.rmtree = _mipy_f

def _mipy_f(p):
    q = ''
    for part in p.strip('/').split('/'):
        q += '/' + part
        try:
            _mipy_fs.os.mkdir(q)
        except OSError as e:
            if e.errno != 17:
                raise
            if not _mipy_fs.os.stat(q)[0] & 0x4000:
                raise
_mipy_fs.makedirs = _mipy_f

def _mipy_f(p, suffix):
    n = 0
    for q, d, s in _mipy_fs.walk(p, []):
        if not d and q.endswith(suffix):
            _mipy_fs.os.remove(q)
            n += 1
    print(n)
_mipy_fs.strays = _mipy_f
del _mipy_f
"""

# Unit name -> (its source, the attribute that shows it is installed, the units it uses). In install order.
UNITS = {
    "hash": (HASH, "hashes", ()),
    "window": (WINDOW_STREAM, "_Window", ()),
    "put": (PUT, "replace", ("hash", "window")),
    "get": (GET, "get", ("hash",)),
    "list": (LIST, "ls", ()),
    "tree": (TREE, "strays", ()),
}


def probe_code() -> str:
    """BASE for this set of units: defines the namespace if missing; prints the hash kind, whether deflate is
    there, the free heap and the installed units' marker attributes."""
    return BASE % "".join(repr(marker) + ", " for _, marker, _ in UNITS.values())


def with_requirements(units) -> list[str]:
    """``units`` and what they use, in install order."""
    wanted = set()
    stack = list(units)
    while stack:
        unit = stack.pop()
        if unit not in wanted:
            wanted.add(unit)
            stack.extend(UNITS[unit][2])
    return [unit for unit in UNITS if unit in wanted]


def minified(source: str) -> str:
    """``source`` with comment lines gone and one space per indentation level: less to send and to lex. Our
    units have no multi-line strings and indent by four, so this changes no meaning."""
    lines = []
    for line in source.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        lines.append(" " * ((len(line) - len(body)) // 4) + body)
    return "\n".join(lines) + "\n"


# Every unit in one piece, for the namespace BASE defined (what a board with room gets, deflated).
HELPERS = "".join(UNITS[unit][0] for unit in UNITS)
