# `esp32` for the virtual board: temperature sensor, wake sources, NVS (kept in the state folder's nvs.json,
# so values survive resets like the chip's flash) and a minimal read-only Partition table.
import _vb

HEAP_DATA, HEAP_EXEC = 4, 1
WAKEUP_ALL_LOW, WAKEUP_ANY_HIGH = False, True


def raw_temperature():
    """Degrees Fahrenheit, as the ESP32's internal sensor reports (not calibrated)."""
    return int(mcu_temperature() * 9 / 5 + 32)


def mcu_temperature():
    return (_vb.read_config("virtual.json", {}) or {}).get("mcu_temperature", 42)


def hall_sensor():
    return 0


def wake_on_ext0(pin, level):
    pass


def wake_on_ext1(pins, level):
    pass


def wake_on_touch(wake):
    pass


def wake_on_ulp(wake):
    pass


def gpio_deep_sleep_hold(enable):
    pass


def idf_heap_info(capabilities):
    import gc
    f = gc.mem_free()
    return [(f + gc.mem_alloc(), f, f, f)]


class NVS:
    def __init__(self, namespace):
        self._ns = namespace
        self._data = (_vb.read_config("nvs.json", {}) or {}).get(namespace, {})
        self._dirty = {}

    def _get(self, key):
        if key in self._dirty:
            v = self._dirty[key]
        else:
            v = self._data.get(key)
        if v is None:
            raise OSError(-4354)  # ESP_ERR_NVS_NOT_FOUND
        return v

    def set_i32(self, key, value):
        self._dirty[key] = int(value)

    def get_i32(self, key):
        return int(self._get(key))

    def set_blob(self, key, value):
        import binascii
        self._dirty[key] = "b:" + binascii.hexlify(bytes(value)).decode()

    def get_blob(self, key, buf):
        import binascii
        v = binascii.unhexlify(str(self._get(key))[2:])
        buf[: len(v)] = v
        return len(v)

    def erase_key(self, key):
        self._get(key)
        self._dirty[key] = None

    def commit(self):
        allns = _vb.read_config("nvs.json", {}) or {}
        d = allns.get(self._ns, {})
        for k, v in self._dirty.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        allns[self._ns] = d
        self._data, self._dirty = d, {}
        _vb.write_state("nvs.json", allns)


class Partition:
    BOOT, RUNNING = 0, 1
    TYPE_APP, TYPE_DATA = 0, 1
    _TABLE = [(0, 0, 0x10000, 0x1F0000, "factory", False), (1, 129, 0x200000, 0x200000, "vfs", False),
              (1, 2, 0x9000, 0x6000, "nvs", False), (1, 1, 0xF000, 0x1000, "phy_init", False)]

    def __init__(self, id, block_size=4096):
        if id in (0, 1):
            id = "factory"
        for row in self._TABLE:
            if row[4] == id:
                self._row = row
                break
        else:
            raise ValueError("partition not found")
        self._bs = block_size

    @classmethod
    def find(cls, type=TYPE_APP, subtype=0xFF, label=None, block_size=4096):
        return [cls(r[4], block_size) for r in cls._TABLE
                if r[0] == type and subtype in (0xFF, r[1]) and label in (None, r[4])]

    def info(self):
        return self._row

    def get_next_update(self):
        raise OSError(-1)

    @staticmethod
    def mark_app_valid_cancel_rollback():
        pass

    def readblocks(self, block_num, buf, offset=0):
        for i in range(len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, block_num, buf, offset=0):
        pass

    def ioctl(self, cmd, arg):
        if cmd == 4:
            return self._row[3] // self._bs
        if cmd == 5:
            return self._bs
        return 0


class RMT:
    def __init__(self, channel, *, pin=None, clock_div=8, **kw):
        pass

    def write_pulses(self, duration, data=True):
        pass

    def wait_done(self, *, timeout=0):
        return True

    def deinit(self):
        pass
