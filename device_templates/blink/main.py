# blink: the smallest project on the MiPy framework.
import asyncio
import config
from mipy import app, hw

led = hw.Led(config.led_pin, config.led_inverted)


async def main():
    while True:
        led.toggle()
        await asyncio.sleep_ms(config.interval_ms)


app.run(main, config)
