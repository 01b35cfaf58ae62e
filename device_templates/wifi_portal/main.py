# wifi_portal: connect through the captive set-up portal, then show it with a slow blink.
import asyncio
import config
from mipy import app, hw, log, wifi

led = hw.Led(config.led_pin)


async def main():
    log.info("online as %s", wifi.ip())
    while True:
        await led.blink(1, 100)
        await asyncio.sleep(2)


app.run(main, config)
