# mqtt_sensor: publishes a reading and the free heap every interval_s seconds.
import asyncio
import gc
import json
import config
from mipy import app, secret


def read():
    if config.sensor == "adc":
        from machine import ADC, Pin
        return {"value": ADC(Pin(config.adc_pin)).read()}
    import dht
    from machine import Pin
    d = dht.DHT22(Pin(config.dht_pin))
    d.measure()
    return {"temperature": d.temperature(), "humidity": d.humidity()}


async def main():
    # Imported here, after Wi-Fi is up: while the set-up portal runs, their memory is the portal's (an ESP8266
    # has about 30 KB free).
    from mipy import mqtt, sched
    c = mqtt.MQTT(config.device_name, config.mqtt_server, config.mqtt_port, config.mqtt_user,
                  secret.get("mqtt_password"), status_topic=config.topic + "/status")
    asyncio.create_task(c.run())

    def report():
        r = read()
        gc.collect()
        r["free"] = gc.mem_free()
        c.publish(config.topic + "/reading", json.dumps(r))

    sched.every(config.interval_s, report, first=1)
    while True:
        await asyncio.sleep(3600)


app.run(main, config)
