# `dht` for the virtual board: DHT11/DHT22 readings as the user set them (the Board view or `mipy-studio pins`,
# over the side channel; without one, virtual.json {"dht": {"temperature": 21.5, "humidity": 45.0}}) or, if not
# set, plausible values drifting slowly (a room at about 22 C, 45 %).
import utime
import _vb
import _vbside


class DHTBase:
    def __init__(self, pin):
        self.pin = pin
        self._t = self._h = None

    def measure(self):
        if _vbside.active:
            _vbside.poll()
            c = _vbside.dht and {"temperature": _vbside.dht[0], "humidity": _vbside.dht[1]}
        else:
            c = (_vb.read_config("virtual.json", {}) or {}).get("dht")
        if c:
            t, h = c.get("temperature", 22.0), c.get("humidity", 45.0)
        else:
            import math
            s = utime.ticks_ms() / 60000
            t, h = 22.0 + 1.5 * math.sin(s), 45.0 + 5 * math.cos(s)
        self._t, self._h = t, h

    def _get(self, v):
        if v is None:
            raise OSError(116)  # ETIMEDOUT, what the driver raises when nothing was measured
        return v


class DHT11(DHTBase):
    def temperature(self):
        return int(self._get(self._t))

    def humidity(self):
        return int(self._get(self._h))


class DHT22(DHTBase):
    def temperature(self):
        return round(self._get(self._t) * 10) / 10

    def humidity(self):
        return round(self._get(self._h) * 10) / 10
