# `sys` as a program on the virtual board sees it (MicroPython code; the start-up script puts this module in
# sys.modules["sys"], which `import sys` consults first).
#
# Why: a chip cooks text output ("\n" leaves as "\r\n", shared/runtime/sys_stdio_mphal.c) but sends
# sys.stdout.buffer bytes as they are; the unix port sends both to fd 1 unchanged. Here sys.stdout.buffer and
# sys.stderr.buffer frame their bytes (RAW_MARKER, 2-byte length, data) so that the host can pass them through
# and cook everything else (ide/board/virtual/output.py). sys.platform, sys.implementation and sys.version say
# what the chip's firmware says (the host writes them to virtual.json).
import sys as _real
import io as _io

for _name in dir(_real):
    if _name not in ("__name__", "__dict__", "__class__"):
        globals()[_name] = getattr(_real, _name)
__name__ = "sys"

_RAW_MARKER = b"\x00\x1bVBR"  # ide/board/virtual/output.py RAW_MARKER


class FileIO(_io.IOBase):
    # IOBase subclasses are streams: print(file=...) and json.dump() can write through them.
    def __init__(self, inner):
        self._inner = inner

    def write(self, data, _marker=_RAW_MARKER):
        n = len(data)
        view = memoryview(data)
        at = 0
        while at < n:
            size = min(n - at, 0xFFFF)
            self._inner.write(_marker + bytes((size >> 8, size & 0xFF)))
            self._inner.write(view[at:at + size])
            at += size
        return n

    def flush(self):
        pass

    def __getattr__(self, name):
        return getattr(self._inner, name)


class TextIOWrapper(_io.IOBase):
    def __init__(self, inner):
        self._inner = inner
        self.buffer = FileIO(inner.buffer)

    def write(self, text):
        return self._inner.write(text)

    def flush(self):
        pass

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _Implementation:
    def __init__(self, real, chip):
        self.name = real.name
        self.version = tuple(chip.get("version", real.version))
        self._machine = chip.get("machine", real._machine)
        self._mpy = getattr(real, "_mpy", 0)  # what this interpreter loads: its own .mpy arch, honestly
        self._build = chip.get("build", getattr(real, "_build", ""))
        self._thread = getattr(real, "_thread", None)

    def __repr__(self):
        return "(name='%s', version=%r, _machine='%s', _mpy=%d, _build='%s')" % (
            self.name, self.version, self._machine, self._mpy, self._build)


def _chip():
    try:
        import json
        with open("/__vb_state__/virtual.json") as f:
            return json.load(f).get("chip") or {}
    except (OSError, ValueError):
        return {}


stdout = TextIOWrapper(_real.stdout)
stderr = TextIOWrapper(_real.stderr)
_c = _chip()
if _c:
    platform = _c.get("platform", platform)
    implementation = _Implementation(_real.implementation, _c)
    version = "3.4.0; MicroPython v%s on %s" % (_c.get("release", ""), _c.get("date", ""))
del _c, _chip, _Implementation, _name, _real, _io, _RAW_MARKER, FileIO, TextIOWrapper
