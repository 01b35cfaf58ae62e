"""MicroPython code the file browser installs on the board (once per session, in the REPL's globals).

It relies only on what ESP8266 and ESP32 firmware have: os, sys.stdin/stdout.buffer, micropython.kbd_intr, and
optionally hashlib (sha256), binascii and deflate; each missing module has a fallback the host knows about.

Wire protocol of an upload (host -> board), after the host started ``_mipy.put(tmp, wire_size, compressed)``:
  board: ``\\x01\\x01``  two credits of one 128-byte window each (an ESP32's stdin ring buffer is 260 bytes; while
         the flash stalls for an erase, at most two windows can wait in it without loss)
  host:  window of <= 128 bytes (a length byte, then up to 127 bytes), for each credit it holds; a window of
         length 0 cancels: the board removes the temporary file and prints "cancelled"
  board: ``\\x01`` for every window taken out of the buffer: one more credit
  board, at the end: the hash of the file as it now is on flash, then the REPL's end-of-output marker.
Ctrl-C is disabled (kbd_intr(-1)) during the binary part, so 0x03 in the data is data.

A download (board -> host) is length-framed: ``<size>\\n``, the raw bytes, then the hash of what was sent.
"""

WINDOW = 128           # bytes on the wire per window: a length byte and up to 127 bytes of data
WINDOW_DATA = WINDOW - 1
CREDITS = 2
ACK = b"\x01"
CANCEL = b"\x00"      # a window of length 0

# Hash kinds the board may answer with: sha256 where hashlib has it (ESP32, ESP8266), else crc32 (binascii).
HELPERS = r"""
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

    @classmethod
    def hasher(c):
        if c._hash:
            return c._hash()
        return c._Crc()

    class _Crc:
        def __init__(s):
            s.v = 0
        def update(s, d):
            import binascii
            s.v = binascii.crc32(d, s.v)
        def digest(s):
            return s.v.to_bytes(4, 'big')

    @staticmethod
    def hexof(h):
        return ''.join('%02x' % b for b in h.digest())

    @classmethod
    def file_hash(c, p):
        h = c.hasher()
        b = bytearray(512)
        with open(p, 'rb') as f:
            while True:
                n = f.readinto(b)
                if not n:
                    break
                h.update(memoryview(b)[:n])
        return c.hexof(h)

    class _Window(__import__('io').IOBase):
        # A stream over stdin that hands out credits as it takes windows out of the UART buffer. Each window
        # starts with its length byte; a length of 0 is the host cancelling.
        def __init__(s, n):
            s.left = n
            s.i = __import__('sys').stdin.buffer
            s.o = __import__('sys').stdout.buffer
            s.got = 0
            s.size = 0
            s.aborted = False
        def read(s, m=-1):
            if s.left <= 0:
                return b''
            if s.got == 0:
                s.size = s.i.read(1)[0]
                if s.size == 0:
                    s.aborted = True
                    s.left = 0
                    return b''
            n = s.size - s.got if m < 0 else min(m, s.size - s.got)
            d = s.i.read(n)
            s.left -= len(d)
            s.got += len(d)
            if s.got == s.size:
                s.got = 0
                s.o.write(b'\x01')
            return d
        def readinto(s, b):
            d = s.read(len(b))
            b[:len(d)] = d
            return len(d)

    @classmethod
    def put(c, tmp, n, compressed):
        c.micropython.kbd_intr(-1)
        w = c._Window(n)
        try:
            src = c._deflate.DeflateIO(w, c._deflate.RAW, 10) if compressed else w
            w.o.write(b'\x01\x01')
            with open(tmp, 'wb') as f:
                while True:
                    d = src.read(512) if compressed else w.read()
                    if not d:
                        break
                    f.write(d)
            while w.left > 0:
                w.read()
        except Exception:
            if not w.aborted:
                try:
                    c.os.remove(tmp)
                except OSError:
                    pass
                raise
        finally:
            c.micropython.kbd_intr(3)
        if w.aborted:
            c.os.remove(tmp)
            print('cancelled')
        else:
            print(c.file_hash(tmp))

    @classmethod
    def get(c, p):
        o = c.sys.stdout.buffer
        o.write(b'%d\n' % c.os.stat(p)[6])
        h = c.hasher()
        b = bytearray(512)
        with open(p, 'rb') as f:
            while True:
                n = f.readinto(b)
                if not n:
                    break
                m = memoryview(b)[:n]
                h.update(m)
                o.write(m)
        o.write(c.hexof(h).encode())

    @classmethod
    def ls(c, p):
        r = []
        for e in c.os.ilistdir(p):
            q = (p.rstrip('/') + '/' + e[0])
            try:
                s = c.os.stat(q)
                r.append((e[0], e[1] == 0x4000, s[6], s[8]))
            except OSError:
                r.append((e[0], e[1] == 0x4000, e[3] if len(e) > 3 else 0, 0))
        print(repr(r))

    @classmethod
    def walk(c, p, out):
        for e in c.os.ilistdir(p):
            q = p.rstrip('/') + '/' + e[0]
            if e[1] == 0x4000:
                out.append((q, True, 0))
                c.walk(q, out)
            else:
                out.append((q, False, c.os.stat(q)[6]))
        return out

    @classmethod
    def rmtree(c, p):
        for e in c.os.ilistdir(p):
            q = p.rstrip('/') + '/' + e[0]
            if e[1] == 0x4000:
                c.rmtree(q)
            else:
                c.os.remove(q)
        c.os.rmdir(p)

    @classmethod
    def makedirs(c, p):
        q = ''
        for part in p.strip('/').split('/'):
            q += '/' + part
            try:
                c.os.mkdir(q)
            except OSError as e:
                if e.errno != 17:
                    raise
                if not c.os.stat(q)[0] & 0x4000:
                    raise

    @classmethod
    def replace(c, tmp, p):
        # LittleFS renames over an existing file; FAT (older ESP8266 images) refuses, so remove it first.
        try:
            c.os.rename(tmp, p)
        except OSError:
            c.os.remove(p)
            c.os.rename(tmp, p)

    @classmethod
    def hashes(c, paths):
        r = {}
        for p in paths:
            try:
                r[p] = c.file_hash(p)
            except OSError:
                r[p] = None
        print(repr(r))

    @classmethod
    def strays(c, p, suffix):
        n = 0
        for q, d, s in c.walk(p, []):
            if not d and q.endswith(suffix):
                c.os.remove(q)
                n += 1
        print(n)
print(_mipy_fs.kind, _mipy_fs._deflate is not None)
"""
