# `esp` for the virtual board: flash and debug functions of the ESP8266/ESP32 `esp` module.
# The flash is a file in the state folder (flash.bin, sparse: unwritten bytes read as 0xFF, as erased flash).
import _vb

_cfg = _vb.read_config("virtual.json", {}) or {}
LOG_NONE, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_VERBOSE = 0, 1, 2, 3, 4, 5
SLEEP_NONE, SLEEP_LIGHT, SLEEP_MODEM = 0, 1, 2
_FLASH = "flash.bin"
_sleep = SLEEP_NONE


def flash_size():
    return _cfg.get("flash_size", 4 * 1024 * 1024)


def flash_id():
    return _cfg.get("flash_id", 0x1640EF)  # a Winbond 4 MB part


def flash_user_start():
    return 0x200000


def _flash(mode):
    try:
        return open(_vb.state_path(_FLASH), mode)
    except OSError:
        open(_vb.state_path(_FLASH), "wb").close()
        return open(_vb.state_path(_FLASH), mode)


def flash_read(offset, buf):
    if isinstance(buf, int):
        buf = bytearray(buf)
    n = len(buf)
    with _flash("rb") as f:
        f.seek(offset)
        data = f.read(n)
    buf[: len(data)] = data
    for i in range(len(data), n):
        buf[i] = 0xFF
    return buf


def flash_write(offset, data):
    with _flash("r+b") as f:
        f.seek(0, 2)
        end = f.tell()
        if end < offset:
            f.write(b"\xff" * (offset - end))
        f.seek(offset)
        f.write(data)


def flash_erase(sector):
    flash_write(sector * 4096, b"\xff" * 4096)


# ESP-IDF's log level. MicroPython's ESP32 builds set CONFIG_LOG_DEFAULT_LEVEL_ERROR (ports/esp32/boards/
# sdkconfig.base), so a chip prints no INFO lines (Wi-Fi events...) until esp.osdebug(0) asks for them.
log_level = LOG_ERROR


def osdebug(uart_or_none, level=LOG_INFO):
    """As ports/esp32/modesp.c: None sets the level back to ERROR, else to `level` (default: the most the
    firmware has, INFO with CONFIG_LOG_MAXIMUM_LEVEL_INFO)."""
    global log_level
    log_level = LOG_ERROR if uart_or_none is None else min(level, LOG_INFO)


def idf_log(letter, level, tag, text):
    # The ESP-IDF log line format: "I (1234) wifi: STA_START" (level letter, ms since boot, tag).
    if level <= log_level:
        import utime
        print("%s (%d) %s: %s" % (letter, utime.ticks_diff(utime.ticks_ms(), _vb.BOOT_MS), tag, text))


def sleep_type(t=None):
    global _sleep
    if t is None:
        return _sleep
    _sleep = t


def deepsleep(us=0, *args):
    """ESP8266 spelling: microseconds."""
    import machine
    machine.deepsleep(us // 1000)


def check_fw():
    return True


def freemem():
    import gc
    return gc.mem_free()


def meminfo():
    import micropython
    micropython.mem_info()


def info():
    meminfo()


def set_native_code_location(start, length):
    pass


def gpio_matrix_in(*a):
    pass


gpio_matrix_out = gpio_matrix_in
