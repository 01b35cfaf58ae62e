# `neopixel` for the virtual board: write() sends the pixel buffer to the host over the side channel (the Board
# view draws the LEDs), or without one records it into the state file neopixel.json ({"<pin>": [[r, g, b], ...]});
# printed when virtual.json asks for pins.
import _vb
import _vbside


class NeoPixel:
    ORDER = (1, 0, 2, 3)

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)
        self.timing = timing

    def __len__(self):
        return self.n

    def __setitem__(self, i, v):
        o = i * self.bpp
        for k in range(self.bpp):
            self.buf[o + self.ORDER[k]] = v[k]

    def __getitem__(self, i):
        o = i * self.bpp
        return tuple(self.buf[o + self.ORDER[k]] for k in range(self.bpp))

    def fill(self, v):
        for i in range(self.n):
            self[i] = v

    def write(self):
        if _vbside.active:
            _vbside.pixels(getattr(self.pin, "_id", self.pin), self.buf, self.bpp)
            import machine
            if not machine._print_pins:
                return
        pid = str(getattr(self.pin, "_id", self.pin))
        st = _vb.read_config("neopixel.json", {}) or {}
        st[pid] = [list(self[i]) for i in range(self.n)]
        _vb.write_state("neopixel.json", st)
        if (_vb.read_config("virtual.json", {}) or {}).get("print_pins"):
            print("[neopixel %s] %s" % (pid, st[pid]))
