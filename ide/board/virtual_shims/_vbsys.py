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

_RAW_MARKER = b"\x00\x1bVBR"  # ide/board/virtual/output.py RAW_MARKER


class FileIO(_io.IOBase):
    # IOBase subclasses are streams: print(file=...) and json.dump() can write through them.
    def __init__(self, inner):
        self._inner = inner

    _marker = _RAW_MARKER

    def write(self, data, *window):
        # A stream's write(buf), write(buf, max_len) or write(buf, offset, max_len), as MicroPython's have.
        view = memoryview(data)
        if len(window) == 1:
            view = view[:window[0]]
        elif len(window) == 2:
            view = view[window[0]:window[0] + window[1]]
        n = len(view)
        at = 0
        while at < n:
            size = min(n - at, 0xFFFF)
            self._inner.write(self._marker + bytes((size >> 8, size & 0xFF)))
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

    def write(self, text, *window):
        return self._inner.write(text, *window)

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


class module:
    # A module's behaviour where a test or a program can see it: attributes read from the real sys (copied once:
    # they are objects, so sys.path and sys.modules are the real ones), assignment goes to the real sys (so a
    # builtin module stays read-only, AttributeError, and sys.ps1 or sys.tracebacklimit take effect where the
    # firmware has them), `from sys import missing` is an ImportError, sys.__dict__ is a dict.
    def __init__(self, real, replaced):
        for name in dir(real):
            if name not in ("__class__", "__dict__"):
                object.__setattr__(self, name, replaced.get(name, getattr(real, name)))
        for name in ("ps1", "ps2", "tracebacklimit"):
            try:
                object.__setattr__(self, name, getattr(real, name))
            except AttributeError:
                pass

    def __setattr__(self, name, value, _real=_real):
        setattr(_real, name, value)
        object.__setattr__(self, name, value)

    def __repr__(self):
        return "<module 'sys'>"


def _replaced():
    chip = _chip()
    replaced = {"stdout": TextIOWrapper(_real.stdout), "stderr": TextIOWrapper(_real.stderr)}
    if chip:
        replaced["platform"] = chip.get("platform", _real.platform)
        replaced["implementation"] = _Implementation(_real.implementation, chip)
        replaced["version"] = "3.4.0; MicroPython v%s on %s" % (chip.get("release", ""), chip.get("date", ""))
    return replaced


sys_module = module(_real, _replaced())
del module, _replaced, _chip, _Implementation, _real, _io, _RAW_MARKER, FileIO, TextIOWrapper
