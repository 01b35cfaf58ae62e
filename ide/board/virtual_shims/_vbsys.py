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
    # sys.implementation in the shape the release had: before 1.19 the .mpy version was `mpy` and there was no
    # `_machine` (micropython#8588); the version tuple got its 4th element in 1.22 (#13411), `_build` in 1.23.
    def __init__(self, real, chip):
        release = tuple(chip.get("version", real.version))
        self.name = real.name
        # What this interpreter loads: its own .mpy version and arch, honestly, whatever release it plays.
        mpy = getattr(real, "_mpy", 0)
        if release[:2] < (1, 19):
            self.version = release[:3]
            self.mpy = mpy
        else:
            self.version = release[:3] if release[:2] < (1, 22) else release[:4]
            self._machine = chip.get("machine", real._machine)
            self._mpy = mpy
            if release[:2] >= (1, 23):
                self._build = chip.get("build", getattr(real, "_build", ""))
                self._thread = getattr(real, "_thread", None)

    def __repr__(self):
        return "(name='%s', version=%r)" % (self.name, self.version)


def _uname(chip):
    # os.uname() as the chip's firmware answers it: a 5-field tuple with names (the unix port has none).
    from collections import namedtuple

    release = chip.get("release", "")
    fields = namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))
    return fields(chip.get("platform", "esp32"), chip.get("platform", "esp32"), release,
                  "v%s on %s" % (release, chip.get("date", "")), chip.get("machine", ""))


def _chip():
    try:
        import json
        with open("/__vb_state__/virtual.json") as f:
            return json.load(f).get("chip") or {}
    except (OSError, ValueError):
        return {}


def module(real, replaced, label="sys"):
    # A builtin module's behaviour where a test or a program can see it: attributes read from the real module
    # (copied once: they are objects, so sys.path and sys.modules are the real ones), assignment goes to the real
    # one (so a builtin module stays read-only, AttributeError, and sys.ps1 or sys.tracebacklimit take effect
    # where the firmware has them), `from sys import missing` is an ImportError, sys.__dict__ is a dict.
    class module:
        def __setattr__(self, name, value):
            setattr(real, name, value)
            object.__setattr__(self, name, value)

        def __repr__(self):
            return "<module '%s'>" % label

    instance = module()
    for name in dir(real):
        if name not in ("__class__", "__dict__"):
            object.__setattr__(instance, name, replaced.get(name, getattr(real, name)))
    for name in replaced:
        object.__setattr__(instance, name, replaced[name])
    for name in ("ps1", "ps2", "tracebacklimit"):
        try:
            object.__setattr__(instance, name, getattr(real, name))
        except AttributeError:
            pass
    return instance


def _replaced():
    chip = _chip()
    replaced = {"stdout": TextIOWrapper(_real.stdout), "stderr": TextIOWrapper(_real.stderr)}
    if chip:
        replaced["platform"] = chip.get("platform", _real.platform)
        replaced["implementation"] = _Implementation(_real.implementation, chip)
        release = tuple(chip.get("version", ()))
        # The MicroPython part of sys.version arrived in 1.19 (micropython#8572).
        replaced["version"] = "3.4.0" if release[:2] < (1, 19) else "3.4.0; MicroPython v%s on %s" % (
            chip.get("release", ""), chip.get("date", ""))
    return replaced, chip


def _install_os(chip):
    # os.uname(), which the chip's os has and the unix port's lacks; the rest is the real os.
    import os as real_os

    uname = _uname(chip)
    _real.modules["os"] = module(real_os, {"uname": lambda: uname}, "os")


_replacements, _c = _replaced()
sys_module = module(_real, _replacements)
if _c:
    _install_os(_c)
del module, _replaced, _install_os, _replacements, _c, _chip, _Implementation, _uname, _real, _io, _RAW_MARKER, FileIO, TextIOWrapper
