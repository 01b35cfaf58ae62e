# `dht` for the virtual board: DHT11/DHT22 readings from virtual.json {"dht": {"temperature": 21.5,
# "humidity": 45.0}} or, if absent, plausible values drifting slowly (a room at about 22 C, 45 %).
import utime
import _vb


class DHTBase:
    def __init__(self, pin):
        self.pin = pin
        self._t = self._h = None

    def measure(self):
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
