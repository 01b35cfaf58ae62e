# mipy.app: start-up and supervision.
#   app.run(main, config)   main: an async function (the project's code); config: the config module
# Start-up: logging -> provisioning (wifi.json, secrets.json dropped on the board are consumed) -> watchdog ->
# Wi-Fi (stored networks; else the captive portal, imported only then and unloaded after; it gives way after
# portal_timeout_s to retry the stored networks, each time waiting twice as long up to wifi_retry_max_s, for as
# long as it takes) -> time sync -> main(). Without the portal, Wi-Fi is retried in the background.
# A fatal error (main raising) is logged to the log file and the board resets after a delay (configurable).
# config attributes used (all optional): device_name, log_level, log_file, log_size, wifi (bool),
# wifi_timeout, portal (bool), portal_timeout_s, wifi_retry_max_s, ap_password (see mipy.wifi.ap_password:
# None derives one from the chip, "" is an open access point), http_port, dns_port, ntp (bool), watchdog_s (0 = off),
# reset_on_error (bool), reset_delay_s, ota (bool: mipy.ota, updates over the air; see ota.py for its ota_*).
import asyncio
import gc
import machine
from mipy import log

wdt = None


def cfg(config, name, default=None):
    return getattr(config, name, default)


async def _feeder(period):
    while True:  # fed only while the event loop runs: a blocked loop resets the board
        wdt.feed()
        await asyncio.sleep_ms(period)


def _unload(name):
    import sys
    import mipy
    sys.modules.pop("mipy." + name, None)
    try:
        delattr(mipy, name)
    except AttributeError:
        pass


async def _wifi(c):
    from mipy import secret, wifi
    for m in (secret, wifi):
        try:
            m.provision()
        except Exception as e:  # a bad drop-in file must not stop the board
            log.exc(e, "provisioning")
    t = cfg(c, "wifi_timeout", 15)
    reason = await wifi.connect(t)
    if reason and cfg(c, "portal", True):
        import sys
        keep_http = "mipy.http" in sys.modules  # the app's own server: stays loaded
        from mipy import portal
        wait = cfg(c, "portal_timeout_s", 300)
        pw = wifi.ap_password(cfg(c, "ap_password"))
        while reason:
            log.warn("wifi: %s; starting the set-up portal", reason)
            # With a stored network, the portal gives way after `wait` s (longer each time) to try it again: after
            # a power cut the router may boot slower than the board.
            if await portal.run(cfg(c, "device_name", "mipy") + "-setup", pw, cfg(c, "http_port", 80),
                                cfg(c, "dns_port", 53), t, wait if wifi.known() else None):
                break
            reason = await wifi.connect(t)
            wait = min(wait * 2, cfg(c, "wifi_retry_max_s", 1800))
        del portal
        _unload("portal")
        if not keep_http:
            _unload("http")
    elif reason:
        log.warn("wifi: %s; retrying in the background", reason)
        asyncio.create_task(_retry(wifi, t))
    if wifi.isconnected() and cfg(c, "ntp", True):
        try:
            import ntptime
            ntptime.settime()
        except Exception as e:
            log.warn("ntp: %r", e)


async def _retry(wifi, t):
    wait = 5
    while not wifi.isconnected():
        await asyncio.sleep(wait)
        wait = min(wait * 2, 300)
        await wifi.connect(t)


async def _start(main, c):
    global wdt
    ws = cfg(c, "watchdog_s", 0)
    if ws:
        wdt = machine.WDT(timeout=ws * 1000)
        asyncio.create_task(_feeder(ws * 300))
    if cfg(c, "wifi", True):
        await _wifi(c)
    if cfg(c, "ota", False):
        from mipy import ota  # updates over the air: listens on <ota_prefix>/<id>/ota, confirms health
        ota.start(c)
    gc.collect()
    log.info("ready, %d bytes free", gc.mem_free())
    await main()


def run(main, config):
    log.setup(cfg(config, "log_level", log.INFO), cfg(config, "log_file", "log.txt"), cfg(config, "log_size", 4096))
    log.info("%s starting (reset cause %d)", cfg(config, "device_name", "mipy"), machine.reset_cause())
    try:
        asyncio.run(_start(main, config))
    except KeyboardInterrupt:
        raise
    except Exception as e:
        log.exc(e, "fatal")
        if not cfg(config, "reset_on_error", True):
            raise
        import time
        d = cfg(config, "reset_delay_s", 10)
        log.info("resetting in %d s", d)
        time.sleep(d)  # a window to interrupt from the REPL before a reset loop
        machine.reset()
