# web_dashboard: a page (www/index.html) polling a JSON API, with a button toggling the LED.
import asyncio
import gc
import time
import config
from mipy import app, http, hw, secret, wifi

led = hw.Led(config.led_pin, config.led_inverted)
# Every POST must carry this device's token, which only the page served from here holds: a page on another site
# cannot switch the LED through the user's browser (cross-site request forgery).
srv = http.Server(config.http_port, token=secret.token("http_token"))
t0 = time.ticks_ms()


@srv.route("/api")
def api(req):
    return {"led": led.value(), "uptime_s": time.ticks_diff(time.ticks_ms(), t0) // 1000,
            "free": gc.mem_free(), "ip": wifi.ip()}


@srv.route("/api/led", "POST")
def toggle(req):
    led.toggle()
    if req.query.get("page"):  # the no-JavaScript form on the page
        return 302, "", {"Location": "/"}
    return {"led": led.value()}


async def main():
    await srv.start()
    while True:
        await asyncio.sleep(3600)


app.run(main, config)
