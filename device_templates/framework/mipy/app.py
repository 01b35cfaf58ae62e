# mipy.app: start-up and supervision.
#   app.run(main, config)   main: an async function (the project's code); config: the config module
# Start-up: logging -> provisioning (wifi.json, secrets.json dropped on the board are consumed) -> watchdog ->
# Wi-Fi (stored networks; else the captive portal, imported only then) -> time sync -> main().
# A fatal error (main raising) is logged to the log file and the board resets after a delay (configurable).
# config attributes used (all optional): device_name, log_level, log_file, log_size, wifi (bool),
# wifi_timeout, portal (bool), ap_password, http_port, dns_port, ntp (bool), watchdog_s (0 = off),
# reset_on_error (bool), reset_delay_s.
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


async def _start(main, c):
    global wdt
    ws = cfg(c, "watchdog_s", 0)
    if ws:
        wdt = machine.WDT(timeout=ws * 1000)
        asyncio.create_task(_feeder(ws * 300))
    if cfg(c, "wifi", True):
        from mipy import secret, wifi
        secret.provision()
        wifi.provision()
        reason = await wifi.connect(cfg(c, "wifi_timeout", 15))
        if reason and cfg(c, "portal", True):
            log.warn("wifi: %s; starting the set-up portal", reason)
            from mipy import portal
            await portal.run(cfg(c, "device_name", "mipy") + "-setup", cfg(c, "ap_password"),
                             cfg(c, "http_port", 80), cfg(c, "dns_port", 53), cfg(c, "wifi_timeout", 15))
            del portal
        elif reason:
            log.warn("wifi: %s", reason)
        if wifi.isconnected() and cfg(c, "ntp", True):
            try:
                import ntptime
                ntptime.settime()
            except Exception as e:
                log.warn("ntp: %r", e)
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
